import RetortTensor

/// A layer int8 quantisation reaches: its weight becomes int8 (symmetric, per output channel or
/// per tensor) and its input is quantised onto 7 bits. Linear and Conv2d are quantizable; any layer
/// that conforms is found by the walk, wherever it sits (inside a function layer too).
public protocol Quantizable: Layer {
    var weight: Variable { get }
    var bias: Variable? { get }
    /// The forward pass of this layer with another weight: `weight` fake-quantised during
    /// quantisation-aware training, the input already fake-quantised.
    func forward(_ input: Variable, weight: Variable) throws -> Variable
    /// The int8 layer holding `weights`.
    func int8Layer(_ weights: Int8Weights) -> QuantizedLayer
}

extension Quantizable {
    /// The int8 layer for the current weights, its input quantised for `inputRange`.
    public func quantized(perChannel: Bool, inputRange: (min: Float, max: Float)) throws -> QuantizedLayer {
        int8Layer(
            try Int8Weights(weight: weight.value, bias: bias?.value, perChannel: perChannel, inputRange: inputRange))
    }
}

extension Linear: Quantizable {
    public func forward(_ input: Variable, weight: Variable) throws -> Variable {
        try Variable.linear(input, weight: weight, bias: bias)
    }
    public func int8Layer(_ weights: Int8Weights) -> QuantizedLayer { QuantizedLinear(weights) }
}

extension Conv2d: Quantizable {
    public func forward(_ input: Variable, weight: Variable) throws -> Variable {
        try Variable.conv2d(input, weight: weight, bias: bias, stride: stride, padding: padding)
    }
    public func int8Layer(_ weights: Int8Weights) -> QuantizedLayer {
        QuantizedConv2d(weights, stride: stride, padding: padding)
    }
}
