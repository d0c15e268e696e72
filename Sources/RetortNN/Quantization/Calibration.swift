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
        try refuseNonFinite(data)
        let available = (data.count + batchSize - 1) / batchSize
        let count = Swift.min(available, batches ?? available)
        for b in 0..<count {
            if shouldStop() { throw Cancellation.Stopped(op: "calibration batch \(b + 1) of \(count)") }
            try observe(prepared, on: data.subset(Array((b * batchSize)..<Swift.min((b + 1) * batchSize, data.count))).x)
        }
    }

    /// Refuses calibration data holding NaN or an infinity: PyTorch's observers take a NaN or
    /// infinite range from one; left out, a corrupt calibration set would pass unnoticed.
    static func refuseNonFinite(_ data: Dataset) throws {
        let width = Swift.max(1, data.x.count / Swift.max(1, data.count))
        // One pass: how many, and the first (its place and value).
        let (count, first, value) = data.x.withUnsafeBufferPointer { values in
            var found: (count: Int, first: Int, value: Float) = (0, 0, 0)
            for (i, v) in values.enumerated() where !v.isFinite {
                if found.count == 0 { (found.first, found.value) = (i, v) }
                found.count += 1
            }
            return found
        }
        guard count > 0 else { return }
        throw TensorError(
            .value, "calibrate",
            "the calibration data \(data.name) holds \(count) value\(count == 1 ? "" : "s") that \(count == 1 ? "is" : "are") NaN or infinite (the first, \(value), in example \(first / width + 1)); a range cannot be taken from \(count == 1 ? "it" : "them"): drop or fill \(count == 1 ? "it" : "them") first"
        )
    }

    /// One batch of inputs through the prepared model in eval mode. Quantisation-aware layers,
    /// which keep their ranges in eval mode, widen theirs to this batch's extremes.
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
