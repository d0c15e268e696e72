import Foundation
import RetortNN

/// What a checkpoint records of a `fit` or `distill` call, so that a resume continues only the
/// run it was saved by.
extension Builtins {
    /// What a checkpoint records of this call, for a resume to match: the data, the optimizer and
    /// its settings (an lr function with the values it reads), the loss and its arguments, the
    /// teachers, the loop's settings, and of the model what its architecture's hash leaves out:
    /// which parameters are frozen, its pruning masks, and the code of its function layers with
    /// the values they read. Each once let a resume continue another run silently (a sweep over
    /// the rate of an lr function, a second stage after unfreeze, a function layer's scale changed).
    static func runRecord(
        _ call: BuiltinCall, model: Model, data: Dataset, optimizer: OptimizerValue, settings: TrainingSettings,
        lossName: String, lossFunction: Value
    ) throws -> [(key: String, value: String)] {
        // The loss by its code and what that reads, not its name alone (`fn` for any function written
        // inline), the default one too: a `kd` of the session's with another T is another run.
        let lossRecord: String
        if case .function = lossFunction {
            lossRecord = LossRecord.describe(lossFunction, prelude: call.interpreter.preludeScope)
        } else {
            lossRecord = lossName
        }
        var record: [(key: String, value: String)] = [
            ("data", Checkpoint.describe(data: data)), ("optimizer", optimizer.settingsText),
            ("loss", lossRecord), ("epochs", String(settings.epochs)), ("batch", String(settings.batchSize)),
            ("shuffle", String(settings.shuffle)), ("clip", settings.clip.map(formatNumber) ?? "none"),
        ]
        // An argument equal to the loss's own default (beta: 0.5 to jsd) is the run it would be without it.
        for extra in call.extraNamed where !isDefault(extra.value, of: extra.label ?? "", in: lossFunction) {
            record.append(
                ("loss argument \(extra.label ?? "")", LossRecord.describe(extra.value, prelude: call.interpreter.preludeScope)))
        }
        if let function = optimizer.learningRateFunction {
            record.append(("lr function", LossRecord.describe(function, prelude: call.interpreter.preludeScope)))
        }
        let network = model.network
        let frozen = network.namedParameters.filter { !$0.variable.requiresGrad }.map(\.name)
        record.append(("frozen", frozen.isEmpty ? "none" : frozen.joined(separator: ", ")))
        let masked = network.namedParameters.compactMap { entry in
            entry.variable.mask.map { "\(entry.name) \(Checkpoint.describe(tensor: $0))" }
        }
        record.append(("pruning masks", masked.isEmpty ? "none" : masked.joined(separator: ", ")))
        for (name, layer) in network.namedModules {
            guard let function = layer as? FunctionLayer else { continue }
            record.append(
                ("function layer \(name)", LossRecord.describe(function.function, prelude: call.interpreter.preludeScope)))
        }
        if call.builtin.name == "distill" {
            let teachers = try call.models("from")
            record.append(
                ("teachers", teachers.map { Checkpoint.describe(modelWithWeights: $0.network) }.joined(separator: " + ")))
            // As the proportions they are: [2, 2] is the run [1, 1] is, and equal ones the run without them.
            if call.isGiven("weights"), let proportions = proportionsText(try call.numbers("weights")) {
                record.append(("weights", proportions))
            }
            // Which batches are the student's own samples: another rate trains on other batches.
            // Recorded when not 0 (its default), so a checkpoint saved before it was recorded resumes.
            if let rate = try? call.number("on_policy"), rate != 0 { record.append(("on_policy", formatNumber(rate))) }
        }
        if call.isGiven("validation") { record.append(("validation", Checkpoint.describe(data: try call.dataset("validation")))) }
        return record
    }

    /// Whether `value` is what `loss` takes for its parameter `label` when it is left out: a default
    /// written as a literal (`beta = 0.5`, `y = none`, `T = -1`); a default computed from other
    /// parameters is never taken as equal.
    static func isDefault(_ value: Value, of label: String, in loss: Value) -> Bool {
        let fallback = defaults(of: loss).first { $0.name == label }?.value
        switch (value, fallback) {
        case (.number(let a), .number(let b)?): return a == b
        case (.bool(let a), .bool(let b)?): return a == b
        case (.string(let a), .string(let b)?): return a == b
        case (.none, .none?): return true
        default: return false
        }
    }

    /// The loss's parameters whose defaults are written as literals, with those values.
    static func defaults(of loss: Value) -> [(name: String, value: Value)] {
        func literal(_ expr: Expr) -> Value? {
            switch expr {
            case .number(let n, _): return .number(n)
            case .bool(let b, _): return .bool(b)
            case .string(let text, _): return .string(text)
            case .none: return Value.none
            case .unary(.negate, .number(let n, _), _): return .number(-n)
            default: return nil
            }
        }
        switch loss {
        case .function(.closure(let c)):
            return c.declaration.parameters.compactMap { p in p.defaultValue.flatMap(literal).map { (p.name, $0) } }
        case .function(.builtin(let b)):
            return b.parameters.compactMap { p in p.defaultValue.map { (p.name, $0) } }
        default: return []
        }
    }

    /// Weights as the proportions `distill` uses, each to every digit (`[0.25, 0.75]`); nil when
    /// they are all equal, as no weights are.
    static func proportionsText(_ weights: [Double]) -> String? {
        let total = weights.reduce(0, +)
        guard Set(weights).count > 1, total > 0 else { return nil }
        return "[" + weights.map { "\($0 / total)" }.joined(separator: ", ") + "]"
    }

    /// How the checkpoint names what a record leaves out (`weights` left out are equal ones, a
    /// loss argument left out is the loss's default), and how it reads what an earlier Retort
    /// recorded that this one leaves out or writes otherwise: a loss argument equal to its default,
    /// teachers' weights as written (`tensor([1, 3])  [2]`). A file saved by the same run then
    /// resumes.
    static func describeLeftOut(
        _ checkpoint: inout Checkpoint, lossFunction: Value, lossName: String, prelude: Environment
    ) {
        checkpoint.meaningWhenLeftOut = ["weights": "equal", "on_policy": "0"]
        for (name, value) in defaults(of: lossFunction) {
            checkpoint.meaningWhenLeftOut["loss argument \(name)"] = "\(lossName)'s default \(value.displayText)"
            let written = LossRecord.describe(value, prelude: prelude)
            checkpoint.savedAsNow["loss argument \(name)"] = { $0 == written ? nil : $0 }
        }
        checkpoint.savedAsNow["weights"] = { saved in
            guard let open = saved.firstIndex(of: "["), let close = saved[open...].firstIndex(of: "]") else { return saved }
            let numbers = saved[saved.index(after: open)..<close].split(separator: ",").map {
                Double($0.trimmingCharacters(in: .whitespaces))
            }
            guard !numbers.isEmpty, numbers.allSatisfy({ $0 != nil }) else { return saved }
            return proportionsText(numbers.compactMap { $0 })
        }
    }
}
