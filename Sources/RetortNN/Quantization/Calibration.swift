import RetortTensor

/// Post-training calibration: a prepared model (`Quantizer.prepare(..., stage: .calibrating)`)
/// sees data in eval mode, without gradients, so its observers learn each layer's input range.
public enum Calibration {
    /// Runs `data` through `prepared` in batches of `batchSize`, the first `batches` of them (nil:
    /// all); `shouldStop` is polled between batches and stops with `Cancellation.Stopped`.
    public static func observe(
        _ prepared: Layer, on data: Dataset, batchSize: Int = 256, batches: Int? = nil, shouldStop: () -> Bool = { false }
    ) throws {
        guard data.count > 0 else { throw TensorError(.value, "calibrate", "the calibration data \(data.name) has no examples") }
        let available = (data.count + batchSize - 1) / batchSize
        let count = Swift.min(available, batches ?? available)
        for b in 0..<count {
            if shouldStop() { throw Cancellation.Stopped(op: "calibration batch \(b + 1) of \(count)") }
            try observe(prepared, on: data.subset(Array((b * batchSize)..<Swift.min((b + 1) * batchSize, data.count))).x)
        }
    }

    /// One batch of inputs through the prepared model in eval mode. Quantisation-aware layers,
    /// which keep their ranges in eval mode, take this batch's range too (a moving average after
    /// the first), as a training batch would set it.
    public static func observe(_ prepared: Layer, on x: Tensor) throws {
        let wasTraining = prepared.isTraining
        prepared.isTraining = false
        let aware = prepared.modules(of: FakeQuantized.self).map(\.layer)
        for layer in aware { layer.isCalibrating = true }
        defer {
            prepared.isTraining = wasTraining
            for layer in aware { layer.isCalibrating = false }
        }
        _ = try GradMode.withoutGradients { try prepared.forward(Variable(x)) }
    }
}
