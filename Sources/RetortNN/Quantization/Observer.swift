import RetortTensor

/// How an activation's range is chosen from the values seen during calibration.
public enum ObserverKind: String, CaseIterable, Sendable {
    /// The smallest and largest value seen: exact coverage, but one outlier widens every step.
    case minmax
    /// The 0.01st and 99.99th percentiles: rare outliers are clipped to keep resolution.
    case percentile
    /// The clipping range whose quantisation error (mean squared, over the values seen) is least.
    /// Every value's squared error counts, so a few huge outliers still dominate it: for rare
    /// spikes, `percentile` is the observer that clips them.
    case mse
}

/// A scale and zero point for one tensor or channel.
public struct QuantParams: Equatable, Sendable {
    public let scale: Float
    public let zeroPoint: Int

    /// PyTorch's `_calculate_qparams` for an affine grid: the range is widened to include 0 so
    /// that 0 is exact, `scale = (max − min) / (qmax − qmin)` (at least float32's epsilon) and
    /// `zero = qmin − round(min / scale)`, clamped to the grid.
    public static func affine(min lower: Float, max upper: Float, grid: QuantGrid) -> QuantParams {
        let (low, high) = (Swift.min(lower, 0), Swift.max(upper, 0))
        let scale = Swift.max((high - low) / Float(grid.max - grid.min), Float.ulpOfOne)
        let zero = grid.min - Int((low / scale).rounded(.toNearestOrEven))
        return QuantParams(scale: scale, zeroPoint: Swift.min(Swift.max(zero, grid.min), grid.max))
    }

    /// Symmetric: `scale = max|x| / ((qmax − qmin) / 2)`, zero point 0.
    public static func symmetric(maxMagnitude: Float, grid: QuantGrid) -> QuantParams {
        QuantParams(scale: Swift.max(maxMagnitude / (Float(grid.max - grid.min) / 2), Float.ulpOfOne), zeroPoint: 0)
    }
}

/// Records the values an activation takes over calibration batches and chooses its range.
///
/// Min–max keeps only the extremes. The percentile and MSE observers keep a bounded sample
/// (every value until 2^20, then every second, fourth, … value, always the same ones for the
/// same data), so memory stays bounded however long the calibration runs.
public final class ActivationObserver {
    public let kind: ObserverKind
    public private(set) var minimum = Float.infinity
    public private(set) var maximum = -Float.infinity
    public private(set) var seen = 0
    private var sample: [Float] = []
    private var stride = 1
    private static let capacity = 1 << 20

    public init(_ kind: ObserverKind) { self.kind = kind }

    public func copy() -> ActivationObserver {
        let c = ActivationObserver(kind)
        c.minimum = minimum
        c.maximum = maximum
        c.seen = seen
        c.sample = sample
        c.stride = stride
        return c
    }

    public func observe(_ x: Tensor) {
        x.withUnsafeBufferPointer { values in
            for (i, v) in values.enumerated() where v.isFinite {
                minimum = Swift.min(minimum, v)
                maximum = Swift.max(maximum, v)
                if kind != .minmax, (seen + i) % stride == 0 { sample.append(v) }
            }
            seen += values.count
        }
        while sample.count > Self.capacity {
            sample = stride2(sample)
            stride *= 2
        }
    }

    private func stride2(_ values: [Float]) -> [Float] { Swift.stride(from: 0, to: values.count, by: 2).map { values[$0] } }

    /// The range to quantise with, or nil when nothing finite was observed.
    public func range() -> (min: Float, max: Float)? {
        guard minimum <= maximum else { return nil }
        switch kind {
        case .minmax:
            return (minimum, maximum)
        case .percentile:
            let sorted = sample.sorted()
            let at = { (p: Double) in sorted[Swift.min(sorted.count - 1, Int((p * Double(sorted.count - 1)).rounded()))] }
            return (at(0.0001), at(0.9999))
        case .mse:
            return bestClipping()
        }
    }

    /// Tries 100 shrinkings of the min–max range and keeps the one whose quantise–dequantise error
    /// over (at most 65,536 of) the sampled values is smallest.
    private func bestClipping() -> (min: Float, max: Float) {
        let step = Swift.max(1, sample.count / 65_536)
        let values = Swift.stride(from: 0, to: sample.count, by: step).map { sample[$0] }
        var best = (min: minimum, max: maximum)
        var bestError = Double.infinity
        for i in 1...100 {
            let fraction = Float(i) / 100
            let (low, high) = (minimum * fraction, maximum * fraction)
            let p = QuantParams.affine(min: low, max: high, grid: .activations)
            let (lo, hi) = (Float(QuantGrid.activations.min), Float(QuantGrid.activations.max))
            var error = 0.0
            for v in values {
                let q = Swift.min(Swift.max((v * (1 / p.scale)).rounded(.toNearestOrEven) + Float(p.zeroPoint), lo), hi)
                let d = Double((q - Float(p.zeroPoint)) * p.scale - v)
                error += d * d
            }
            if error < bestError {
                bestError = error
                best = (low, high)
            }
        }
        return best
    }
}
