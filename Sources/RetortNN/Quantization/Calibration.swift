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
        let modes = Modes(of: prepared)
        prepared.isTraining = false
        let observed = prepared.modules(of: FakeQuantized.self)
        for (_, layer) in observed {
            layer.isCalibrating = true
            layer.calls = 0
        }
        defer {
            modes.restore()
            for (_, layer) in observed { layer.isCalibrating = false }
        }
        _ = try GradMode.withoutGradients { try prepared.forward(Variable(x)) }
        try refuseRepeatedCalls(observed)
    }

    /// A layer called more than once in one forward pass (a function layer applying one `linear` twice)
    /// would quantise every call's input on one range: the widest (min-max) or a moving average of
    /// them (qat), too coarse for one call or clipping the other. PyTorch's eager mode shares the
    /// observer the same way, silently; here it is refused, naming the layer.
    static func refuseRepeatedCalls(_ named: [(name: String, layer: FakeQuantized)]) throws {
        for (name, layer) in named where layer.calls > 1 {
            throw Quantizer.repeatedCalls(of: layer.inner, named: name, count: layer.calls)
        }
    }
}
