import RetortTensor

/// An elementwise activation as a layer.
public final class Activation: Layer {
    public enum Kind: Equatable, Sendable {
        case relu, tanh, sigmoid, gelu, silu
        case leakyRelu(slope: Float)
    }

    public let kind: Kind
    public var isTraining = true

    public init(_ kind: Kind) { self.kind = kind }
    public func copy() -> Layer { Activation(kind) }

    public var description: String {
        switch kind {
        case .relu: return "ReLU()"
        case .tanh: return "Tanh()"
        case .sigmoid: return "Sigmoid()"
        case .gelu: return "GELU()"
        case .silu: return "SiLU()"
        case .leakyRelu(let slope): return "LeakyReLU(\(slope))"
        }
    }

    public var namedParameters: [(name: String, variable: Variable)] { [] }

    public func forward(_ input: Variable) throws -> Variable {
        switch kind {
        case .relu: return input.relu()
        case .tanh: return input.tanh()
        case .sigmoid: return input.sigmoid()
        case .gelu: return input.gelu()
        case .silu: return input.silu()
        case .leakyRelu(let slope): return input.leakyRelu(slope: slope)
        }
    }
}

/// A layer that holds dropouts of its own apart from its children (self-attention's
/// `attn_dropout` and `resid_dropout`): a checkpoint saves their generators with the others.
public protocol HoldsDropouts {
    var dropouts: [(name: String, dropout: Dropout)] { get }
}

/// Inverted dropout, active in training mode only; its mask comes from its own seeded generator.
public final class Dropout: Layer {
    public let probability: Float
    public var isTraining = true
    var generator: RandomGenerator

    public init(_ probability: Float, generator: inout RandomGenerator) {
        self.probability = probability
        self.generator = RandomGenerator(seed: generator.next())
    }

    public var description: String { "Dropout(\(probability))" }

    /// Where its generator is, for a checkpoint to save and restore.
    public var generatorState: [UInt64] {
        get { generator.stateWords }
        set { generator.stateWords = newValue }
    }

    public func copy() -> Layer {
        var g = generator
        let c = Dropout(probability, generator: &g)
        c.isTraining = isTraining
        return c
    }
    public var namedParameters: [(name: String, variable: Variable)] { [] }
    public func forward(_ input: Variable) throws -> Variable {
        // A group for a trace even in eval mode, where it computes nothing: an exporter that
        // replays the graph in training (PyTorch's) must know where dropout acts.
        try Tape.group(Op("dropout", [("p", .float(probability))]), inputs: [input], owner: self) {
            // In eval mode the generator is only read (a copy is passed), so threads decoding
            // groups of samples at once can share the layer.
            guard isTraining else {
                var unused = generator
                return try Normalization.dropout(input, p: probability, training: false, generator: &unused)
            }
            return try Normalization.dropout(input, p: probability, training: true, generator: &generator)
        }
    }
}
