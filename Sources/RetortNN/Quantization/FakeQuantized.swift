import RetortTensor

/// A Linear or Conv2d prepared for quantisation: it watches the range of its input and, during
/// quantisation-aware training, quantises and dequantises its input and weights in the forward
/// pass so training sees the int8 model's rounding (straight-through gradients).
///
/// Its parameters are the float layer's, under the same names, so optimizers, `freeze` and
/// `save` treat it as the float layer; the input range is saved beside them as `input_min` and
/// `input_max`.
public final class FakeQuantized: Layer {
    public enum Stage: Sendable {
        /// Post-training calibration: inputs are observed, values pass through unchanged.
        case calibrating
        /// Quantisation-aware training: inputs and weights are fake-quantised.
        case quantizationAware
    }

    /// The float layer, a `Linear` or `Conv2d` (any `Quantizable`).
    public let inner: Quantizable
    public let stage: Stage
    public let perChannel: Bool
    /// For calibration: the observer the user chose.
    let observer: ActivationObserver
    /// For quantisation-aware training: the moving average of each batch's input range, as
    /// PyTorch's `MovingAverageMinMaxObserver` (the first batch sets it, then 1% of each batch).
    public private(set) var inputMin = Float.infinity
    public private(set) var inputMax = -Float.infinity
    public static let averagingConstant: Float = 0.01
    /// Set while `Calibration.observe` runs data through: a quantisation-aware layer then widens its
    /// range to each batch's extremes in eval mode.
    public var isCalibrating = false
    /// Forward calls since calibration last reset it: one layer called twice in a pass is refused.
    var calls = 0

    public init(_ inner: Quantizable, stage: Stage, perChannel: Bool, observer: ObserverKind = .minmax) {
        self.inner = inner
        self.stage = stage
        self.perChannel = perChannel
        self.observer = ActivationObserver(observer)
    }

    private init(copying other: FakeQuantized, inner: Quantizable) {
        self.inner = inner
        stage = other.stage
        perChannel = other.perChannel
        observer = other.observer.copy()
        inputMin = other.inputMin
        inputMax = other.inputMax
    }

    public func copy() -> Layer { copy(using: LayerCopier()) }
    public func copy(using copier: LayerCopier) -> Layer {
        // A copy of a Quantizable is one of the same class.
        guard let copied = copier.copy(inner) as? Quantizable else { return self }
        return FakeQuantized(copying: self, inner: copied)
    }

    public var isTraining: Bool {
        get { inner.isTraining }
        set { inner.isTraining = newValue }
    }

    public var description: String {
        (stage == .calibrating ? "Observed(" : "FakeQuant(") + inner.description + ")"
    }

    public var namedParameters: [(name: String, variable: Variable)] { inner.namedParameters }

    public var namedBuffers: [(name: String, tensor: Tensor)] {
        stage == .quantizationAware ? [("input_min", Tensor(inputMin)), ("input_max", Tensor(inputMax))] : []
    }

    public func setBuffer(_ name: String, _ tensor: Tensor) throws {
        guard stage == .quantizationAware, let value = tensor.scalar else {
            throw TensorError(.argument, "load", "\(description) has no buffer named '\(name)'")
        }
        switch name {
        case "input_min": inputMin = value
        case "input_max": inputMax = value
        default: throw TensorError(.argument, "load", "\(description) has no buffer named '\(name)'")
        }
    }

    /// The input's range as observed so far, or nil when no finite input has been seen.
    public var observedRange: (min: Float, max: Float)? {
        switch stage {
        case .calibrating: return observer.range()
        case .quantizationAware: return inputMin <= inputMax ? (inputMin, inputMax) : nil
        }
    }

    public func forward(_ input: Variable) throws -> Variable {
        calls += 1
        switch stage {
        case .calibrating:
            observer.observe(input.value)
            return try inner.forward(input)
        case .quantizationAware:
            // Eval mode leaves the range as training or calibration left it. A model that has done
            // neither has no range: taking one from whatever it is first shown in eval mode (a test
            // set) would leak that data into the int8 model, so it is refused.
            if isTraining || isCalibrating { updateRange(input.value, averaging: !isCalibrating) }
            guard let range = observedRange else {
                throw TensorError(
                    .value, "qat",
                    isTraining
                        ? "\(inner.description) has seen no finite input to set its range from"
                        : "\(inner.description) has no input range yet: a qat model learns its ranges in training (fit or distill) or from qat(model, calibrate: data), not from what it is first shown in eval mode"
                )
            }
            let p = QuantParams.affine(min: range.min, max: range.max, grid: .activations)
            let x = try input.fakeQuantized(scales: [p.scale], zeroPoints: [p.zeroPoint], axis: nil, grid: .activations)
            return try inner.forward(x, weight: try WeightQuantization.fakeQuantized(inner.weight, perChannel: perChannel))
        }
    }

    /// Takes a batch's range: in training the first batch sets it, then a 1% moving average; in
    /// calibration, the extremes over every batch, as `quantize`'s min-max observer (a moving
    /// average there would keep mostly the first batch's range, whatever the order of the data).
    private func updateRange(_ x: Tensor, averaging: Bool) {
        var (low, high) = (Float.infinity, -Float.infinity)
        x.withUnsafeBufferPointer { values in
            for v in values where v.isFinite {
                low = Swift.min(low, v)
                high = Swift.max(high, v)
            }
        }
        guard low <= high else { return }
        if inputMin > inputMax {
            (inputMin, inputMax) = (low, high)
        } else if !averaging {
            (inputMin, inputMax) = (Swift.min(inputMin, low), Swift.max(inputMax, high))
        } else {
            inputMin += Self.averagingConstant * (low - inputMin)
            inputMax += Self.averagingConstant * (high - inputMax)
        }
    }
}
