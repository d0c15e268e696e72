import RetortNN
import RetortTensor

/// Train/eval mode, freezing, and gradients a lesson can look at.
extension Builtins {
    static let modeRules = """
        Rules: a new model is in train mode (dropout active, batch norm uses and updates batch statistics), as in PyTorch. \
        fit and distill train the student in train mode and put it back in the mode it had; the teachers of distill are in eval \
        mode and frozen for the call, then restored. predict, accuracy, compare and confusion always run in eval mode without \
        gradients and restore the mode. Calling a model, m(x), uses its current mode. load keeps the mode. An int8 model stays in eval mode: train() refuses it.
        """

    static let freezeRules = """
        A frozen parameter gets no gradient: fit, distill and step leave it as it is, and the loss may still use it. \
        A batch norm whose weight and bias are frozen also keeps its running statistics, normalising with them even in \
        train mode (timm's FrozenBatchNorm2d; PyTorch's requires_grad_(False) leaves them moving). \
        A layer shared by two models is frozen in both. clone keeps what is frozen.
        """

    /// The parameters of a model, or a parameter tensor, for `freeze`/`unfreeze`.
    static func parameterTargets(_ call: BuiltinCall) throws -> [Variable] {
        switch call.value("what") {
        case .model(let m): return m.network.parameters
        case .tensor(let t) where t.isLeaf: return [t]
        case .list(let items):
            return items.flatMap { item -> [Variable] in
                guard case .model(let m) = item else { return [] }
                return m.network.parameters
            }
        default: throw call.fail("what", "a model, a list of models or a parameter tensor (not the result of an operation)")
        }
    }

    /// `train(m)` or `eval(m)`: sets the mode of every layer the model owns and returns the model.
    static func mode(_ name: String, training: Bool, summary: String, example: String) -> Builtin {
        Builtin(name, [.init("model", .model)], category: "model", summary: summary + modeRules, example: example) { call in
            let m = try call.model("model")
            // An int8 model predicts and is never trained; in train mode its batch norms would take
            // each input's statistics and move their running ones (PyTorch's converted modules fold
            // batch norm away).
            if training && Quantizer.isQuantized(m.network) {
                throw call.error(
                    "\(m.name ?? "this model") is an int8 model: it stays in eval mode (it predicts, and is never trained; train the float model or a qat() copy)",
                    at: "model")
            }
            m.network.isTraining = training
            return .model(m)
        }
    }

    /// `freeze(x)` or `unfreeze(x)`: sets whether the parameters of a model, models or a tensor train.
    static func freezing(_ name: String, trained: Bool, summary: String, example: String) -> Builtin {
        Builtin(
            name, [.init("what", .oneOf([.model, .list(.model), .tensorValue]))], category: "model",
            summary: summary + freezeRules, example: example
        ) { call in
            for p in try parameterTargets(call) { p.requiresGrad = trained }
            return call.value("what")
        }
    }

    static let modeBuiltins: [Builtin] = [
        mode(
            "train", training: true,
            summary:
                "Puts a model (every layer it owns, captured ones included) in training mode and returns it; a dataset bound to the name train (let (train, test) = split(...)) hides it there, with an error that says so. ",
            example: "train(student)"),
        mode(
            "eval", training: false,
            summary: "Puts a model in evaluation mode (dropout off, batch norm uses its running statistics) and returns it. ",
            example: "eval(teacher)"),
        freezing(
            "freeze", trained: false,
            summary: "Stops training a model's parameters (or some layers': freeze(m.layers[0])); returns what it froze. ",
            example: "freeze(student.layers[0])"),
        freezing(
            "unfreeze", trained: true, summary: "Trains a frozen model's (or layer's) parameters again; returns it. ",
            example: "unfreeze(student)"),
        Builtin(
            "backward", [.init("loss", .tensor)], category: "training",
            summary:
                "Back-propagates a one-element loss: each tensor it depends on that requires a gradient gets .grad, added to any gradient already there (as PyTorch's loss.backward()). zero_grad clears them.",
            example: "backward(loss); w.grad"
        ) { call in
            let loss = try call.tensor("loss")
            guard loss.value.count == 1 else {
                throw call.error("the loss must be one number, got shape \(formatShape(loss.shape))", at: "loss")
            }
            guard loss.requiresGrad else {
                throw call.error(
                    "the loss depends on nothing that requires a gradient (a parameter, or tensor(..., requires_grad: true))",
                    at: "loss")
            }
            try loss.backward()
            call.interpreter.noteGradients(on: loss.parameterLeaves)
            return .none
        },
        Builtin(
            "grad", [.init("loss", .tensor), .init("wrt", .oneOf([.tensorValue, .list(.tensorValue)]))], category: "training",
            summary:
                "The gradient of a one-element loss with respect to a tensor (or a list of them), as torch.autograd.grad: nothing's .grad is changed.",
            example: "grad(kl_div(log_softmax(s / T), softmax(t / T)), s)"
        ) { call in
            let loss = try call.tensor("loss")
            guard loss.value.count == 1 else {
                throw call.error("the loss must be one number, got shape \(formatShape(loss.shape))", at: "loss")
            }
            let single: Bool
            let targets: [Variable]
            switch call.value("wrt") {
            case .tensor(let t):
                single = true
                targets = [t]
            default:
                single = false
                targets = try call.list("wrt").compactMap { if case .tensor(let t) = $0 { return t } else { return nil } }
            }
            for t in targets where !(t.isLeaf && t.requiresGrad) {
                throw call.error(
                    t.isLeaf
                        ? "wrt does not require a gradient: make it with tensor(x, requires_grad: true) (a parameter always does)"
                        : "wrt must be a parameter or a tensor made with tensor(..., requires_grad: true), not the result of an operation",
                    at: "wrt")
            }
            guard loss.requiresGrad else { throw call.error("the loss does not depend on wrt", at: "loss") }
            // Keep every leaf's gradient as it was: grad() only reads.
            let leaves = loss.parameterLeaves
            // A tensor the loss does not reach got zeros, as if it had no effect: PyTorch's
            // autograd.grad refuses it ("not used in the graph"), and so does this.
            let reached = Set(leaves.map(ObjectIdentifier.init))
            if let unused = targets.firstIndex(where: { !reached.contains(ObjectIdentifier($0)) }) {
                throw call.error(
                    "the loss does not depend on " + (single ? "wrt" : "wrt[\(unused)]")
                        + " (a copy, a detach or a tensor it never reads: its gradient would be no gradient, not zeros)",
                    at: "wrt")
            }
            let saved = leaves.map(\.grad)
            for leaf in leaves { leaf.zeroGrad() }
            defer { for (leaf, g) in zip(leaves, saved) { leaf.grad = g } }
            try loss.backward()
            let grads = targets.map { t in Value.tensor(Variable(t.grad ?? Tensor.zeros(t.shape))) }
            return single ? grads[0] : .list(grads)
        },
        Builtin(
            "zero_grad", [.init("what", .oneOf([.model, .tensorValue]))], category: "training",
            summary: "Clears the gradients of a model's parameters (or of one tensor).", example: "zero_grad(student)"
        ) { call in
            switch call.value("what") {
            case .model(let m): for p in m.network.parameters { p.zeroGrad() }
            case .tensor(let t): t.zeroGrad()
            default: throw call.fail("what")
            }
            return .none
        },
    ]
}
