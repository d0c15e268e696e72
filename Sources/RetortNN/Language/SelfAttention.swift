import Foundation
import RetortTensor

/// Multi-head self-attention with one fused projection to queries, keys and values (nanoGPT's
/// `CausalSelfAttention`): `c_attn` `[3d, d]` splits into q, k, v, each split into heads of d/h;
/// softmax(q·kᵀ/√(d/h)) over the keys, future keys masked out when causal (the numerics of
/// `F.scaled_dot_product_attention`), the heads joined and projected by `c_proj`. Dropout on the
/// attention weights and on the output while training, as nanoGPT's `attn_dropout` and `resid_dropout`.
public final class SelfAttention: Layer {
    public private(set) var qkv: Linear
    public private(set) var projection: Linear
    public let heads: Int
    public let causal: Bool
    let attentionDropout: Dropout
    let outputDropout: Dropout
    /// The attention weights `[N, heads, T, T]` of the last forward pass, for losses that match
    /// attention maps (TinyBERT); nil before the first.
    public private(set) var lastWeights: Variable?

    public init(
        _ width: Int, heads: Int, causal: Bool = true, dropout: Float = 0, generator: inout RandomGenerator
    ) throws {
        guard heads >= 1, width % heads == 0 else {
            throw TensorError("self_attention", "\(heads) heads do not divide the width \(width)")
        }
        qkv = Linear(width, 3 * width, generator: &generator)
        projection = Linear(width, width, generator: &generator)
        self.heads = heads
        self.causal = causal
        attentionDropout = Dropout(dropout, generator: &generator)
        outputDropout = Dropout(dropout, generator: &generator)
    }

    private init(copying other: SelfAttention, qkv: Linear, projection: Linear) {
        self.qkv = qkv
        self.projection = projection
        heads = other.heads
        causal = other.causal
        attentionDropout = other.attentionDropout.copy() as? Dropout ?? other.attentionDropout
        outputDropout = other.outputDropout.copy() as? Dropout ?? other.outputDropout
    }

    public var width: Int { projection.outFeatures }
    public var dropout: Float { attentionDropout.probability }

    public var isTraining: Bool {
        get { qkv.isTraining }
        set {
            for layer: Layer in [qkv, projection, attentionDropout, outputDropout] { layer.isTraining = newValue }
        }
    }

    public var description: String {
        "SelfAttention(\(width), heads: \(heads)\(causal ? ", causal" : "")\(dropout > 0 ? ", dropout \(dropout)" : ""))"
    }

    public var children: [(name: String, layer: Layer)] { [("c_attn", qkv), ("c_proj", projection)] }

    public func replaceChild(_ name: String, with layer: Layer) throws {
        guard let linear = layer as? Linear else {
            throw TensorError("replace", "\(name) of self-attention must stay a Linear, not \(layer.briefDescription)")
        }
        switch name {
        case "c_attn": qkv = linear
        case "c_proj": projection = linear
        default: throw TensorError("replace", "self-attention has no child '\(name)'")
        }
    }

    public var namedParameters: [(name: String, variable: Variable)] {
        qkv.namedParameters.map { ("c_attn.\($0.name)", $0.variable) }
            + projection.namedParameters.map { ("c_proj.\($0.name)", $0.variable) }
    }

    public func copy() -> Layer { copy(using: LayerCopier()) }
    public func copy(using copier: LayerCopier) -> Layer {
        SelfAttention(
            copying: self, qkv: copier.copy(qkv) as? Linear ?? qkv, projection: copier.copy(projection) as? Linear ?? projection)
    }

    public func forward(_ input: Variable) throws -> Variable {
        var cache: KeyValueCache?
        return try forward(input, cache: &cache)
    }

    /// The forward pass; with a cache, `input` holds only the newest positions, and their keys
    /// and values join the cache's, so generation costs one position's work per token.
    public func forward(_ input: Variable, cache: inout KeyValueCache?) throws -> Variable {
        guard input.value.rank == 3, input.shape[2] == width else {
            throw TensorError("self_attention", "expected [N, T, \(width)], got \(formatShape(input.shape))")
        }
        let op = Op("attention", [("heads", .int(heads)), ("causal", .bool(causal))])
        let parameters = [qkv.weight] + [qkv.bias, projection.weight, projection.bias].compactMap { $0 }
        return try Tape.group(op, inputs: [input] + parameters, owner: self) {
            let (n, t) = (input.shape[0], input.shape[1])
            let size = width / heads
            let fused = try qkv(input)
            func split(_ part: Int) throws -> Variable {
                try fused.sliced([SliceRange(), SliceRange(), SliceRange(start: part * width, end: (part + 1) * width)])
                    .reshaped([n, t, heads, size]).permuted([0, 2, 1, 3])
            }
            var (q, k, v) = (try split(0), try split(1), try split(2))
            var past = 0
            if let previous = cache {
                past = previous.keys.shape[2]
                k = try Variable.concat([previous.keys, k], axis: 2)
                v = try Variable.concat([previous.values, v], axis: 2)
            }
            cache = KeyValueCache(keys: k, values: v)
            var scores = try q.matmul(k.transposed()) * (1 / Float(size).squareRoot())
            if causal {
                // Query i (at position past + i) sees keys 0...past + i.
                let keys = past + t
                let mask = Tensor(shape: [t, keys]) { m in
                    for i in 0..<t { for j in 0..<keys { m[i * keys + j] = j <= past + i ? 1 : 0 } }
                }
                scores = try Variable.select(Variable(mask), scores, Variable(Tensor(-Float.infinity)))
            }
            let weights = try attentionDropout(try scores.softmax(axis: -1))
            lastWeights = weights
            let joined = try weights.matmul(v).permuted([0, 2, 1, 3]).reshaped([n, t, width])
            return try outputDropout(try projection(joined))
        }
    }
}

/// The keys and values a self-attention layer has seen, `[N, heads, T, d/h]` each.
public struct KeyValueCache {
    public var keys: Variable
    public var values: Variable
}
