import RetortTensor

/// Turns a float model into one that observes or fake-quantises (`prepare`), and that into an
/// int8 model (`convert`), by walking every layer the model holds (`namedModules`), function
/// layers' captured layers included.
///
/// Every `Quantizable` layer (Linear, Conv2d) is quantised. Everything else stays float between
/// them: layers without parameters (activations, pooling, dropout, flatten), normalisation,
/// embeddings and parameters a function layer reads directly.
public enum Quantizer {
    public struct Refusal: Error, CustomStringConvertible {
        public let layer: String
        public let reason: String
        public var description: String { "\(layer) \(reason)" }
    }

    /// A copy of `model` whose quantizable layers are wrapped for `stage`; the original is untouched.
    public static func prepare(
        _ model: Sequential, stage: FakeQuantized.Stage, perChannel: Bool, observer: ObserverKind = .minmax
    ) throws -> Sequential {
        try refuseQuantized(model)
        let traced = try refuseRepeatedCalls(model)
        let copy = model.copied()
        try copy.rewrite { layer, _ in
            (layer as? Quantizable).map { FakeQuantized($0, stage: stage, perChannel: perChannel, observer: observer) }
        }
        // A model that never ran could not be traced: its first forward pass counts the calls
        // instead (calibration counts them itself), before a training step uses one range for two.
        if !traced && stage == .quantizationAware { copy.checksRepeatedCalls = true }
        return copy
    }

    /// A model that has run (its last input shape known) is traced on one row of zeros, and a
    /// quantizable layer that computes more than once in the pass is refused, as calibration
    /// refuses it (`Calibration.refuseRepeatedCalls`): so a qat() model trained without calibration
    /// is refused too, before its one moving range averages two calls' inputs.
    /// False when the model could not be traced (it never ran, or does not run on zeros).
    @discardableResult
    static func refuseRepeatedCalls(_ model: Sequential) throws -> Bool {
        // A model that cannot run on zeros of its last shape is left to the first pass's count.
        guard let shape = model.lastInputShape, !shape.isEmpty,
            let graph = try? model.trace(Tensor.zeros([1] + shape.dropFirst()))
        else { return false }
        // Each product counted by the weight it reads.
        var calls: [ObjectIdentifier: Int] = [:]
        for node in graph.nodes where !node.isGroup && ["linear", "conv2d"].contains(node.op.name) && node.inputs.count > 1 {
            if case .parameter(let i) = node.inputs[1] { calls[ObjectIdentifier(graph.parameters[i].variable), default: 0] += 1 }
        }
        for (name, layer) in model.modules(of: Quantizable.self) {
            let count = calls[ObjectIdentifier(layer.weight), default: 0]
            if count > 1 { throw repeatedCalls(of: layer, named: name, count: count) }
        }
        return true
    }

    /// The refusal of a layer that computes `count` times in one forward pass, by preparing and by calibration.
    static func repeatedCalls(of layer: Quantizable, named name: String, count: Int) -> Refusal {
        Refusal(
            layer: "layer \(name) (\(layer.description))",
            reason:
                "is called \(count) times in one forward pass; an int8 layer has one input range, which its calls' different inputs would share. Give each call a layer of its own (clone(layer) copies one with its weights)"
        )
    }

    /// The int8 model made from a prepared one; layers that never saw an input are named.
    public static func convert(_ model: Sequential, hint: String = "train the qat() model or calibrate it on data first")
        throws -> Sequential
    {
        guard !model.modules(of: FakeQuantized.self).isEmpty else {
            throw Refusal(layer: "it", reason: "has no layer prepared for quantisation (convert takes a qat() model)")
        }
        let copy = model.copied()
        try copy.rewrite { layer, name in
            guard let prepared = layer as? FakeQuantized else { return nil }
            guard let range = prepared.observedRange else {
                throw Refusal(
                    layer: "layer \(name) (\(prepared.inner.description))",
                    reason: "has seen no finite input, so its input range is unknown (\(hint))"
                )
            }
            return try prepared.inner.quantized(perChannel: prepared.perChannel, inputRange: range)
        }
        // An int8 model predicts; it is never trained.
        copy.isTraining = false
        return copy
    }

    /// The metadata an int8 model's file carries, so `load` knows to rebuild int8 layers.
    public static let int8Metadata = ["retort_format": "int8"]

    /// An int8 model of `model`'s architecture with placeholder values, for loading an int8 file into.
    public static func int8Skeleton(_ model: Sequential, perChannel: Bool) throws -> Sequential {
        try refuseQuantized(model)
        let copy = model.copied()
        try copy.rewrite { layer, _ in
            guard let float = layer as? Quantizable else { return nil }
            return try float.int8Layer(
                Int8Weights(
                    weight: Tensor.zeros(float.weight.shape), bias: float.bias?.value, perChannel: perChannel,
                    inputRange: (0, 1)))
        }
        // An int8 model predicts; it is never trained.
        copy.isTraining = false
        return copy
    }

    /// How many layers quantisation would reach.
    public static func quantizable(_ model: Layer) -> Int { model.modules(of: Quantizable.self).count }

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
    public static func isQuantized(_ model: Layer) -> Bool { !model.modules(of: QuantizedLayer.self).isEmpty }

    /// Whether any layer is prepared for quantisation (a `qat` or calibrating copy).
    public static func isPrepared(_ model: Layer) -> Bool { !model.modules(of: FakeQuantized.self).isEmpty }

    private static func refuseQuantized(_ model: Layer) throws {
        for (name, layer) in model.namedModules where layer is FakeQuantized || layer is QuantizedLayer {
            throw Refusal(layer: "layer \(name) (\(layer.briefDescription))", reason: "is already quantised")
        }
    }
}
