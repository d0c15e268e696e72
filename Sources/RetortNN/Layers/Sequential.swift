import RetortTensor
import Synchronization

/// Layers applied in order; parameter names follow PyTorch's `nn.Sequential` (`0.weight`, `2.bias`),
/// or the names a builder gives its layers (`transformer.h.0` in a GPT, as nanoGPT names them).
public final class Sequential: Layer {
    public private(set) var layers: [Layer]
    /// Each layer's name as a prefix of its parameters' names; nil: its position.
    public private(set) var names: [String]?
    /// The shape of the last input the model was called on, so tools that trace it (`graph`,
    /// channel pruning) can without being told (as Keras keeps a model's built input shape).
    public internal(set) var lastInputShape: [Int]? {
        get { inputShape.withLock { $0 } }
        set { inputShape.withLock { $0 = newValue } }
    }
    /// Under a lock: generation runs groups of samples through one model on several threads.
    private let inputShape = Mutex<[Int]?>(nil)

    public init(_ layers: [Layer]) { self.layers = layers }

    /// Layers with their own names (one each, unique, none empty).
    public init(_ layers: [Layer], names: [String]) {
        precondition(names.count == layers.count && Set(names).count == names.count && !names.contains(""))
        self.layers = layers
        self.names = names
    }

    /// Replaces the layers (structured pruning swaps in smaller ones); the model keeps its identity,
    /// and its names when the count stays.
    public func replaceLayers(_ layers: [Layer]) {
        if names?.count != layers.count { names = nil }
        self.layers = layers
    }

    /// The name of layer `index`: its given name, or its position.
    public func name(of index: Int) -> String { names?[index] ?? String(index) }

    /// The layer whose name prefixes `path` (`transformer.h.0` of `transformer.h.0.ln_1.weight`),
    /// with the rest of the path; the longest such name wins.
    private func child(holding path: String) -> (index: Int, rest: String)? {
        let matches = layers.indices.filter { path.hasPrefix(name(of: $0) + ".") }
        guard let best = matches.max(by: { name(of: $0).count < name(of: $1).count }) else { return nil }
        return (best, String(path.dropFirst(name(of: best).count + 1)))
    }

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
        made.names = names
        made.lastInputShape = lastInputShape
        made.checksRepeatedCalls = checksRepeatedCalls
        return made
    }
    /// An independent copy with equal parameters and state; layers shared inside stay shared.
    public func copied() -> Sequential { copied(using: LayerCopier()) }

    public var isTraining: Bool {
        get { layers.first?.isTraining ?? true }
        set { for layer in layers { layer.isTraining = newValue } }
    }

    public var children: [(name: String, layer: Layer)] { layers.indices.map { (name(of: $0), layers[$0]) } }

    public func replaceChild(_ child: String, with layer: Layer) throws {
        guard let index = layers.indices.first(where: { name(of: $0) == child }) else {
            throw TensorError(.argument, "replace", "a Sequential of \(layers.count) layers has no layer '\(child)'")
        }
        layers[index] = layer
    }

    public var description: String {
        "Sequential(\n" + layers.indices.map { "  (\(name(of: $0))): \(layers[$0].description)" }.joined(separator: "\n") + "\n)"
    }

    public var namedParameters: [(name: String, variable: Variable)] {
        layers.indices.flatMap { i in layers[i].namedParameters.map { ("\(name(of: i)).\($0.name)", $0.variable) } }
    }

    public var namedBuffers: [(name: String, tensor: Tensor)] {
        layers.indices.flatMap { i in layers[i].namedBuffers.map { ("\(name(of: i)).\($0.name)", $0.tensor) } }
    }

    public var namedInt8Buffers: [(name: String, tensor: Tensor)] {
        layers.indices.flatMap { i in layers[i].namedInt8Buffers.map { ("\(name(of: i)).\($0.name)", $0.tensor) } }
    }

    public var namedCounts: [(name: String, count: Int)] {
        layers.indices.flatMap { i in layers[i].namedCounts.map { ("\(name(of: i)).\($0.name)", $0.count) } }
    }

    public func setCount(_ name: String, _ count: Int) {
        guard let (index, rest) = child(holding: name) else { return }
        layers[index].setCount(rest, count)
    }

    public func setBuffer(_ name: String, _ tensor: Tensor) throws {
        guard let (index, rest) = child(holding: name) else {
            throw TensorError(.argument, "load", "no layer for buffer '\(name)'")
        }
        try layers[index].setBuffer(rest, tensor)
    }

    /// Set by `Quantizer.prepare` on a qat model made from one that never ran (its calls could not
    /// be traced): the next forward pass counts each quantised layer's calls and refuses one called
    /// twice, as preparing refuses it for a model that ran; cleared once a pass has passed.
    var checksRepeatedCalls = false

    public func forward(_ input: Variable) throws -> Variable {
        try checkingRepeatedCalls { try forwardLayers(input) }
    }

    /// Runs one forward pass, with `checksRepeatedCalls`' count around it when it is set.
    private func checkingRepeatedCalls<T>(_ pass: () throws -> T) throws -> T {
        guard checksRepeatedCalls else { return try pass() }
        let observed = modules(of: FakeQuantized.self)
        for (_, layer) in observed { layer.calls = 0 }
        checksRepeatedCalls = false
        do {
            let output = try pass()
            try Calibration.refuseRepeatedCalls(observed)
            return output
        } catch {
            checksRepeatedCalls = true
            throw error
        }
    }

    /// A shape error said with the layer of this model it came from (the innermost model's, for one
    /// inside another), not only the op's name: `linear` alone could be any of the model's layers.
    private func placed(_ error: Error, at index: Int) -> Error {
        guard let error = error as? TensorError, error.kind == .shape, !error.message.contains(" (in layer "),
            index < layers.count
        else { return error }
        return TensorError(
            .shape, error.op, error.message + " (in layer \(name(of: index)) of the model, \(layers[index].description))")
    }

    private func forwardLayers(_ input: Variable) throws -> Variable {
        lastInputShape = input.shape
        var x = input
        var index = 0
        while index < layers.count {
            let fused: (output: Variable, layers: Int)?
            do {
                fused = try fusedPass(from: index, x)
            } catch {
                throw locate(error, from: index, input: x)
            }
            if let fused {
                x = fused.output
                index += fused.layers
                continue
            }
            // A layer run alone says where its shape error came from.
            do { x = try layers[index].forward(x) } catch { throw placed(error, at: index) }
            index += 1
        }
        return x
    }

    /// A fused pass's shape error said with the layer it came from: the layers from `index` run
    /// again one by one on the same input (an error's path only) until one fails, and its error,
    /// placed, is the one the unfused pass gives; the fused pass's own if none does.
    private func locate(_ error: Error, from index: Int, input: Variable) -> Error {
        guard (error as? TensorError)?.kind == .shape else { return error }
        var x = input
        // Only the kinds of layer a fused pass takes, which keep no state a pass changes (a batch
        // norm's statistics, a dropout's generator).
        let kinds: [Layer.Type] = [
            Conv2d.self, QuantizedConv2d.self, Activation.self, Pool2d.self, Flatten.self, Linear.self, QuantizedLinear.self,
        ]
        for i in index..<layers.count {
            let kind = ObjectIdentifier(type(of: layers[i]))
            guard kinds.contains(where: { ObjectIdentifier($0) == kind }) else { break }
            do { x = try layers[i].forward(x) } catch { return placed(error, at: i) }
        }
        return error
    }

    /// The passes that run several layers as one, from `index`: the output and how many layers it
    /// took, or nil when the layer at `index` runs alone.
    private func fusedPass(from index: Int, _ x: Variable) throws -> (output: Variable, layers: Int)? {
        // Inference: a convolution (float or int8), the ReLU after it and a 2×2 max pool after
        // that in one pass over each chunk of images, as onnxruntime fuses them; same values.
        // Not when a gradient or a trace needs them apart (the fused calls return nil then);
        // training fuses the convolution and its ReLU only. Never under a trace.
        // Float convolutions in a row go as one chain, handing each other channels-last images.
        let chain = convolutionChain(of: Conv2d.self, from: index)
        if chain.steps.count > 1,
            let fused = try Variable.conv2dReLUChain(
                x, steps: chain.steps.map { ($0.conv.weight, $0.conv.bias, $0.conv.stride, $0.conv.padding, $0.maxPool2x2) })
        {
            return (fused, chain.layers)
        }
        // Int8 convolutions in a row hand each other their outputs already quantised, channels
        // last, and through a flatten to int8 linear layers after them.
        let int8Chain = convolutionChain(of: QuantizedConv2d.self, from: index)
        let end = index + int8Chain.layers
        let tail = end < layers.count && layers[end] is Flatten ? int8LinearChain(from: end + 1) : (steps: [], layers: 0)
        if !int8Chain.steps.isEmpty,
            let fused = try QuantizedConv2d.chain(x, steps: int8Chain.steps, then: tail.steps)
        {
            return (fused, tail.steps.isEmpty ? end - index : end + 1 + tail.layers - index)
        }
        // Int8 linear layers in a row (each with or without its ReLU) likewise, a block of rows at a time.
        let linearChain = int8LinearChain(from: index)
        if linearChain.steps.count > 1, let fused = try QuantizedLinear.chain(x, steps: linearChain.steps) {
            return (fused, linearChain.layers)
        }
        if index + 1 < layers.count, let activation = layers[index + 1] as? Activation, activation.kind == .relu {
            if let fused = try Self.linearWithReLU(layers[index], x) {
                return (fused, 2)
            }
            let pools = index + 2 < layers.count && Self.isMaxPool2x2(layers[index + 2])
            if let fused = try Self.convolutionWithReLU(layers[index], x, maxPool2x2: pools) {
                return (fused, pools ? 3 : 2)
            }
            // Training: the convolution and its ReLU one pass each way (the pool stays apart).
            if let conv = layers[index] as? Conv2d,
                let fused = try Variable.conv2dReLUTraining(
                    x, weight: conv.weight, bias: conv.bias, stride: conv.stride, padding: conv.padding)
            {
                return (fused, 2)
            }
        }
        return nil
    }

    /// The convolutions of one kind (float or int8) from `index` on that each have a ReLU after them
    /// (and maybe a 2×2 max pool after that), and how many layers they take.
    private func convolutionChain<Convolution: Layer>(
        of kind: Convolution.Type, from index: Int
    ) -> (steps: [(conv: Convolution, maxPool2x2: Bool)], layers: Int) {
        var steps = [(conv: Convolution, maxPool2x2: Bool)]()
        var i = index
        while i + 1 < layers.count, let conv = layers[i] as? Convolution,
            let activation = layers[i + 1] as? Activation, activation.kind == .relu
        {
            let pools = i + 2 < layers.count && Self.isMaxPool2x2(layers[i + 2])
            steps.append((conv, pools))
            i += pools ? 3 : 2
        }
        return (steps, i - index)
    }

    /// The int8 linear layers from `index` on, one after another, each maybe with a ReLU after it,
    /// and how many layers they take.
    private func int8LinearChain(from index: Int) -> (steps: [(linear: QuantizedLinear, relu: Bool)], layers: Int) {
        var steps = [(linear: QuantizedLinear, relu: Bool)]()
        var i = index
        while i < layers.count, let linear = layers[i] as? QuantizedLinear {
            let relu = i + 1 < layers.count && (layers[i + 1] as? Activation)?.kind == .relu
            steps.append((linear, relu))
            i += relu ? 2 : 1
        }
        return (steps, i - index)
    }

    /// `layer` (a convolution) with ReLU, and a 2×2 max pool when `maxPool2x2`, in one pass; nil
    /// when `layer` is no convolution or the pass must not be fused.
    private static func convolutionWithReLU(_ layer: Layer, _ x: Variable, maxPool2x2: Bool) throws -> Variable? {
        if let conv = layer as? Conv2d {
            return try Variable.conv2dReLU(
                x, weight: conv.weight, bias: conv.bias, stride: conv.stride, padding: conv.padding,
                maxPool2x2: maxPool2x2)
        }
        if let conv = layer as? QuantizedConv2d { return try conv.forwardFused(x, maxPool2x2: maxPool2x2) }
        return nil
    }

    /// `layer` (a linear layer) with ReLU in one pass, for inference: a float one adds its bias and
    /// applies the ReLU together, an int8 one requantises straight into the ReLU's values; nil when
    /// `layer` is no linear layer or the pass must not be fused.
    private static func linearWithReLU(_ layer: Layer, _ x: Variable) throws -> Variable? {
        if let linear = layer as? Linear { return try Variable.linearReLU(x, weight: linear.weight, bias: linear.bias) }
        if let linear = layer as? QuantizedLinear { return try linear.forwardFused(x) }
        return nil
    }

    /// A max pool over 2×2 windows, stride 2, no padding: the one the fused pass can take.
    private static func isMaxPool2x2(_ layer: Layer) -> Bool {
        guard let pool = layer as? Pool2d else { return false }
        return pool.kind == .max && pool.kernel == 2 && pool.stride == 2 && pool.padding == 0
    }

    /// The input followed by every layer's output, for losses that read intermediate features.
    public func forwardCollecting(_ input: Variable) throws -> [Variable] {
        try checkingRepeatedCalls {
            lastInputShape = input.shape
            var outputs = [input]
            for (index, layer) in layers.enumerated() {
                do { outputs.append(try layer.forward(outputs[outputs.count - 1])) } catch { throw placed(error, at: index) }
            }
            return outputs
        }
    }
}
