import RetortTensor

/// Turns a float model into one that observes or fake-quantises (`prepare`), and that into an
/// int8 model (`convert`), layer by layer inside nested `Sequential`s.
///
/// Linear and Conv2d are quantised; layers without parameters (activations, pooling, dropout,
/// flatten) and normalisation layers stay float between them. Any other layer with parameters
/// (a function layer that owns weights, say) cannot be quantised and is refused by name.
public enum Quantizer {
    public struct Refusal: Error, CustomStringConvertible {
        public let layer: String
        public let reason: String
        public var description: String { "\(layer) \(reason)" }
    }

    /// A copy of `model` whose Linear and Conv2d layers are wrapped for `stage`; the original is untouched.
    public static func prepare(
        _ model: Sequential, stage: FakeQuantized.Stage, perChannel: Bool, observer: ObserverKind = .minmax
    ) throws -> Sequential {
        let copy = model.copied()
        return try Sequential(
            rewrite(copy, path: "") { layer, _ in
                FakeQuantized(layer, stage: stage, perChannel: perChannel, observer: observer)
            })
    }

    /// The int8 model made from a prepared one; layers that never saw an input are named.
    public static func convert(_ model: Sequential) throws -> Sequential {
        guard containsPrepared(model) else {
            throw Refusal(layer: "it", reason: "has no layer prepared for quantisation (convert takes a qat() model)")
        }
        return Sequential(try convertLayers(model.copied(), path: ""))
    }

    /// The metadata an int8 model's file carries, so `load` knows to rebuild int8 layers.
    public static let int8Metadata = ["retort_format": "int8"]

    /// An int8 model of `model`'s architecture with placeholder values, for loading an int8 file into.
    public static func int8Skeleton(_ model: Sequential, perChannel: Bool) throws -> Sequential {
        let layers = try rewrite(model.copied(), path: "") { layer, _ in
            let weight = layer.namedParameters[0].variable.value
            let bias = layer.namedParameters.count > 1 ? layer.namedParameters[1].variable.value : nil
            let placeholder = try Int8Weights(
                weight: Tensor.zeros(weight.shape), bias: bias, perChannel: perChannel, inputRange: (0, 1))
            if let conv = layer as? Conv2d { return QuantizedConv2d(placeholder, stride: conv.stride, padding: conv.padding) }
            return QuantizedLinear(placeholder)
        }
        return Sequential(layers)
    }

    /// Every Linear and Conv2d in the model, by name, for checks before preparing.
    public static func quantizable(_ model: Sequential) -> Int {
        model.layers.reduce(0) { n, layer in
            if let s = layer as? Sequential { return n + quantizable(s) }
            return n + (layer is Linear || layer is Conv2d ? 1 : 0)
        }
    }

    /// Bytes of the file `save` writes for the model, header included (0 if it cannot be encoded,
    /// which only a model with two tensors of one name could cause).
    public static func storedBytes(_ model: Layer) -> Int {
        (try? SafeTensors.savedSize(model, metadata: isQuantized(model) ? int8Metadata : nil)) ?? 0
    }

    /// Parameters of a float model; an int8 model's weights and biases count the same way.
    public static func parameterCount(_ model: Layer) -> Int {
        model.parameterCount
            + model.namedInt8Buffers.filter { $0.name.hasSuffix("weight") }.reduce(0) { $0 + $1.tensor.count }
            + model.namedBuffers.filter { $0.name.hasSuffix("bias") }.reduce(0) { $0 + $1.tensor.count }
    }

    /// Whether any layer is an int8 layer (such a model predicts but cannot be trained).
    public static func isQuantized(_ model: Layer) -> Bool {
        if model is QuantizedLayer { return true }
        if let s = model as? Sequential { return s.layers.contains(where: isQuantized) }
        return false
    }

    private static func containsPrepared(_ model: Sequential) -> Bool {
        model.layers.contains { ($0 as? Sequential).map(containsPrepared) ?? ($0 is FakeQuantized) }
    }

    private static func rewrite(_ model: Sequential, path: String, _ wrap: (Layer, String) throws -> Layer) throws -> [Layer] {
        try model.layers.enumerated().map { index, layer in
            let name = path + String(index)
            if let inner = layer as? Sequential { return Sequential(try rewrite(inner, path: name + ".", wrap)) }
            if layer is Linear || layer is Conv2d { return try wrap(layer, name) }
            if layer is FakeQuantized || layer is QuantizedLayer {
                throw Refusal(layer: "layer \(name) (\(layer.briefDescription))", reason: "is already quantised")
            }
            if layer.namedParameters.isEmpty || layer is BatchNorm || layer is LayerNorm { return layer }
            throw Refusal(
                layer: "layer \(name) (\(layer.briefDescription))",
                reason: "owns parameters but is not a Linear or Conv2d, so it cannot be quantised")
        }
    }

    private static func convertLayers(_ model: Sequential, path: String) throws -> [Layer] {
        try model.layers.enumerated().map { index, layer in
            let name = path + String(index)
            if let inner = layer as? Sequential { return Sequential(try convertLayers(inner, path: name + ".")) }
            guard let prepared = layer as? FakeQuantized else { return layer }
            guard let range = prepared.observedRange else {
                throw Refusal(
                    layer: "layer \(name) (\(prepared.inner.description))",
                    reason: "has seen no input, so its input range is unknown (calibrate on data, or train the qat() model first)"
                )
            }
            if let linear = prepared.inner as? Linear {
                return QuantizedLinear(
                    try Int8Weights(
                        weight: linear.weight.value, bias: linear.bias?.value, perChannel: prepared.perChannel,
                        inputRange: range))
            }
            guard let conv = prepared.inner as? Conv2d else { return layer }
            return QuantizedConv2d(
                try Int8Weights(
                    weight: conv.weight.value, bias: conv.bias?.value, perChannel: prepared.perChannel, inputRange: range),
                stride: conv.stride, padding: conv.padding)
        }
    }
}
