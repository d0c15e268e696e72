import Foundation
import RetortTensor

/// Multi-head self-attention with one fused projection to queries, keys and values (nanoGPT's
/// `CausalSelfAttention`): `c_attn` `[3d, d]` splits into q, k, v, each split into heads of d/h;
/// softmax(q·kᵀ/√(d/h)) over the keys, future keys masked out when causal (the numerics of
/// `F.scaled_dot_product_attention`), the heads joined and projected by `c_proj`. Dropout on the
/// attention weights and on the output while training, as nanoGPT's `attn_dropout` and `resid_dropout`.
///
/// The projections are Linear layers, or what quantisation puts in their place (a `FakeQuantized`
/// Linear, a `QuantizedLinear`), under the same names. Head pruning removes whole heads: the heads
/// keep their size d/h, so the layer's inner width (heads × head size) may then be less than d.
public final class SelfAttention: Layer {
    public private(set) var qkv: Layer
    public private(set) var projection: Layer
    public let width: Int
    public let heads: Int
    /// The width of one head: d/h as built, unchanged by head pruning.
    public let headSize: Int
    public let causal: Bool
    let attentionDropout: Dropout
    let outputDropout: Dropout
    /// The attention weights `[N, heads, T, T]` of the last forward pass, for losses that match
    /// attention maps (TinyBERT); nil before the first.
    public internal(set) var lastWeights: Variable?
    /// Whether `lastWeights` must carry gradients (a loss matching attention maps, `attentions()`
    /// in it): the forward pass then takes the composite path, whose weights are in the graph.
    /// The fused primitive (`Attention.heads`) gives the same values with weights cut off from it,
    /// and an attention_mse term once trained nothing.
    public var keepsWeightGraph = false

    public init(
        _ width: Int, heads: Int, causal: Bool = true, dropout: Float = 0, generator: inout RandomGenerator
    ) throws {
        guard heads >= 1, width % heads == 0 else {
            throw TensorError(.argument, "self_attention", "\(heads) heads do not divide the width \(width)")
        }
        qkv = Linear(width, 3 * width, generator: &generator)
        projection = Linear(width, width, generator: &generator)
        self.width = width
        self.heads = heads
        headSize = width / heads
        self.causal = causal
        attentionDropout = Dropout(dropout, generator: &generator)
        outputDropout = Dropout(dropout, generator: &generator)
    }

    private init(copying other: SelfAttention, qkv: Layer, projection: Layer, heads: Int? = nil) {
        self.qkv = qkv
        self.projection = projection
        width = other.width
        self.heads = heads ?? other.heads
        headSize = other.headSize
        causal = other.causal
        attentionDropout = other.attentionDropout.copy() as? Dropout ?? other.attentionDropout
        outputDropout = other.outputDropout.copy() as? Dropout ?? other.outputDropout
    }

    public var dropout: Float { attentionDropout.probability }

    /// The width the heads together produce: heads × head size (the model's width until heads are pruned).
    public var innerWidth: Int { heads * headSize }

    /// A copy keeping only the given heads, in order: their query, key and value rows of c_attn and
    /// their columns of c_proj. The projections must be float Linear layers.
    public func keeping(heads kept: [Int]) throws -> SelfAttention {
        guard let fused = qkv as? Linear, let out = projection as? Linear else {
            throw TensorError(
                .argument, "prune", "the heads of a self-attention whose projections are not float Linear layers cannot be pruned"
            )
        }
        guard !kept.isEmpty, kept.allSatisfy({ (0..<heads).contains($0) }), Set(kept).count == kept.count else {
            throw TensorError(.argument, "prune", "kept heads must be at least one, each in 0..<\(heads), none twice")
        }
        let features = kept.flatMap { h in (h * headSize)..<((h + 1) * headSize) }
        let rows = (0..<3).flatMap { part in features.map { part * innerWidth + $0 } }
        let made = SelfAttention(
            copying: self, qkv: fused.keeping(outputs: rows, inputs: nil),
            projection: out.keeping(outputs: nil, inputs: features),
            heads: kept.count)
        made.isTraining = isTraining
        return made
    }

    public var isTraining: Bool {
        get { qkv.isTraining }
        set {
            for layer: Layer in [qkv, projection, attentionDropout, outputDropout] { layer.isTraining = newValue }
        }
    }

    public var description: String {
        "SelfAttention(\(width), heads: \(heads)\(innerWidth != width ? " of size \(headSize)" : "")\(causal ? ", causal" : "")\(dropout > 0 ? ", dropout \(dropout)" : ""))"
    }

    public var children: [(name: String, layer: Layer)] { [("c_attn", qkv), ("c_proj", projection)] }

    /// Puts a projection of the same size in place: a Linear, or the same Linear prepared for
    /// quantisation or made int8.
    public func replaceChild(_ name: String, with layer: Layer) throws {
        let features: (in: Int, out: Int)
        switch name {
        case "c_attn": features = (width, 3 * innerWidth)
        case "c_proj": features = (innerWidth, width)
        default: throw TensorError(.argument, "replace", "self-attention has no child '\(name)'")
        }
        guard let shape = Self.linearShape(of: layer), shape == [features.out, features.in] else {
            throw TensorError(
                .argument, "replace",
                "\(name) of self-attention must stay a linear layer \(features.in) → \(features.out) (float, prepared for "
                    + "quantisation or int8), not \(layer.briefDescription)")
        }
        if name == "c_attn" { qkv = layer } else { projection = layer }
    }

    /// The weight shape `[out, in]` of a Linear in any of its quantisation stages, nil for other layers.
    private static func linearShape(of layer: Layer) -> [Int]? {
        switch layer {
        case let linear as Linear: return linear.weight.shape
        case let prepared as FakeQuantized: return prepared.inner is Linear ? prepared.inner.weight.shape : nil
        case let int8 as QuantizedLinear: return int8.weights.shape
        default: return nil
        }
    }

    public var namedParameters: [(name: String, variable: Variable)] {
        qkv.namedParameters.map { ("c_attn.\($0.name)", $0.variable) }
            + projection.namedParameters.map { ("c_proj.\($0.name)", $0.variable) }
    }

    // A quantised projection keeps its state as buffers: its input range, int8 weights and scales.
    public var namedBuffers: [(name: String, tensor: Tensor)] {
        qkv.namedBuffers.map { ("c_attn.\($0.name)", $0.tensor) }
            + projection.namedBuffers.map { ("c_proj.\($0.name)", $0.tensor) }
    }

    public var namedInt8Buffers: [(name: String, tensor: Tensor)] {
        qkv.namedInt8Buffers.map { ("c_attn.\($0.name)", $0.tensor) }
            + projection.namedInt8Buffers.map { ("c_proj.\($0.name)", $0.tensor) }
    }

    public func setBuffer(_ name: String, _ tensor: Tensor) throws {
        if name.hasPrefix("c_attn.") {
            try qkv.setBuffer(String(name.dropFirst("c_attn.".count)), tensor)
        } else if name.hasPrefix("c_proj.") {
            try projection.setBuffer(String(name.dropFirst("c_proj.".count)), tensor)
        } else {
            throw TensorError(.argument, "load", "\(description) has no buffer named '\(name)'")
        }
    }

    public func copy() -> Layer { copy(using: LayerCopier()) }
    public func copy(using copier: LayerCopier) -> Layer {
        SelfAttention(copying: self, qkv: copier.copy(qkv), projection: copier.copy(projection))
    }

    public func forward(_ input: Variable) throws -> Variable {
        // Outside tracing and with no attention dropout drawing, every head runs as one primitive
        // (`Attention.heads`); a trace (whose composite the exporters read), a key-value cache or
        // active dropout on the weights takes the composite below. Both give the same values.
        if Tape.recorder == nil, !(attentionDropout.isTraining && attentionDropout.probability > 0),
            !(keepsWeightGraph && GradMode.isEnabled), input.value.rank == 3, input.shape[2] == width,
            input.value.count > 0, headSize > 0
        {
            let (joined, weights) = try Attention.heads(try qkv(input), heads: heads, causal: causal)
            lastWeights = Variable(weights)
            return try outputDropout(try projection(joined))
        }
        var cache: KeyValueCache?
        return try forward(input, cache: &cache)
    }

    /// The forward pass; with a cache, `input` holds only the newest positions, and their keys
    /// and values join the cache's, so generation costs one position's work per token. The step's
    /// attention weights go into the cache and, unless `keepsWeights` is false (threads decoding
    /// groups of samples through this layer at once), into `lastWeights`.
    public func forward(_ input: Variable, cache: inout KeyValueCache?, keepsWeights: Bool = true) throws -> Variable {
        guard input.value.rank == 3, input.shape[2] == width else {
            throw TensorError(.shape, "self_attention", "expected [N, T, \(width)], got \(formatShape(input.shape))")
        }
        // Decoding without gradients (generation), outside tracing and with no attention dropout
        // drawing: every head in one pass over the cache (`Attention.cachedHeads`), the same
        // values as the composite below up to the order of the sums.
        if Tape.recorder == nil, !GradMode.isEnabled, !(attentionDropout.isTraining && attentionDropout.probability > 0),
            input.value.count > 0, headSize > 0
        {
            let step = try Attention.cachedHeads(
                try qkv(input).value, keys: cache?.keys.value, values: cache?.values.value, heads: heads, causal: causal)
            let weights = Variable(step.weights)
            cache = KeyValueCache(keys: Variable(step.keys), values: Variable(step.values), weights: weights)
            if keepsWeights { lastWeights = weights }
            return try outputDropout(try projection(Variable(step.output)))
        }
        let op = Op("attention", [("heads", .int(heads)), ("causal", .bool(causal))])
        let parameters = namedParameters.map(\.variable)
        return try Tape.group(op, inputs: [input] + parameters, owner: self) {
            let (n, t) = (input.shape[0], input.shape[1])
            let (size, inner) = (headSize, innerWidth)
            let fused = try qkv(input)
            func split(_ part: Int) throws -> Variable {
                try fused.sliced([SliceRange(), SliceRange(), SliceRange(start: part * inner, end: (part + 1) * inner)])
                    .reshaped([n, t, heads, size]).permuted([0, 2, 1, 3])
            }
            var (q, k, v) = (try split(0), try split(1), try split(2))
            var past = 0
            if let previous = cache {
                past = previous.keys.shape[2]
                k = try Variable.concat([previous.keys, k], axis: 2)
                v = try Variable.concat([previous.values, v], axis: 2)
            }
            var made = KeyValueCache(keys: k, values: v)
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
            made.weights = weights
            cache = made
            if keepsWeights { lastWeights = weights }
            let joined = try weights.matmul(v).permuted([0, 2, 1, 3]).reshaped([n, t, inner])
            return try outputDropout(try projection(joined))
        }
    }
}

/// The keys and values a self-attention layer has seen, `[N, heads, T, d/h]` each.
public struct KeyValueCache {
    public var keys: Variable
    public var values: Variable
    /// The attention weights `[N, heads, t, past + t]` of the step that made this cache.
    public internal(set) var weights: Variable? = nil
}

extension SelfAttention {
    /// Runs `body` with every self-attention layer of `model` keeping its weights in the graph
    /// (when `keeping`), then as they were.
    public static func keepingWeightGraph<R>(in model: Layer, _ keeping: Bool = true, _ body: () throws -> R) rethrows -> R {
        guard keeping else { return try body() }
        let layers = model.modules(of: SelfAttention.self).map(\.layer)
        let before = layers.map(\.keepsWeightGraph)
        for layer in layers { layer.keepsWeightGraph = true }
        defer { for (layer, kept) in zip(layers, before) { layer.keepsWeightGraph = kept } }
        return try body()
    }
}

extension SelfAttention: HoldsDropouts {
    /// nanoGPT's names for them.
    public var dropouts: [(name: String, dropout: Dropout)] {
        [("attn_dropout", attentionDropout), ("resid_dropout", outputDropout)]
    }
}
