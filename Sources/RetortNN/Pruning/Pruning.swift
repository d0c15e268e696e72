import RetortTensor

/// Unstructured pruning: the least important entries of weight matrices and kernels are set to
/// zero and masked, so optimizers keep them at zero through further training (PyTorch's
/// `prune.l1_unstructured` and `global_unstructured`, or with gradients, first-order Taylor
/// importance).
///
/// `amount` is the fraction of entries that end up pruned, counting entries pruned before: pruning
/// a pruned model to a higher amount keeps its masked entries masked and adds the least important
/// of the rest (iterative pruning). A lower amount than a weight already has is refused.
public enum Pruning {
    public enum Scope: String, Sendable, CaseIterable {
        /// Each weight loses `amount` of its own entries.
        case layer
        /// One threshold across every weight: `amount` of all their entries go, wherever they are least important.
        case global
    }

    /// The weights pruning applies to: the weight of every `ChannelPrunable` layer (Linear,
    /// Conv2d) the model holds, function layers' captured ones included, by state-dict name, each
    /// once. Biases, norms and embeddings are left whole.
    public static func prunable(_ model: Layer) -> [(name: String, variable: Variable)] {
        let weights = Set(model.modules(of: ChannelPrunable.self).map { ObjectIdentifier($0.layer.weight) })
        var seen = Set<ObjectIdentifier>()
        return model.namedParameters.filter {
            weights.contains(ObjectIdentifier($0.variable)) && seen.insert(ObjectIdentifier($0.variable)).inserted
        }
    }

    /// One weight's zeros, for `sparsity`: its state-dict name and shape, how many entries are zero,
    /// and whether a mask holds them there.
    public struct WeightZeros {
        public let name: String
        public let shape: [Int]
        public let zeros: Int
        public let masked: Bool
        public var count: Int { shape.reduce(1, *) }
    }

    /// The zeros of every Linear and Conv2d weight the model holds, in whatever form: float
    /// (`prunable`), inside a qat() layer (its float weight, masks kept), or int8 (the stored
    /// int8 values, where a pruned entry stays 0 and a small one may round to 0 as well).
    public static func weightZeros(_ model: Layer) -> [WeightZeros] {
        var rows = prunable(model).map { name, weight in
            WeightZeros(name: name, shape: weight.shape, zeros: zeros(of: weight), masked: weight.mask != nil)
        }
        for (name, layer) in model.modules(of: FakeQuantized.self) {
            let weight = layer.inner.weight
            rows.append(
                WeightZeros(
                    name: name.isEmpty ? "weight" : "\(name).weight", shape: weight.shape, zeros: zeros(of: weight),
                    masked: weight.mask != nil))
        }
        for (name, layer) in model.modules(of: QuantizedLayer.self) {
            let weights = layer.weights
            rows.append(
                WeightZeros(
                    name: name.isEmpty ? "weight" : "\(name).weight", shape: weights.shape,
                    zeros: weights.values.reduce(0) { $0 + ($1 == 0 ? 1 : 0) }, masked: false))
        }
        return rows
    }

    /// Masks entries of `weights` so that `amount` of them (per weight, or over all of them) are
    /// pruned: those with the lowest `importance` (one tensor per weight), ties broken by weight
    /// order then position; entries already masked stay masked and count toward the amount.
    public static func prune(_ weights: [Variable], amount: Double, importance: [Tensor], scope: Scope) throws {
        guard importance.count == weights.count else {
            throw TensorError(.argument, "prune", "\(importance.count) importance tensors for \(weights.count) weights")
        }
        for (w, score) in zip(weights, importance) where score.shape != w.shape {
            throw TensorError(
                .shape,
                "prune", "importance has shape \(formatShape(score.shape)), the weight \(formatShape(w.shape))")
        }
        switch scope {
        case .layer:
            for (w, score) in zip(weights, importance) {
                try check(amount, already: masked(w), of: w.value.count)
                apply(to: [w], entries: rank([w], [score]), count: target(amount, w.value.count))
            }
        case .global:
            let total = weights.reduce(0) { $0 + $1.value.count }
            try check(amount, already: weights.reduce(0) { $0 + masked($1) }, of: total)
            apply(to: weights, entries: rank(weights, importance), count: target(amount, total))
        }
    }

    /// Zeros of a weight, for a sparsity table.
    public static func zeros(of weight: Variable) -> Int {
        weight.value.withUnsafeBufferPointer { values in values.reduce(0) { $0 + ($1 == 0 ? 1 : 0) } }
    }

    /// Entries a weight's mask holds at zero.
    public static func masked(_ weight: Variable) -> Int {
        weight.mask?.withUnsafeBufferPointer { m in m.reduce(0) { $0 + ($1 == 0 ? 1 : 0) } } ?? 0
    }

    private static func target(_ amount: Double, _ count: Int) -> Int {
        Swift.min(count, Int((amount * Double(count)).rounded(.toNearestOrEven)))
    }

    private static func check(_ amount: Double, already: Int, of count: Int) throws {
        guard already <= target(amount, count) else {
            let fraction = Double(already) / Double(Swift.max(count, 1))
            throw TensorError(
                .argument,
                "prune",
                "\(already) of \(count) entries are pruned already (\(String(format: "%.1f%%", 100 * fraction))): amount \(amount) would prune fewer; give an amount of at least \(String(format: "%.3g", fraction))"
            )
        }
    }

    /// Every entry of `weights` as (weight, position), least important first: masked entries
    /// before all others, then by importance, then by weight and position.
    private static func rank(_ weights: [Variable], _ importance: [Tensor]) -> [(weight: Int, index: Int)] {
        var entries: [(score: Float, weight: Int, index: Int)] = []
        for (w, (weight, score)) in zip(weights, importance).enumerated() {
            let mask = weight.mask?.scalars
            for (i, s) in score.scalars.enumerated() {
                entries.append((mask.map { $0[i] == 0 } == true ? -.infinity : s, w, i))
            }
        }
        entries.sort { ($0.score, $0.weight, $0.index) < ($1.score, $1.weight, $1.index) }
        return entries.map { ($0.weight, $0.index) }
    }

    private static func apply(to weights: [Variable], entries: [(weight: Int, index: Int)], count: Int) {
        var masks = weights.map { [Float](repeating: 1, count: $0.value.count) }
        for entry in entries.prefix(count) { masks[entry.weight][entry.index] = 0 }
        for (w, mask) in zip(weights, masks) {
            // The shapes agree by construction.
            w.mask = try? Tensor(shape: w.shape, scalars: mask)
            w.applyMask()
        }
    }
}
