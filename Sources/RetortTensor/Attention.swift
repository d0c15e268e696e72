import Foundation

/// Scaled dot-product attention over every head as one primitive with its own derivative.
public enum Attention {
    /// softmax(q kᵀ / √d) v for each head, read straight from the fused projection `qkv`
    /// `[N, T, 3·inner]` (queries, then keys, then values, each `heads` blocks of d = inner / heads
    /// features) and written as `[N, T, inner]`, heads side by side: what slicing, permuting,
    /// transposing, masking and the two batched products compute, in one pass per head with the
    /// head's rows packed for BLAS. Causal attention lets position i see positions 0...i. Returns
    /// the attention weights `[N, heads, T, T]` too (masked entries 0).
    ///
    /// With p the weights and g the output's gradient, per head: dv = pᵀ g; dp = g vᵀ;
    /// ds = p ⊙ (dp − Σⱼ dp ⊙ p) / √d; dq = ds k; dk = dsᵀ q.
    public static func heads(_ qkv: Variable, heads: Int, causal: Bool) throws -> (output: Variable, weights: Tensor) {
        guard qkv.value.rank == 3, heads >= 1, qkv.shape[2] % (3 * heads) == 0 else {
            throw TensorError(
                .shape, "attention", "expected [N, T, 3·heads·d] for \(heads) heads, got \(formatShape(qkv.shape))")
        }
        let (n, t, inner) = (qkv.shape[0], qkv.shape[1], qkv.shape[2] / 3)
        let size = inner / heads
        let scale = 1 / Float(size).squareRoot()
        try MemoryBudget.check("attention", [n, heads, t, t])
        let source = qkv.value
        // Every entry of both is written below (masked weights as 0).
        var weights = Tensor.unfilled([n, heads, t, t])
        var output = Tensor.unfilled([n, t, inner])
        // Each (image, head) pair writes its own weights and output columns, so the pairs are shared
        // out over Parallel's threads, each with its own packed buffers: the same bits at any count.
        let cost = n * heads * t * t * size * 4
        // Small heads (the gpt on names: t = size = 16) go through loops in C, where a BLAS call per
        // product cost more than its arithmetic; larger ones through BLAS's blocked GEMMs.
        let inLoops = t * t * size < smallHead
        source.withUnsafeBufferPointer { ps in
            weights.withUnsafeMutableBufferPointer { pw in
                output.withUnsafeMutableBufferPointer { po in
                    let (ps, pw, po) = (ps.baseAddress!, pw.baseAddress!, po.baseAddress!)
                    Parallel.forEach(n * heads, cost: cost) { pairs in
                        if inLoops {
                            var scratch = [Float](repeating: 0, count: t * size)
                            scratch.withUnsafeMutableBufferPointer { buffer in
                                for pair in pairs {
                                    let (b, h) = pair.quotientAndRemainder(dividingBy: heads)
                                    VectorMath.attentionHead(
                                        ps + b * t * 3 * inner + h * size, inner: inner, stride: 3 * inner, t: t,
                                        size: size, scale: scale, causal: causal, weights: pw + pair * t * t,
                                        out: po + b * t * inner + h * size, outStride: inner, scratch: buffer.baseAddress!)
                                }
                            }
                            return
                        }
                        var q = [Float](repeating: 0, count: t * size), k = q, v = q, o = q
                        for pair in pairs {
                            let (b, h) = pair.quotientAndRemainder(dividingBy: heads)
                            let rows = ps + b * t * 3 * inner + h * size
                            pack(rows, stride: 3 * inner, t: t, size: size, into: &q)
                            pack(rows + inner, stride: 3 * inner, t: t, size: size, into: &k)
                            pack(rows + 2 * inner, stride: 3 * inner, t: t, size: size, into: &v)
                            let p = pw + pair * t * t
                            BLAS.gemm(m: t, n: t, k: size, a: q, b: k, transposeB: true, c: p, alpha: scale)
                            softmaxRows(p, t: t, causal: causal)
                            BLAS.gemm(m: t, n: size, k: t, a: p, b: v, c: &o)
                            unpack(o, into: po + b * t * inner + h * size, stride: inner, t: t, size: size)
                        }
                    }
                }
            }
        }
        let attention = weights
        let result = Variable.make(output, [qkv], op: Op("attention_heads", [("heads", .int(heads)), ("causal", .bool(causal))]))
        {
            g in
            var grad = Tensor.unfilled([n, t, 3 * inner])  // every head's dq, dk and dv columns
            source.withUnsafeBufferPointer { ps in
                attention.withUnsafeBufferPointer { pw in
                    g.withUnsafeBufferPointer { pg in
                        grad.withUnsafeMutableBufferPointer { pd in
                            let (ps, pw, pg, pd) = (ps.baseAddress!, pw.baseAddress!, pg.baseAddress!, pd.baseAddress!)
                            Parallel.forEach(n * heads, cost: 2 * cost) { pairs in
                                if inLoops {
                                    var scratch = [Float](repeating: 0, count: t * size + t * t)
                                    scratch.withUnsafeMutableBufferPointer { buffer in
                                        for pair in pairs {
                                            let (b, h) = pair.quotientAndRemainder(dividingBy: heads)
                                            let offset = b * t * 3 * inner + h * size
                                            VectorMath.attentionHeadBackward(
                                                ps + offset, inner: inner, stride: 3 * inner, weights: pw + pair * t * t,
                                                gradient: pg + b * t * inner + h * size, goStride: inner, t: t,
                                                size: size, scale: scale, into: pd + offset, scratch: buffer.baseAddress!)
                                        }
                                    }
                                    return
                                }
                                var q = [Float](repeating: 0, count: t * size), k = q, v = q, go = q, dq = q, dk = q, dv = q
                                var dp = [Float](repeating: 0, count: t * t)
                                for pair in pairs {
                                    let (b, h) = pair.quotientAndRemainder(dividingBy: heads)
                                    let offset = b * t * 3 * inner + h * size
                                    let rows = ps + offset
                                    pack(rows, stride: 3 * inner, t: t, size: size, into: &q)
                                    pack(rows + inner, stride: 3 * inner, t: t, size: size, into: &k)
                                    pack(rows + 2 * inner, stride: 3 * inner, t: t, size: size, into: &v)
                                    pack(pg + b * t * inner + h * size, stride: inner, t: t, size: size, into: &go)
                                    let p = pw + pair * t * t
                                    BLAS.gemm(m: t, n: size, k: t, a: p, transposeA: true, b: go, c: &dv)
                                    BLAS.gemm(m: t, n: t, k: size, a: go, b: v, transposeB: true, c: &dp)
                                    for i in 0..<t {
                                        var dot: Float = 0
                                        for j in 0..<t { dot += dp[i * t + j] * p[i * t + j] }
                                        for j in 0..<t { dp[i * t + j] = p[i * t + j] * (dp[i * t + j] - dot) * scale }
                                    }
                                    BLAS.gemm(m: t, n: size, k: t, a: dp, b: k, c: &dq)
                                    BLAS.gemm(m: t, n: size, k: t, a: dp, transposeA: true, b: q, c: &dk)
                                    let into = pd + offset
                                    unpack(dq, into: into, stride: 3 * inner, t: t, size: size)
                                    unpack(dk, into: into + inner, stride: 3 * inner, t: t, size: size)
                                    unpack(dv, into: into + 2 * inner, stride: 3 * inner, t: t, size: size)
                                }
                            }
                        }
                    }
                }
            }
            return [grad]
        }
        return (result, weights)
    }

    /// The size (`t·t·size` multiply-adds per product) below which a head goes through
    /// `VectorMath.attentionHead`'s loops rather than BLAS; tests move it to check both.
    nonisolated(unsafe) static var smallHead = 1 << 17

    /// Copies `t` rows of `size` values, `stride` apart, into a packed `[t, size]` buffer. A loop,
    /// not a memmove call per row: a head's row is a few dozen bytes, where the call costs more
    /// than the copy (memmove was 6% of the gpt step's profile).
    private static func pack(_ rows: UnsafePointer<Float>, stride: Int, t: Int, size: Int, into packed: inout [Float]) {
        packed.withUnsafeMutableBufferPointer { out in
            for i in 0..<t {
                let (from, to) = (rows + i * stride, out.baseAddress! + i * size)
                for j in 0..<size { to[j] = from[j] }
            }
        }
    }

    private static func unpack(_ packed: [Float], into rows: UnsafeMutablePointer<Float>, stride: Int, t: Int, size: Int) {
        packed.withUnsafeBufferPointer { source in
            for i in 0..<t {
                let (from, to) = (source.baseAddress! + i * size, rows + i * stride)
                for j in 0..<size { to[j] = from[j] }
            }
        }
    }

    /// softmax of each row of a `[t, t]` score block, as `Tensor.softmax` computes it; with `causal`,
    /// row i over its first i + 1 entries and 0 after them (what −∞ scores give).
    private static func softmaxRows(_ p: UnsafeMutablePointer<Float>, t: Int, causal: Bool) {
        for i in 0..<t {
            let row = p + i * t
            let visible = causal ? i + 1 : t
            var largest = -Float.infinity
            for j in 0..<visible { largest = Swift.max(largest, row[j]) }
            guard let peak = softmaxShift(largest: largest) else {
                for j in 0..<t { row[j] = .nan }
                continue
            }
            var total: Float = 0
            for j in 0..<visible {
                let e = expf(row[j] - peak)
                row[j] = e
                total += e
            }
            let reciprocal = 1 / total
            for j in 0..<visible { row[j] *= reciprocal }
            for j in visible..<t { row[j] = 0 }
        }
    }
}
