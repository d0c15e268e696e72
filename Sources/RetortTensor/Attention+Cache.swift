extension Attention {
    /// One decoding step of attention with a key-value cache, for inference (no gradient flows
    /// through it): the newest positions' queries, keys and values in `qkv` `[N, t, 3·inner]` (as
    /// `heads` reads them), the cache's keys and values `[N, heads, past, d]` (nil before the first
    /// step). Query i is position past + i and, when `causal`, sees keys 0...past + i. Returns the
    /// output `[N, t, inner]`, the attention weights `[N, heads, t, past + t]` (masked entries 0)
    /// and the cache with the new keys and values after the old: what the composite's slices,
    /// permutes, concatenations, masked softmax and batched products give, in one pass per head
    /// (`VectorMath.attentionHeadCached`), the (image, head) pairs over Parallel's threads.
    public static func cachedHeads(_ qkv: Tensor, keys: Tensor?, values: Tensor?, heads: Int, causal: Bool) throws -> (
        output: Tensor, weights: Tensor, keys: Tensor, values: Tensor
    ) {
        guard qkv.rank == 3, heads >= 1, qkv.shape[2] % (3 * heads) == 0, qkv.count > 0 else {
            throw TensorError(
                .shape, "attention", "expected [N, T, 3·heads·d] for \(heads) heads, got \(formatShape(qkv.shape))")
        }
        let (n, t, inner) = (qkv.shape[0], qkv.shape[1], qkv.shape[2] / 3)
        let size = inner / heads
        let past = keys?.shape[2] ?? 0
        for (name, cached) in [("keys", keys), ("values", values)] {
            let expected = [n, heads, past, size]
            guard (cached?.shape ?? expected) == expected, (cached == nil) == (keys == nil) else {
                throw TensorError(
                    .shape, "attention",
                    "cached \(name) \(cached.map { formatShape($0.shape) } ?? "missing") do not match \(formatShape(expected))")
            }
        }
        let s = past + t
        try MemoryBudget.check("attention", [n, heads, t, s])
        // Every entry of each is written below.
        var (newKeys, newValues) = (Tensor.unfilled([n, heads, s, size]), Tensor.unfilled([n, heads, s, size]))
        var weights = Tensor.unfilled([n, heads, t, s])
        var output = Tensor.unfilled([n, t, inner])
        let scale = 1 / Float(size).squareRoot()
        // The cache is only read; LayerNorm reads its optional weight and bias the same way.
        let (oldKeys, oldValues) = (keys?.storage.pointer, values?.storage.pointer)
        qkv.withUnsafeBufferPointer { source in
            newKeys.withUnsafeMutableBufferPointer { nk in
                newValues.withUnsafeMutableBufferPointer { nv in
                    weights.withUnsafeMutableBufferPointer { pw in
                        output.withUnsafeMutableBufferPointer { po in
                            let (ps, nk, nv, pw, po) = (
                                source.baseAddress!, nk.baseAddress!, nv.baseAddress!, pw.baseAddress!,
                                po.baseAddress!
                            )
                            Parallel.forEach(n * heads, cost: n * heads * (t * s * size * 4 + s * size)) { pairs in
                                var scratch = [Float](repeating: 0, count: s * size)
                                for pair in pairs {
                                    let (b, h) = pair.quotientAndRemainder(dividingBy: heads)
                                    let (k, v) = (nk + pair * s * size, nv + pair * s * size)
                                    if let oldKeys, let oldValues {
                                        k.update(from: oldKeys + pair * past * size, count: past * size)
                                        v.update(from: oldValues + pair * past * size, count: past * size)
                                    }
                                    for i in 0..<t {
                                        let row = ps + (b * t + i) * 3 * inner + h * size
                                        (k + (past + i) * size).update(from: row + inner, count: size)
                                        (v + (past + i) * size).update(from: row + 2 * inner, count: size)
                                    }
                                    scratch.withUnsafeMutableBufferPointer { buffer in
                                        VectorMath.attentionHeadCached(
                                            queries: ps + b * t * 3 * inner + h * size, queryStride: 3 * inner,
                                            keys: k, values: v, t: t, keys: s, size: size, scale: scale,
                                            causal: causal, weights: pw + pair * t * s,
                                            out: po + b * t * inner + h * size, outStride: inner,
                                            scratch: buffer.baseAddress!)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return (output, weights, newKeys, newValues)
    }
}
