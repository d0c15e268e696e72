import Foundation
import RetortTensor

/// Models side by side on one dataset: what `compare` shows. For a classifier each example is one
/// prediction; for a sequence model (`[N, T, V]` outputs, `[N, T]` labels) each labelled position
/// is, and positions labelled −1 are left out.
public enum Comparison {
    public struct Report {
        /// Top-1 accuracy against the labels.
        public let accuracy: Double
        /// Mean cross-entropy in nats per prediction (per token for a sequence model).
        public let loss: Double
        public let parameters: Int
        /// Parameters that are not zero: fewer than `parameters` for a pruned model, whose zeros
        /// the file and the time per batch still carry.
        public let nonZero: Int
        /// The size of the file `save` writes.
        public let bytes: Int
        /// Median milliseconds to predict one batch of `latencyBatch` examples.
        public let milliseconds: Double
        /// Share of predictions whose top class is the first model's.
        public let agreement: Double
        /// KL(first ‖ this), averaged over predictions: how far this model's distribution is from the first's.
        public let divergence: Double
    }

    /// Predictions as rows `[P, V]` with their labels `[P]`, labelled rows only.
    static func rows(_ output: Tensor, labels: Tensor) throws -> (logits: Tensor, labels: Tensor) {
        guard Accuracy.applies(output: output.shape, labels: labels.shape) else {
            throw TensorError(
                .shape,
                "compare",
                "outputs \(formatShape(output.shape)) and labels \(formatShape(labels.shape)) are not a classification ([N, C] and [N]) or a sequence ([N, T, V] and [N, T])"
            )
        }
        let classes = output.shape[output.rank - 1]
        let flat = try output.reshaped([labels.count, classes])
        let kept = labels.scalars.indices.filter { labels.scalars[$0] >= 0 }
        if kept.count == labels.count { return (flat, try labels.reshaped([labels.count])) }
        return (flat.rows(kept), Tensor(kept.map { labels.scalars[$0] }))
    }

    public static func reports(_ models: [Layer], on data: Dataset, latencyBatch: Int = 64) throws -> [Report] {
        guard let first = models.first else { return [] }
        let (reference, labels) = try rows(try Evaluation.predict(first, data.x), labels: data.y)
        let referenceLogProbabilities = try GradMode.withoutGradients { try Variable(reference).logSoftmax(axis: 1) }
        let referenceTop = try reference.argmax(axis: 1).scalars
        let truth = labels.scalars
        let sample = data.subset(Array(0..<Swift.min(latencyBatch, data.count))).x
        return try models.map { model in
            let (logits, _) = try rows(try Evaluation.predict(model, data.x), labels: data.y)
            let (loss, divergence) = try GradMode.withoutGradients {
                let logProbabilities = try Variable(logits).logSoftmax(axis: 1)
                let loss = try Loss.crossEntropy(Variable(logits), target: Variable(labels))
                let kl = try Loss.klDiv(logProbabilities, referenceLogProbabilities.exp(), reduction: .batchmean)
                return (Double(loss.value.scalar ?? .nan), Double(kl.value.scalar ?? .nan))
            }
            let top = try logits.argmax(axis: 1).scalars
            let count = Double(Swift.max(truth.count, 1))
            return Report(
                accuracy: Double(zip(top, truth).filter { $0 == $1 }.count) / count, loss: loss,
                parameters: Quantizer.parameterCount(model), nonZero: nonZeroParameters(model),
                bytes: Quantizer.storedBytes(model),
                milliseconds: try medianLatency(model, sample),
                agreement: Double(zip(top, referenceTop).filter { $0 == $1 }.count) / count,
                // KL of a model from itself is 0 up to rounding; never report "-0.0000".
                divergence: Swift.max(0, divergence))
        }
    }

    /// Parameters (an int8 model's weights and biases) that are not zero, each shared one once.
    public static func nonZeroParameters(_ model: Layer) -> Int {
        func count(_ t: Tensor) -> Int { t.withUnsafeBufferPointer { v in v.reduce(0) { $0 + ($1 != 0 ? 1 : 0) } } }
        return model.parameters.reduce(0) { $0 + count($1.value) }
            + model.namedInt8Buffers.filter { $0.name.hasSuffix("weight") }.reduce(0) { $0 + count($1.tensor) }
            + model.namedBuffers.filter { $0.name.hasSuffix("bias") }.reduce(0) { $0 + count($1.tensor) }
    }

    /// The median time of `runs` predictions of `batch` (eval mode, no gradients), after one
    /// warm-up, in milliseconds. The mode is switched once around them, not in each: saving and
    /// restoring every layer's mode walks the model, which a small model's microseconds would count.
    public static func medianLatency(_ model: Layer, _ batch: Tensor, runs: Int = 21) throws -> Double {
        let modes = Modes(of: model)
        model.isTraining = false
        defer { modes.restore() }
        func predict() throws { _ = try GradMode.withoutGradients { try model(Variable(batch)).value } }
        try predict()
        var times: [Double] = []
        for _ in 0..<max(runs, 1) {
            let started = DispatchTime.now().uptimeNanoseconds
            try predict()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6)
        }
        return times.sorted()[times.count / 2]
    }
}
