import RetortTensor

/// A building block of a model: maps a variable to a variable and owns named parameters.
///
/// Layers are reference types, like PyTorch modules: a model is shared, trained in place, and the
/// same object is seen by the optimizer that updates it.
public protocol Layer: AnyObject {
    /// A short description such as `Linear(64 → 10)`.
    var description: String { get }
    /// Parameters with their names relative to this layer (`weight`, `bias`, `0.weight`, …).
    var namedParameters: [(name: String, variable: Variable)] { get }
    /// Non-trainable state saved with the parameters (BatchNorm's running statistics).
    var namedBuffers: [(name: String, tensor: Tensor)] { get }
    /// State saved as int8 (an int8 model's weights and zero points), whole numbers held as Float.
    var namedInt8Buffers: [(name: String, tensor: Tensor)] { get }
    /// Whether the layer is in training mode (dropout active, batch statistics used).
    var isTraining: Bool { get set }
    func forward(_ input: Variable) throws -> Variable
    /// Replaces a buffer by name (used by loaders).
    func setBuffer(_ name: String, _ tensor: Tensor) throws
    /// Whole-number state saved with the buffers: BatchNorm's `num_batches_tracked`.
    var namedCounts: [(name: String, count: Int)] { get }
    /// Sets a count by name (used by loaders); a name the layer lacks is ignored.
    func setCount(_ name: String, _ count: Int)
    /// An independent copy with equal parameters and state (`clone(model)`).
    func copy() -> Layer
    /// A copy that shares what the original shares: a layer reached twice (a shared layer, a layer
    /// captured by a function layer and also listed) is copied once. Containers override this.
    func copy(using copier: LayerCopier) -> Layer
    /// The layers this one holds directly, under the names that prefix their parameters (`0`,
    /// `lin`, `blocks.1`): PyTorch's `named_children`, mlx-swift's `children()`. Empty for a leaf.
    var children: [(name: String, layer: Layer)] { get }
    /// Puts `layer` where the child called `name` was (quantisation and pruning swap layers this
    /// way); the model keeps its identity. Throws for a name that is not a child.
    func replaceChild(_ name: String, with layer: Layer) throws
}

/// Copies each layer once, so sharing inside a model survives `clone`.
public final class LayerCopier {
    private var copies: [ObjectIdentifier: Layer] = [:]
    public init() {}

    /// The copy of `layer`, made on first request.
    public func copy(_ layer: Layer) -> Layer {
        if let done = copies[ObjectIdentifier(layer)] { return done }
        let made = layer.copy(using: self)
        // Each leaf keeps its own mode (a container's would set every layer it holds): a ReLU, a
        // pooling or a flatten layer was copied in training mode, and an eval model's clone read
        // "mixed".
        if made.children.isEmpty { made.isTraining = layer.isTraining }
        copies[ObjectIdentifier(layer)] = made
        return made
    }
}

extension Variable {
    /// A new leaf with the same value and the same need for gradients.
    public func copiedParameter() -> Variable {
        let copy = Variable(value, requiresGrad: requiresGrad, name: name)
        copy.mask = mask
        copy.updates = updates
        return copy
    }
}

extension Layer {
    public func copy(using copier: LayerCopier) -> Layer { copy() }
    public var children: [(name: String, layer: Layer)] { [] }
    public func replaceChild(_ name: String, with layer: Layer) throws {
        throw TensorError(.argument, "replace", "\(briefDescription) has no child layer named '\(name)'")
    }
    public var namedBuffers: [(name: String, tensor: Tensor)] { [] }
    public var namedInt8Buffers: [(name: String, tensor: Tensor)] { [] }
    public var namedCounts: [(name: String, count: Int)] { [] }
    public func setCount(_ name: String, _ count: Int) {}
    public func setBuffer(_ name: String, _ tensor: Tensor) throws {
        throw TensorError(.argument, "load", "\(description) has no buffer named '\(name)'")
    }
    /// The parameters in a stable order, each once (a shared layer appears under two names but
    /// is one set of parameters, as in PyTorch's `parameters()`).
    public var parameters: [Variable] {
        var seen = Set<ObjectIdentifier>()
        return namedParameters.map(\.variable).filter { seen.insert(ObjectIdentifier($0)).inserted }
    }
    /// One line naming the layer in an error: its description, or for a multi-line one (a
    /// `Sequential`, a function layer holding models) the leading name.
    public var briefDescription: String {
        let text = description
        guard text.contains("\n") else { return text }
        return String(text.prefix { $0 != " " && $0 != "(" && $0 != "\n" })
    }
    /// The number of scalars in the parameters, frozen ones included, each shared one once.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.value.count } }
    /// The number of scalars that training would update (not frozen).
    public var trainableCount: Int { parameters.filter(\.requiresGrad).reduce(0) { $0 + $1.value.count } }
    public func callAsFunction(_ input: Variable) throws -> Variable { try forward(input) }
}

/// PyTorch's default initialisation for Linear and Conv2d: Kaiming-uniform with a = √5, which
/// draws weights and biases from U(−1/√fan_in, 1/√fan_in).
public func kaimingUniform(_ shape: [Int], fanIn: Int, generator: inout RandomGenerator) -> Tensor {
    let bound = 1 / Float(Swift.max(fanIn, 1)).squareRoot()
    return generator.uniform(shape, low: -bound, high: bound)
}

/// A fully connected layer: `y = x @ weightᵀ + bias`, weight `[out, in]` as in PyTorch.
public final class Linear: Layer {
    public let weight: Variable
    public let bias: Variable?
    public var isTraining = true

    init(weight: Variable, bias: Variable?) {
        self.weight = weight
        self.bias = bias
    }

    public func copy() -> Layer {
        let c = Linear(weight: weight.copiedParameter(), bias: bias?.copiedParameter())
        c.isTraining = isTraining
        return c
    }

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, generator: inout RandomGenerator) {
        weight = Variable(
            kaimingUniform([outFeatures, inFeatures], fanIn: inFeatures, generator: &generator), requiresGrad: true)
        self.bias =
            bias ? Variable(kaimingUniform([outFeatures], fanIn: inFeatures, generator: &generator), requiresGrad: true) : nil
    }

    public var inFeatures: Int { weight.shape[1] }
    public var outFeatures: Int { weight.shape[0] }
    public var description: String { "Linear(\(inFeatures) → \(outFeatures)\(bias == nil ? ", no bias" : ""))" }
    public var namedParameters: [(name: String, variable: Variable)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }
    public func forward(_ input: Variable) throws -> Variable {
        try Variable.linear(input, weight: weight, bias: bias)
    }
}

/// A 2-D convolution with square kernels, weight `[out, in, k, k]`.
public final class Conv2d: Layer {
    public let weight: Variable
    public let bias: Variable?
    public let stride: Int
    public let padding: Int
    public var isTraining = true

    init(weight: Variable, bias: Variable?, stride: Int, padding: Int) {
        self.weight = weight
        self.bias = bias
        self.stride = stride
        self.padding = padding
    }

    public func copy() -> Layer {
        let c = Conv2d(weight: weight.copiedParameter(), bias: bias?.copiedParameter(), stride: stride, padding: padding)
        c.isTraining = isTraining
        return c
    }

    public init(
        _ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0, bias: Bool = true,
        generator: inout RandomGenerator
    ) {
        let fanIn = inChannels * kernel * kernel
        weight = Variable(
            kaimingUniform([outChannels, inChannels, kernel, kernel], fanIn: fanIn, generator: &generator), requiresGrad: true)
        self.bias = bias ? Variable(kaimingUniform([outChannels], fanIn: fanIn, generator: &generator), requiresGrad: true) : nil
        self.stride = stride
        self.padding = padding
    }

    public var description: String {
        "Conv2d(\(weight.shape[1]) → \(weight.shape[0]), kernel \(weight.shape[2]), stride \(stride), padding \(padding))"
    }
    public var namedParameters: [(name: String, variable: Variable)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }
    public func forward(_ input: Variable) throws -> Variable {
        try Variable.conv2d(input, weight: weight, bias: bias, stride: stride, padding: padding)
    }
}

/// 2-D max or average pooling over square windows.
public final class Pool2d: Layer {
    public enum Kind: String, Sendable { case max, average }
    public let kind: Kind
    public let kernel: Int
    public let stride: Int
    public let padding: Int
    public var isTraining = true

    public init(_ kind: Kind, kernel: Int, stride: Int? = nil, padding: Int = 0) {
        self.kind = kind
        self.kernel = kernel
        self.stride = stride ?? kernel
        self.padding = padding
    }

    /// `MaxPool2d(3)`, with the stride when it is not the kernel and the padding when there is
    /// some, as PyTorch's repr: `MaxPool2d(3, stride: 1, padding: 1)`.
    public var description: String {
        var parts = [String(kernel)]
        if stride != kernel { parts.append("stride: \(stride)") }
        if padding != 0 { parts.append("padding: \(padding)") }
        return "\(kind == .max ? "MaxPool2d" : "AvgPool2d")(\(parts.joined(separator: ", ")))"
    }
    public func copy() -> Layer { Pool2d(kind, kernel: kernel, stride: stride, padding: padding) }
    public var namedParameters: [(name: String, variable: Variable)] { [] }
    public func forward(_ input: Variable) throws -> Variable {
        switch kind {
        case .max: return try input.maxPool2d(kernel: kernel, stride: stride, padding: padding)
        case .average: return try input.avgPool2d(kernel: kernel, stride: stride, padding: padding)
        }
    }
}

/// Flattens every axis after the first: `[N, C, H, W]` → `[N, C·H·W]`.
public final class Flatten: Layer {
    public var isTraining = true
    public init() {}
    public var description: String { "Flatten()" }
    public func copy() -> Layer { Flatten() }
    public var namedParameters: [(name: String, variable: Variable)] { [] }
    public func forward(_ input: Variable) throws -> Variable { try input.flattened(from: 1) }
}
