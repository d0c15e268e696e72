import RetortTensor

/// Unstructured pruning: the least important entries of each weight matrix or kernel are set to
/// zero and masked, so optimizers keep them at zero through further training (PyTorch's
/// `prune.l1_unstructured`, or with gradients, first-order Taylor importance).
public enum Pruning {
    /// The weights pruning applies to: every parameter of rank 2 or more (Linear and Conv2d
    /// weights), by name, each once; biases and normalisation scales are left whole.
    public static func prunable(_ model: Layer) -> [(name: String, variable: Variable)] {
        var seen = Set<ObjectIdentifier>()
        return model.namedParameters.filter {
            $0.variable.shape.count >= 2 && seen.insert(ObjectIdentifier($0.variable)).inserted
        }
    }

    /// Masks the `amount` fraction (rounded) of `weight`'s entries whose `importance` is lowest,
    /// ties broken by position, and sets them to zero.
    public static func prune(_ weight: Variable, amount: Double, importance: Tensor) throws {
        guard importance.shape == weight.shape else {
            throw TensorError(
                "prune", "importance has shape \(formatShape(importance.shape)), the weight \(formatShape(weight.shape))")
        }
        let count = weight.value.count
        let pruned = Swift.min(count, Int((amount * Double(count)).rounded()))
        let scores = importance.scalars
        let order = scores.indices.sorted { scores[$0] < scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
        var mask = [Float](repeating: 1, count: count)
        for index in order.prefix(pruned) { mask[index] = 0 }
        weight.mask = try Tensor(shape: weight.shape, scalars: mask)
        weight.applyMask()
    }

    /// Zeros and entries of each prunable weight, for a sparsity table.
    public static func zeros(of weight: Variable) -> Int {
        weight.value.withUnsafeBufferPointer { values in values.reduce(0) { $0 + ($1 == 0 ? 1 : 0) } }
    }
}
