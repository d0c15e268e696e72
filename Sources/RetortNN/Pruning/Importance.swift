import RetortTensor

/// How much each weight entry matters, for choosing what pruning removes.
public enum Importance {
    /// |w| per entry (PyTorch's `l1_unstructured`; summed over a row or filter, Li et al. 2017).
    public static func magnitude(_ weights: [Variable]) -> [Tensor] { weights.map { $0.value.map(Swift.abs) } }

    /// First-order Taylor importance, |w · ∂L/∂w| averaged over the first `batches` batches of 64
    /// examples of `data` with the cross-entropy loss, the model in eval mode and every weight's
    /// gradient left as it was.
    public static func sensitivity(_ model: Layer, _ weights: [Variable], data: Dataset, batches: Int) throws -> [Tensor] {
        let modes = Modes(of: model)
        model.isTraining = false
        let saved = weights.map(\.grad)
        defer {
            modes.restore()
            for (w, g) in zip(weights, saved) { w.grad = g }
        }
        var sums = weights.map { Tensor.zeros($0.shape) }
        let size = 64
        let count = Swift.min(batches, (data.count + size - 1) / size)
        guard count > 0 else { throw TensorError(.value, "prune", "the data has no examples to measure sensitivity on") }
        for b in 0..<count {
            let part = data.subset(Array((b * size)..<Swift.min((b + 1) * size, data.count)))
            for w in weights { w.zeroGrad() }
            let loss = try Loss.crossEntropy(try model.forward(Variable(part.x)), target: Variable(part.y))
            try loss.backward()
            for (i, w) in weights.enumerated() {
                let g = w.grad ?? Tensor.zeros(w.shape)
                sums[i] = try sums[i] + (try w.value * g).map(Swift.abs)
            }
        }
        return sums.map { $0 * (1 / Float(count)) }
    }
}
