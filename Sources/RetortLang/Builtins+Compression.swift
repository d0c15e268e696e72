import Foundation
import RetortNN
import RetortTensor

/// Pruning and the tables that measure it.
extension Builtins {
    static let pruningRules = """
        structure: "weights" (unstructured): each weight matrix or kernel (Linear, Conv2d; biases and norms are left \
        whole) loses the `amount` fraction of its entries with the least importance, set to zero and masked, so fit, \
        distill and step keep them at zero; the shapes stay and so does the time per batch. structure: "channels": every \
        Linear and Conv2d but the last loses the `amount` fraction of its output channels (rows, filters; at least one \
        kept), and they are removed: the batch norm after it and the next layer's inputs shrink with them (after a \
        flatten, each filter's block of features), so the matrices, the file and the time per batch are smaller. The \
        model must be a flat sequence of Linear, Conv2d, BatchNorm and layers without parameters. Pruned layers are new \
        parameters: an optimizer's moments for them start again. by: "magnitude" ranks by |w| (per entry, or a \
        channel's L1 norm: PyTorch's l1_unstructured, Li et al. 2017 for filters); by: "sensitivity" by |w · ∂loss/∂w| \
        averaged over the first `batches` batches of `data` (first-order Taylor, cross-entropy loss), summed per channel. \
        The model is pruned in place and returned; a model is pruned once. save writes the zeros or the smaller shapes \
        (load(path, like: a model of the smaller sizes) reads them back); the unstructured mask lives in the session and \
        in clone, not in the file: after load, prune again to keep the zeros through training.
        """

    static let compressionBuiltins: [Builtin] = [
        Builtin(
            "prune",
            [
                .init("model"), .init("amount"), .init("by", .string("magnitude")), .init("structure", .string("weights")),
                .init("data", Value.none), .init("batches", .number(4)),
            ],
            category: "model", summary: "Prunes a model's weights. " + pruningRules,
            example: "prune(student, 0.5); fit(student, train, epochs: 5)"
        ) { call in
            let model = try call.model("model")
            let amount = try call.number("amount")
            guard amount >= 0, amount < 1 else { throw call.fail("amount", "a fraction in [0, 1)") }
            let structure = try call.string("structure")
            guard structure == "weights" || structure == "channels" else {
                throw call.error("structure must be \"weights\" or \"channels\", got \"\(structure)\"", at: "structure")
            }
            if let earlier = model.pruning {
                throw call.error(
                    "\(model.name ?? "the model") is already pruned (by \(earlier)); prune a clone of the unpruned model, or prune once with the amount you want",
                    at: "model")
            }
            let weights = Pruning.prunable(model.network)
            guard !weights.isEmpty else {
                throw call.error("\(model.name ?? "the model") has no weight matrix or kernel to prune", at: "model")
            }
            // A copy (qat, say) carries a pruned model's masks without its flag.
            if let already = weights.first(where: { $0.variable.mask != nil }) {
                throw call.error(
                    "\(model.name ?? "the model") is already pruned (\(already.name) has a mask); prune a clone of the unpruned model, or prune once with the amount you want",
                    at: "model")
            }
            if structure == "channels" { return try pruneChannels(call, model, amount: amount) }
            let importance = try entryImportance(call, model, weights.map(\.variable))
            for (weight, score) in zip(weights, importance) {
                try Pruning.prune(weight.variable, amount: amount, importance: score)
            }
            model.pruning = "weights"
            return .model(model)
        },
        Builtin(
            "sparsity", [.init("model")], category: "model",
            summary: "A table of each weight matrix or kernel: its shape, how many entries are zero, and the fraction.",
            example: "sparsity(student)"
        ) { call in
            let model = try call.model("model")
            var rows: [[String]] = []
            var (zeros, total) = (0, 0)
            for (name, weight) in Pruning.prunable(model.network) {
                let z = Pruning.zeros(of: weight)
                zeros += z
                total += weight.value.count
                rows.append([
                    name, model.shapesBeforePruning[name].map(formatShape) ?? formatShape(weight.shape),
                    formatShape(weight.shape), String(z), String(weight.value.count),
                    String(format: "%.1f%%", 100 * Double(z) / Double(Swift.max(weight.value.count, 1))),
                    weight.mask == nil ? "no" : "yes",
                ])
            }
            rows.append([
                "total", "", "", String(zeros), String(total),
                String(format: "%.1f%%", 100 * Double(zeros) / Double(Swift.max(total, 1))), "",
            ])
            return .table(
                Table(
                    columns: ["weight", "shape before", "shape", "zeros", "entries", "sparsity", "masked"], rows: rows,
                    title: "\(model.name ?? "model"): weight sparsity"))
        },
    ]

    /// Structured pruning: removes channels in place and records the shapes before.
    static func pruneChannels(_ call: BuiltinCall, _ model: Model, amount: Double) throws -> Value {
        let network = model.network
        if Quantizer.isQuantized(network) || network.layers.contains(where: { $0 is FakeQuantized }) {
            throw call.error("\(model.name ?? "the model") is quantised: prune the float model, then quantise it", at: "model")
        }
        let indices: [Int]
        do {
            indices = try StructuredPruning.prunableLayers(network)
        } catch let refusal as StructuredPruning.Refusal {
            throw call.error("cannot prune \(model.name ?? "the model") by channels: \(refusal)", at: "model")
        }
        // Channels go by replacing layers with smaller ones in this model; another model holding the
        // same layers would keep the old ones and silently stop sharing them.
        let mine = Set(network.parameters.map(ObjectIdentifier.init))
        for (name, value) in call.interpreter.userBindings {
            guard case .model(let other) = value, other.network !== network,
                other.network.parameters.contains(where: { mine.contains(ObjectIdentifier($0)) })
            else { continue }
            throw call.error(
                "cannot prune \(model.name ?? "the model") by channels: it shares layers with \(name), which would keep the unpruned ones; prune a clone (its layers are its own)",
                at: "model")
        }
        let weights = indices.compactMap { StructuredPruning.weight(network.layers[$0]) }
        let perWeight = try entryImportance(call, model, weights)
        // A channel's importance is the sum over its weights: the L1 norm of its row or filter by
        // magnitude (Li et al. 2017), its first-order Taylor score by sensitivity.
        var importance: [Int: [Float]] = [:]
        for (index, score) in zip(indices, perWeight) {
            let channels = score.shape[0]
            let inner = score.count / Swift.max(channels, 1)
            let values = score.scalars
            importance[index] = (0..<channels).map { c in values[(c * inner)..<((c + 1) * inner)].reduce(0, +) }
        }
        let before = Dictionary(uniqueKeysWithValues: network.namedParameters.map { ($0.name, $0.variable.shape) })
        do {
            _ = try StructuredPruning.prune(network, amount: amount, importance: importance)
        } catch let refusal as StructuredPruning.Refusal {
            throw call.error("cannot prune \(model.name ?? "the model") by channels: \(refusal)", at: "model")
        }
        for (name, variable) in network.namedParameters where before[name] != variable.shape {
            model.shapesBeforePruning[name] = before[name]
        }
        model.pruning = "channels"
        return .model(model)
    }

    /// Each weight entry's importance, as `by:` asks: |w|, or its first-order Taylor score on `data`.
    static func entryImportance(_ call: BuiltinCall, _ model: Model, _ weights: [Variable]) throws -> [Tensor] {
        switch try call.string("by") {
        case "magnitude":
            return weights.map { $0.value.map(Swift.abs) }
        case "sensitivity":
            guard call.isGiven("data") else {
                throw call.error("by: \"sensitivity\" needs data: to measure gradients on", at: "by")
            }
            return try sensitivity(
                model, weights, data: try call.dataset("data"), batches: try call.int("batches", minimum: 1))
        case let other:
            throw call.error("by must be \"magnitude\" or \"sensitivity\", got \"\(other)\"", at: "by")
        }
    }

    /// First-order Taylor importance, |w · ∂L/∂w| averaged over the first batches of `data`, with the
    /// model in eval mode and its gradients left as they were.
    static func sensitivity(_ model: Model, _ weights: [Variable], data: Dataset, batches: Int) throws -> [Tensor] {
        let wasTraining = model.network.isTraining
        model.network.isTraining = false
        let saved = weights.map(\.grad)
        defer {
            model.network.isTraining = wasTraining
            for (w, g) in zip(weights, saved) { w.grad = g }
        }
        var sums = weights.map { Tensor.zeros($0.shape) }
        let size = 64
        let count = Swift.min(batches, (data.count + size - 1) / size)
        guard count > 0 else { throw TensorError("prune", "the data has no examples to measure sensitivity on") }
        for b in 0..<count {
            let part = data.subset(Array((b * size)..<Swift.min((b + 1) * size, data.count)))
            for w in weights { w.zeroGrad() }
            let loss = try Loss.crossEntropy(try model.network.forward(Variable(part.x)), target: Variable(part.y))
            try loss.backward()
            for (i, w) in weights.enumerated() {
                let g = w.grad ?? Tensor.zeros(w.shape)
                sums[i] = try sums[i] + (try w.value * g).map(Swift.abs)
            }
        }
        return sums.map { $0 * (1 / Float(count)) }
    }
}
