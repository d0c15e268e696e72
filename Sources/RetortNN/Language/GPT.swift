import Foundation
import RetortTensor

/// A pre-norm transformer block, nanoGPT's `Block`: `x + attn(ln_1(x))`, then `x + mlp(ln_2(x))`,
/// the MLP `c_fc` (d → 4d), exact GELU, `c_proj` (4d → d) and dropout.
public final class TransformerBlock: Layer {
    public private(set) var norm1: LayerNorm
    public private(set) var attention: SelfAttention
    public private(set) var norm2: LayerNorm
    /// `c_fc`, GELU, `c_proj`, dropout, named as nanoGPT names them.
    public private(set) var mlp: Sequential

    public init(_ width: Int, heads: Int, dropout: Float = 0, generator: inout RandomGenerator) throws {
        norm1 = LayerNorm([width])
        attention = try SelfAttention(width, heads: heads, causal: true, dropout: dropout, generator: &generator)
        norm2 = LayerNorm([width])
        mlp = Sequential(
            [
                Linear(width, 4 * width, generator: &generator), Activation(.gelu),
                Linear(4 * width, width, generator: &generator),
                Dropout(dropout, generator: &generator),
            ], names: ["c_fc", "gelu", "c_proj", "dropout"])
    }

    private init(norm1: LayerNorm, attention: SelfAttention, norm2: LayerNorm, mlp: Sequential) {
        (self.norm1, self.attention, self.norm2, self.mlp) = (norm1, attention, norm2, mlp)
    }

    public var width: Int { attention.width }
    public var isTraining: Bool {
        get { attention.isTraining }
        set { for layer: Layer in [norm1, attention, norm2, mlp] { layer.isTraining = newValue } }
    }
    public var description: String {
        let pruned = attention.innerWidth != width ? " of size \(attention.headSize)" : ""
        return "TransformerBlock(\(width), heads: \(attention.heads)\(pruned))"
    }

    public var children: [(name: String, layer: Layer)] {
        [("ln_1", norm1), ("attn", attention), ("ln_2", norm2), ("mlp", mlp)]
    }

    public func replaceChild(_ name: String, with layer: Layer) throws {
        switch (name, layer) {
        case ("ln_1", let l as LayerNorm): norm1 = l
        case ("attn", let a as SelfAttention): attention = a
        case ("ln_2", let l as LayerNorm): norm2 = l
        case ("mlp", let s as Sequential): mlp = s
        default:
            throw TensorError(
                .argument, "replace", "a transformer block cannot put \(layer.briefDescription) in place of '\(name)'")
        }
    }

    public var namedParameters: [(name: String, variable: Variable)] {
        children.flatMap { child in child.layer.namedParameters.map { ("\(child.name).\($0.name)", $0.variable) } }
    }

    // Quantised projections keep their state as buffers (input ranges, int8 weights), under the same names.
    public var namedBuffers: [(name: String, tensor: Tensor)] {
        children.flatMap { child in child.layer.namedBuffers.map { ("\(child.name).\($0.name)", $0.tensor) } }
    }

    public var namedInt8Buffers: [(name: String, tensor: Tensor)] {
        children.flatMap { child in child.layer.namedInt8Buffers.map { ("\(child.name).\($0.name)", $0.tensor) } }
    }

    public func setBuffer(_ name: String, _ tensor: Tensor) throws {
        guard let child = children.first(where: { name.hasPrefix($0.name + ".") }) else {
            throw TensorError(.argument, "load", "\(description) has no buffer named '\(name)'")
        }
        try child.layer.setBuffer(String(name.dropFirst(child.name.count + 1)), tensor)
    }

    public func copy() -> Layer { copy(using: LayerCopier()) }
    public func copy(using copier: LayerCopier) -> Layer {
        TransformerBlock(
            norm1: copier.copy(norm1) as? LayerNorm ?? norm1, attention: copier.copy(attention) as? SelfAttention ?? attention,
            norm2: copier.copy(norm2) as? LayerNorm ?? norm2, mlp: copier.copy(mlp) as? Sequential ?? mlp)
    }

    public func forward(_ input: Variable) throws -> Variable {
        let attended = try input + attention(try norm1(input))
        return try attended + mlp(try norm2(attended))
    }

    /// With a cache (generation); `keepsWeights` as `SelfAttention.forward(_:cache:keepsWeights:)`.
    public func forward(_ input: Variable, cache: inout KeyValueCache?, keepsWeights: Bool = true) throws -> Variable {
        let attended = try input + attention.forward(try norm1(input), cache: &cache, keepsWeights: keepsWeights)
        return try attended + mlp(try norm2(attended))
    }
}

/// The GPT of nanoGPT's `model.py`, as a sequence of named layers: `transformer.wte` (token
/// embedding), `transformer.wpe` (learned positions), `transformer.drop`, `transformer.h.0` … (blocks),
/// `transformer.ln_f`, and `lm_head` tied to `wte`. The state-dict names are nanoGPT's, so its
/// checkpoints load. Calling it on ids `[N, T]` (T ≤ block) gives logits `[N, T, vocab]`.
public enum GPT {
    public static func make(
        vocabulary: Int, block: Int, layers: Int, heads: Int, width: Int, dropout: Float = 0, generator: inout RandomGenerator
    ) throws -> Sequential {
        guard vocabulary >= 1, block >= 1, layers >= 0, width >= 1 else {
            throw TensorError(.argument, "gpt", "vocab, block and width must be positive and layers at least 0")
        }
        guard heads >= 1, width % heads == 0 else {
            throw TensorError(.argument, "gpt", "\(heads) heads do not divide the width \(width)")
        }
        guard (0..<1).contains(dropout) else { throw TensorError(.argument, "gpt", "dropout must be in [0, 1), got \(dropout)") }
        try MemoryBudget.check("gpt", [Swift.max(vocabulary, 4 * width), width])
        try MemoryBudget.check("gpt", [layers, 12 * width, width])
        let tokens = Embedding(vocabulary, width, std: 0.02, generator: &generator)
        let positions = Positions(block, width, std: 0.02, generator: &generator)
        var all: [Layer] = [tokens, positions, Dropout(dropout, generator: &generator)]
        var names = ["transformer.wte", "transformer.wpe", "transformer.drop"]
        for i in 0..<layers {
            let b = try TransformerBlock(width, heads: heads, dropout: dropout, generator: &generator)
            // nanoGPT's initialisation: N(0, 0.02) weights and zero biases, the residual
            // projections scaled down by √(2·layers).
            for (name, p) in b.namedParameters where name.hasSuffix(".weight") && !name.hasPrefix("ln_") {
                let std: Float = name.hasSuffix("c_proj.weight") ? 0.02 / Float(2 * layers).squareRoot() : 0.02
                let fresh = generator.normal(p.shape, std: std)
                p.update { $0 = fresh }
                p.updates = 0
            }
            for (name, p) in b.namedParameters where name.hasSuffix(".bias") && !name.hasPrefix("ln_") {
                let zeros = Tensor.zeros(p.shape)
                p.update { $0 = zeros }
                p.updates = 0
            }
            all.append(b)
            names.append("transformer.h.\(i)")
        }
        all += [LayerNorm([width]), TiedHead(tokens)]
        names += ["transformer.ln_f", "lm_head"]
        return Sequential(all, names: names)
    }
}
