import Foundation

/// The integer grid of a quantised tensor: `q = clamp(round(x / scale) + zeroPoint, min, max)`.
public struct QuantGrid: Equatable, Sendable {
    public let min: Int
    public let max: Int
    public init(min: Int, max: Int) {
        self.min = min
        self.max = max
    }
    /// Weights: symmetric signed 8-bit on the narrow range −127…127, so that −w quantises to −q.
    public static let weights = QuantGrid(min: -127, max: 127)
    /// Activations: affine unsigned on 7 bits, 0…127, as PyTorch's x86 default (`reduce_range`),
    /// so that the AVX2 int8 kernel's 16-bit pair sums can never saturate.
    public static let activations = QuantGrid(min: 0, max: 127)
}

extension Tensor {
    /// `(clamp(round(x · (1/scale)) + zero, min, max) − zero) · scale` for every entry, with the
    /// entries' channel along `axis` choosing the scale and zero point (one of each per channel;
    /// a single one for the whole tensor when `axis` is nil). Rounding is to nearest, ties to even,
    /// and the reciprocal is taken first, exactly as PyTorch's fake-quantise kernels do. Also
    /// returns the straight-through mask: 1 where the rounded value fell inside the grid.
    public func fakeQuantized(
        scales: [Float], zeroPoints: [Int], axis: Int?, grid: QuantGrid, op: String = "fake_quantize"
    ) throws -> (value: Tensor, mask: Tensor) {
        let channels = axis.map { shape.indices.contains($0) ? shape[$0] : -1 } ?? 1
        guard channels >= 0, scales.count == channels, zeroPoints.count == channels else {
            throw TensorError(
                .shape,
                op,
                "\(scales.count) scales and \(zeroPoints.count) zero points for \(channels < 0 ? "an axis outside" : "\(channels) channels of") \(formatShape(shape))"
            )
        }
        guard scales.allSatisfy({ $0 > 0 && $0.isFinite }) else {
            throw TensorError(.value, op, "every scale must be positive and finite")
        }
        // Blocks of `inner` entries share a channel; channels repeat `outer` times.
        let inner = axis.map { shape[($0 + 1)...].reduce(1, *) } ?? count
        let outer = count / Swift.max(channels * inner, 1)
        let (low, high) = (Float(grid.min), Float(grid.max))
        var mask = Tensor(shape: shape, repeating: 0)
        let value = withUnsafeBufferPointer { x in
            mask.withUnsafeMutableBufferPointer { m in
                Tensor(shape: shape) { out in
                    for o in 0..<outer {
                        for c in 0..<channels {
                            let (zero, scale) = (Float(zeroPoints[c]), scales[c])
                            let inverse = 1 / scale
                            let start = (o * channels + c) * inner
                            for i in start..<(start + inner) {
                                let q = (x[i] * inverse).rounded(.toNearestOrEven) + zero
                                m[i] = q >= low && q <= high ? 1 : 0
                                out[i] = (Swift.min(Swift.max(q, low), high) - zero) * scale
                            }
                        }
                    }
                }
            }
        }
        return (value, mask)
    }
}

extension Variable {
    /// Quantise-then-dequantise in the forward pass; the straight-through estimator in the
    /// backward pass (the gradient passes where the value was inside the grid, zero where it was
    /// clamped), as `torch.fake_quantize_per_tensor_affine` and `..._per_channel_affine`.
    public func fakeQuantized(scales: [Float], zeroPoints: [Int], axis: Int?, grid: QuantGrid) throws -> Variable {
        let (out, mask) = try value.fakeQuantized(scales: scales, zeroPoints: zeroPoints, axis: axis, grid: grid)
        let op = Op(
            "fake_quantize",
            [
                ("scales", .floats(scales)), ("zero_points", .ints(zeroPoints)), ("axis", .int(axis ?? -1)),
                ("min", .int(grid.min)), ("max", .int(grid.max)),
            ])
        return Variable.make(out, [self], op: op) { g in [g.zip3(mask, mask) { gi, mi, _ in gi * mi }] }
    }
}
