import RetortTensor

/// A lookup table of vectors, one row per token id: `nn.Embedding(n, d)`, weight `[n, d]` drawn
/// from N(0, 1) as PyTorch's default. Input: whole-number ids of any shape; output `[..., d]`.
public final class Embedding: Layer {
    public let weight: Variable
    public var isTraining = true

    public init(_ count: Int, _ width: Int, std: Float = 1, generator: inout RandomGenerator) {
        weight = Variable(generator.normal([count, width], std: std), requiresGrad: true)
    }

    init(weight: Variable) { self.weight = weight }

    public var count: Int { weight.shape[0] }
    public var width: Int { weight.shape[1] }
    public var description: String { "Embedding(\(count), \(width))" }
    public var namedParameters: [(name: String, variable: Variable)] { [("weight", weight)] }

    public func copy() -> Layer {
        let made = Embedding(weight: weight.copiedParameter())
        made.isTraining = isTraining
        return made
    }

    public func forward(_ input: Variable) throws -> Variable { try Variable.embedding(weight, ids: input) }
}

/// Learned positions: adds row t of a `[block, d]` table to position t of `[N, T, d]` (T ≤ block),
/// nanoGPT's `wpe`. `offset` shifts the positions, for generation that feeds one token at a time.
public final class Positions: Layer {
    public let table: Embedding
    public var isTraining = true

    public init(_ block: Int, _ width: Int, std: Float = 1, generator: inout RandomGenerator) {
        table = Embedding(block, width, std: std, generator: &generator)
    }

    init(table: Embedding) { self.table = table }

    public var block: Int { table.count }
    public var description: String { "Positions(\(table.count), \(table.width))" }
    public var namedParameters: [(name: String, variable: Variable)] { [("weight", table.weight)] }
    public func copy() -> Layer { Positions(table: table.copy() as? Embedding ?? table) }

    public func forward(_ input: Variable) throws -> Variable { try forward(input, offset: 0) }

    /// Positions `offset..<offset + T` added to `[N, T, d]`.
    public func forward(_ input: Variable, offset: Int) throws -> Variable {
        guard input.value.rank == 3, input.shape[2] == table.width else {
            throw TensorError(
                .shape, "positions", "expected [N, T, \(table.width)], got \(formatShape(input.shape))")
        }
        let length = input.shape[1]
        guard offset + length <= block else {
            throw TensorError(
                .shape, "positions",
                "a sequence of \(offset + length) positions is longer than the \(block) this layer has (its block size)")
        }
        let ids = Variable(Tensor.arange(Float(offset), Float(offset + length)))
        return try input + Variable.embedding(table.weight, ids: ids)
    }
}

/// The output layer tied to an embedding: logits `x @ embeddingᵀ`, nanoGPT's `lm_head` sharing
/// `wte`'s weight. It owns no parameters: the embedding's weight is trained, counted and saved once,
/// under the embedding's name.
public final class TiedHead: Layer {
    public let embedding: Embedding
    public var isTraining = true

    public init(_ embedding: Embedding) { self.embedding = embedding }

    public var description: String { "TiedHead(\(embedding.width) → \(embedding.count), tied to the embedding)" }
    public var namedParameters: [(name: String, variable: Variable)] { [] }
    public func copy() -> Layer { TiedHead(embedding) }
    /// A copy ties to the copy of its embedding, so a cloned model stays tied.
    public func copy(using copier: LayerCopier) -> Layer {
        TiedHead(copier.copy(embedding) as? Embedding ?? embedding)
    }

    public func forward(_ input: Variable) throws -> Variable {
        try Variable.linear(input, weight: embedding.weight, bias: nil)
    }
}
