import RetortExport
import RetortTensor

// loss.py as a whole: the helpers used, the translated functions, the schedules, and `loss`,
// the one function train.py calls per batch.

extension TorchTranslation {
    /// What a training call passes to its loss.
    struct LossCall {
        /// The loss function (a closure or builtin), or none for fit's default cross-entropy.
        var loss: Value
        var lossRange: SourceRange
        var isDistillation: Bool
        /// Named arguments beyond the call's own: numbers, or functions of the progress p.
        var extra: [CallArgument]
        /// Whether the loss takes the batch's input as `x`.
        var takesInput: Bool
        /// The optimizer's `lr` when it is a function of p.
        var learningRate: (value: Value, range: SourceRange)?
        /// The call as written, for the docstring.
        var text: String
    }

    func module(_ call: LossCall) throws -> String {
        let positional = call.isDistillation ? ["output", "teacher", "labels"] : ["output", "labels"]
        var schedules: [String] = []
        var named: [String] = []
        if call.takesInput { named.append("x=x") }
        for argument in call.extra {
            let label = argument.label ?? ""
            if case .function = argument.value {
                schedules.append(label)
                named.append("\(Python.identifier(label))=\(try scheduled(argument.value, label: label, at: argument.range))")
            } else {
                named.append("\(Python.identifier(label))=\(try literal(argument.value, name: label, at: argument.range))")
            }
        }
        let body: String
        switch call.loss {
        case .none:
            helpers.insert("rt_cross_entropy")
            body = "rt_cross_entropy(output, labels)"
        case .function(.closure(let c)):
            let name = try function(c, named: "loss_function", referencedAt: call.lossRange)
            body = "\(name)(\((positional + named).joined(separator: ", ")))"
        case .function(.builtin(let b)):
            body = try builtinCall(b, positional + named, at: call.lossRange)
        default:
            throw refuse("the loss must be a function, got \(describeShort(call.loss))", at: call.lossRange)
        }
        var rate: String?
        if let lr = call.learningRate {
            rate = try scheduled(lr.value, label: "lr", at: lr.range)
        }

        var parts = [header(call)]
        let helperText = self.helperText()
        if !helperText.isEmpty { parts.append("# Retort's builtins that torch does not have as they are.\n\n" + helperText) }
        if !definitions.isEmpty {
            parts.append(
                "# The loss and the functions it calls, translated from their Retort source.\n\n"
                    + definitions.joined(separator: "\n\n\n"))
        }
        let sig = (positional + ["p", "x=None"]).joined(separator: ", ")
        var loss = [
            "def loss(\(sig)):",
            "    \"\"\"The batch's loss, as \(call.isDistillation ? "distill" : "fit") computes it at training progress p (0 at the first batch, 1 at the last)"
                + (schedules.isEmpty
                    ? ""
                    : "; \(schedules.joined(separator: ", ")) \(schedules.count == 1 ? "is a schedule" : "are schedules") of p")
                + ".\"\"\"",
            "    return \(body)",
        ]
        if let rate {
            loss += [
                "", "", "def learning_rate(p):",
                "    \"\"\"The optimizer's base rate at training progress p (its lr: is a function of p).\"\"\"",
                "    return \(rate)",
            ]
        }
        parts.append(loss.joined(separator: "\n"))
        return parts.joined(separator: "\n\n\n") + "\n"
    }

    /// A function of the progress p called at p: a translated closure, or a builtin of one argument.
    private func scheduled(_ value: Value, label: String, at range: SourceRange) throws -> String {
        switch value {
        case .function(.closure(let c)):
            return "\(try function(c, named: "\(label)_schedule", referencedAt: range))(p)"
        case .function(.builtin(let b)):
            return try builtinCall(b, ["p"], at: range)
        default:
            return try literal(value, name: label, at: range)
        }
    }

    /// A builtin called with Python arguments already written (`name=value` for named ones).
    private func builtinCall(_ b: Builtin, _ arguments: [String], at range: SourceRange) throws -> String {
        guard let rule = Self.rules[b.name] else {
            let reason = Self.refusals[b.name] ?? "there is no PyTorch translation for it in a loss"
            throw refuse("`\(b.name)` cannot be exported to PyTorch: \(reason)", at: range)
        }
        var bound = Arguments(builtin: b, translation: self, range: range)
        var positional = 0
        for argument in arguments {
            if let equals = argument.firstIndex(of: "="),
                argument[..<equals].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" })
            {
                bound.texts[String(argument[..<equals])] = String(argument[argument.index(after: equals)...])
            } else if positional < b.parameters.count {
                bound.texts[b.parameters[positional].name] = argument
                positional += 1
            }
        }
        return try rule(bound)
    }

    private func header(_ call: LossCall) -> String {
        """
        \"\"\"The loss of a Retort \(call.isDistillation ? "distillation" : "training run"), translated from its Retort source by export_torch.

        Translated from the syntax of the loss and the functions it calls, not from a trace: control
        flow, default arguments and the schedules of the training progress p are as written. `rt_`
        functions are Retort builtins that torch has no exact twin for; each translated function names
        the Retort source it came from. train.py calls loss(...) once per batch.

            \(call.text)
        \"\"\"
        import math

        import torch
        import torch.nn.functional as F

        DEVICE = torch.device("cpu")  # train.py sets the device the data is on
        TERMS = []  # the parts of this batch's loss named with term(name, x); train.py reads and clears it
        """
    }
}
