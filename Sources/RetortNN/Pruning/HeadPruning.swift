import RetortTensor

/// Structured pruning of attention heads (Michel et al. 2019, "Are Sixteen Heads Really Better than
/// One?"): a head goes with its query, key and value rows of `c_attn` and its columns of `c_proj`.
/// The layer's output keeps the model's width, so nothing outside it changes.
public enum HeadPruning {
    /// The self-attention layers a model holds, by their module names.
    public static func layers(_ model: Layer) -> [(name: String, layer: SelfAttention)] {
        model.namedModules.compactMap { entry in (entry.layer as? SelfAttention).map { (entry.name, $0) } }
    }

    /// Each head's importance: the sum of `qkv` (an importance per entry of c_attn's weight) over the
    /// head's query, key and value rows, and of `projection` (per entry of c_proj's) over its columns.
    public static func scores(_ attention: SelfAttention, qkv: Tensor, projection: Tensor) -> [Float] {
        let (size, inner, width) = (attention.headSize, attention.innerWidth, attention.width)
        let fused = qkv.scalars
        let out = projection.scalars
        return (0..<attention.heads).map { h in
            var total: Float = 0
            for part in 0..<3 {
                for row in (part * inner + h * size)..<(part * inner + (h + 1) * size) {
                    for c in 0..<width { total += fused[row * width + c] }
                }
            }
            for r in 0..<width {
                for c in (h * size)..<((h + 1) * size) { total += out[r * inner + c] }
            }
            return total
        }
    }

    /// Keeps, for each layer named, the heads given, and puts the smaller layers in place. Returns
    /// the weights whose shapes changed.
    public static func apply(_ model: Layer, keeping kept: [ObjectIdentifier: [Int]]) throws -> [ChannelPruning.Change] {
        var replacements: [ObjectIdentifier: Layer] = [:]
        var changes: [ChannelPruning.Change] = []
        for (name, attention) in layers(model) {
            guard let heads = kept[ObjectIdentifier(attention)], heads.count < attention.heads else { continue }
            let made = try attention.keeping(heads: heads.sorted())
            replacements[ObjectIdentifier(attention)] = made
            let prefix = name.isEmpty ? "" : name + "."
            for (before, after) in zip(attention.namedParameters, made.namedParameters) where before.variable.shape != after.variable.shape {
                changes.append(.init(name: prefix + before.name, before: before.variable.shape, after: after.variable.shape))
            }
        }
        try model.rewrite { layer, _ in replacements[ObjectIdentifier(layer)] }
        return changes
    }
}
