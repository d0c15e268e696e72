import RetortTensor

/// Layers applied in order; parameter names follow PyTorch's `nn.Sequential` (`0.weight`, `2.bias`).
public final class Sequential: Layer {
    public private(set) var layers: [Layer]
    /// The shape of the last input the model was called on, so tools that trace it (`graph`,
    /// channel pruning) can without being told (as Keras keeps a model's built input shape).
    public internal(set) var lastInputShape: [Int]?

    public init(_ layers: [Layer]) { self.layers = layers }

    /// Replaces the layers (structured pruning swaps in smaller ones); the model keeps its identity.
    public func replaceLayers(_ layers: [Layer]) { self.layers = layers }

    /// A multi-layer perceptron: Linear layers of the given sizes with a copy of `activation`
    /// (and dropout, if `dropout` > 0) between them.
    public static func perceptron(
        _ sizes: [Int], activation: [Layer] = [Activation(.relu)], dropout: Float = 0, generator g: inout RandomGenerator
    ) -> Sequential {
        var layers: [Layer] = []
        for i in 0..<Swift.max(sizes.count - 1, 0) {
            layers.append(Linear(sizes[i], sizes[i + 1], generator: &g))
            if i < sizes.count - 2 {
                layers += activation.map { $0.copy() }
                if dropout > 0 { layers.append(Dropout(dropout, generator: &g)) }
            }
        }
        return Sequential(layers)
    }
    public func copy() -> Layer { copied() }
    public func copy(using copier: LayerCopier) -> Layer { copied(using: copier) }
    public func copied(using copier: LayerCopier) -> Sequential {
        let made = Sequential(layers.map { copier.copy($0) })
        made.lastInputShape = lastInputShape
        return made
    }
    /// An independent copy with equal parameters and state; layers shared inside stay shared.
    public func copied() -> Sequential { copied(using: LayerCopier()) }

    public var isTraining: Bool {
        get { layers.first?.isTraining ?? true }
        set { for layer in layers { layer.isTraining = newValue } }
    }

    public var children: [(name: String, layer: Layer)] { layers.enumerated().map { (String($0), $1) } }

    public func replaceChild(_ name: String, with layer: Layer) throws {
        guard let index = Int(name), layers.indices.contains(index) else {
            throw TensorError(.argument, "replace", "a Sequential of \(layers.count) layers has no layer '\(name)'")
        }
        layers[index] = layer
    }

    public var description: String {
        "Sequential(\n" + layers.enumerated().map { "  (\($0)): \($1.description)" }.joined(separator: "\n") + "\n)"
    }

    public var namedParameters: [(name: String, variable: Variable)] {
        layers.enumerated().flatMap { index, layer in
            layer.namedParameters.map { ("\(index).\($0.name)", $0.variable) }
        }
    }

    public var namedBuffers: [(name: String, tensor: Tensor)] {
        layers.enumerated().flatMap { index, layer in
            layer.namedBuffers.map { ("\(index).\($0.name)", $0.tensor) }
        }
    }

    public var namedInt8Buffers: [(name: String, tensor: Tensor)] {
        layers.enumerated().flatMap { index, layer in
            layer.namedInt8Buffers.map { ("\(index).\($0.name)", $0.tensor) }
        }
    }

    public var namedCounts: [(name: String, count: Int)] {
        layers.enumerated().flatMap { index, layer in layer.namedCounts.map { ("\(index).\($0.name)", $0.count) } }
    }

    public func setCount(_ name: String, _ count: Int) {
        guard let dot = name.firstIndex(of: "."), let index = Int(name[..<dot]), layers.indices.contains(index) else { return }
        layers[index].setCount(String(name[name.index(after: dot)...]), count)
    }

    public func setBuffer(_ name: String, _ tensor: Tensor) throws {
        guard let dot = name.firstIndex(of: "."), let index = Int(name[..<dot]), layers.indices.contains(index) else {
            throw TensorError(.argument, "load", "no layer for buffer '\(name)'")
        }
        try layers[index].setBuffer(String(name[name.index(after: dot)...]), tensor)
    }

    public func forward(_ input: Variable) throws -> Variable {
        lastInputShape = input.shape
        var x = input
        for layer in layers { x = try layer.forward(x) }
        return x
    }

    /// The input followed by every layer's output, for losses that read intermediate features.
    public func forwardCollecting(_ input: Variable) throws -> [Variable] {
        lastInputShape = input.shape
        var outputs = [input]
        for layer in layers { outputs.append(try layer.forward(outputs[outputs.count - 1])) }
        return outputs
    }
}
