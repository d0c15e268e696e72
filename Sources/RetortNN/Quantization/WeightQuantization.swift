import RetortTensor

/// Symmetric int8 weights: one scale per output channel (the first axis) or one for the tensor.
public enum WeightQuantization {
    /// The scales: the largest |w| of each output channel (or of the tensor) over 127.
    public static func scales(_ weight: Tensor, perChannel: Bool) -> [Float] {
        let channels = perChannel ? weight.shape[0] : 1
        let inner = weight.count / Swift.max(channels, 1)
        return weight.withUnsafeBufferPointer { w in
            (0..<channels).map { c in
                var largest: Float = 0
                for i in (c * inner)..<((c + 1) * inner) { largest = Swift.max(largest, Swift.abs(w[i])) }
                return QuantParams.symmetric(maxMagnitude: largest, grid: .weights).scale
            }
        }
    }

    /// The int8 values `clamp(round(w · (1/scale)), −127, 127)`, as the fake-quantised forward pass rounds them.
    public static func quantize(_ weight: Tensor, scales: [Float]) -> [Int8] {
        let inner = weight.count / Swift.max(scales.count, 1)
        return weight.withUnsafeBufferPointer { w in
            (0..<weight.count).map { i in
                let q = (w[i] * (1 / scales[i / Swift.max(inner, 1)])).rounded(.toNearestOrEven)
                return Int8(Swift.min(Swift.max(q, Float(QuantGrid.weights.min)), Float(QuantGrid.weights.max)))
            }
        }
    }

    /// Fake-quantises a weight variable (straight-through gradient), for quantisation-aware training.
    public static func fakeQuantized(_ weight: Variable, perChannel: Bool) throws -> Variable {
        let scales = scales(weight.value, perChannel: perChannel)
        return try weight.fakeQuantized(
            scales: scales, zeroPoints: [Int](repeating: 0, count: scales.count), axis: perChannel ? 0 : nil,
            grid: .weights)
    }
}
