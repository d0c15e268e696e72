import CRetortMath

/// The one caller of CRetortMath: erf, exp, GELU, ReLU, log-softmax's rows, layer norm's lanes,
/// small attention heads, the Adam and SGD updates, column sums and the linear layer's bias add, in
/// C so that the loops vectorise with AVX-512 or AVX2 and FMA where the CPU has them (the Swift
/// tensor core is compiled for the baseline x86-64, four lanes and no FMA).
public enum VectorMath {
    /// The widest vectors these loops use: 2 AVX-512, 1 AVX2 (both with FMA), 0 the baseline; what
    /// the CPU has unless lowered. Set it to compare the levels (tests, `retort bench --ab avx512`).
    public static var widest: Int {
        get { Int(retort_math_widest()) }
        set { retort_math_allow_widest(Int32(newValue)) }
    }

    /// erf within 1.9e-7 (a polynomial from `scripts/fit-erf`); ±1 beyond ±4, NaN stays NaN.
    static func erf(_ x: Float) -> Float { retort_erf(x) }

    /// exp within about two units in the last place on [-87, 88]; for the tests of GELU's derivative.
    static func exp(_ x: Float) -> Float { retort_exp(x) }

    /// GELU's output x · Φ(x), Φ(x) = ½(1 + erf(x/√2)).
    static func gelu(_ x: Tensor) -> Tensor {
        x.withUnsafeBufferPointer { px in
            Tensor(shape: x.shape) { po in
                blocks(px.count) { r in
                    let at = r.lowerBound
                    retort_gelu(px.baseAddress! + at, r.count, po.baseAddress! + at, nil)
                }
            }
        }
    }

    /// GELU's output and Φ(x), which its backward pass needs.
    static func geluKeepingCDF(_ x: Tensor) -> (output: Tensor, cdf: Tensor) {
        var cdf = Tensor.unfilled(x.shape)  // written whole below
        let output = x.withUnsafeBufferPointer { px in
            cdf.withUnsafeMutableBufferPointer { pc in
                Tensor(shape: x.shape) { po in
                    blocks(px.count) { r in
                        let at = r.lowerBound
                        retort_gelu(px.baseAddress! + at, r.count, po.baseAddress! + at, pc.baseAddress! + at)
                    }
                }
            }
        }
        return (output, cdf)
    }

    /// GELU's input gradient g · (Φ(x) + x · φ(x)), φ the standard normal density.
    static func geluBackward(_ g: Tensor, x: Tensor, cdf: Tensor) -> Tensor {
        g.withUnsafeBufferPointer { pg in
            x.withUnsafeBufferPointer { px in
                cdf.withUnsafeBufferPointer { pc in
                    Tensor(shape: x.shape) { pd in
                        blocks(px.count) { r in
                            let at = r.lowerBound
                            retort_gelu_backward(
                                pg.baseAddress! + at, px.baseAddress! + at, pc.baseAddress! + at, r.count, pd.baseAddress! + at)
                        }
                    }
                }
            }
        }
    }

    /// log-softmax of each row of `n` values of `x` (the last axis), as `Tensor.logSoftmax` computes
    /// it, with the exponentials as a polynomial (within about two units in the last place of
    /// `expf`); rows split over Parallel's threads, each computed as on one.
    static func logSoftmaxRows(_ x: Tensor, n: Int) -> Tensor {
        x.withUnsafeBufferPointer { px in
            Tensor(shape: x.shape) { po in
                rowRanges(px.count / n, n: n) { r in
                    retort_log_softmax_rows(px.baseAddress! + r.lowerBound * n, r.count, n, po.baseAddress! + r.lowerBound * n)
                }
            }
        }
    }

    /// Its input gradient g − exp(y) · Σ g per row, from the output `y`.
    static func logSoftmaxBackwardRows(_ g: Tensor, output y: Tensor, n: Int) -> Tensor {
        g.withUnsafeBufferPointer { pg in
            y.withUnsafeBufferPointer { py in
                Tensor(shape: y.shape) { pd in
                    rowRanges(py.count / n, n: n) { r in
                        let at = r.lowerBound * n
                        retort_log_softmax_backward_rows(
                            pg.baseAddress! + at, py.baseAddress! + at, r.count, n, pd.baseAddress! + at)
                    }
                }
            }
        }
    }

    /// ReLU, x < 0 ? 0 : x: NaN and -0 pass through, as in PyTorch.
    static func relu(_ x: Tensor) -> Tensor {
        x.withUnsafeBufferPointer { px in
            Tensor(shape: x.shape) { po in
                blocks(px.count) { r in
                    let at = r.lowerBound
                    retort_relu(px.baseAddress! + at, r.count, po.baseAddress! + at)
                }
            }
        }
    }

    /// ReLU's input gradient, x <= 0 ? 0 : g: a NaN input passes its gradient, as PyTorch's
    /// `threshold_backward` does.
    static func reluBackward(_ g: Tensor, x: Tensor) -> Tensor {
        g.withUnsafeBufferPointer { pg in
            x.withUnsafeBufferPointer { px in
                Tensor(shape: x.shape) { pd in
                    blocks(px.count) { r in
                        let at = r.lowerBound
                        retort_relu_backward(pg.baseAddress! + at, px.baseAddress! + at, r.count, pd.baseAddress! + at)
                    }
                }
            }
        }
    }

    /// Layer normalisation of the lanes `lanes` (each `size` values) of `x`: the normalised values,
    /// the output (times `weight`, plus `bias`, when given) and each lane's 1/√(var + eps).
    static func layerNorm(
        _ x: UnsafePointer<Float>, lanes: Range<Int>, size: Int, eps: Float, weight: UnsafePointer<Float>?,
        bias: UnsafePointer<Float>?, normalized: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>,
        reciprocals: UnsafeMutablePointer<Float>
    ) {
        let at = lanes.lowerBound * size
        retort_layer_norm(
            x + at, lanes.count, size, eps, weight, bias, normalized + at, out + at, reciprocals + lanes.lowerBound)
    }

    /// Layer normalisation's input gradient for the lanes `lanes`, from the output gradient `g`, the
    /// normalised values and reciprocals of the forward pass, and the weight when there is one.
    static func layerNormBackward(
        _ g: UnsafePointer<Float>, normalized: UnsafePointer<Float>, reciprocals: UnsafePointer<Float>,
        lanes: Range<Int>, size: Int, weight: UnsafePointer<Float>?, into dx: UnsafeMutablePointer<Float>
    ) {
        let at = lanes.lowerBound * size
        retort_layer_norm_backward(
            g + at, normalized + at, reciprocals + lanes.lowerBound, lanes.count, size, weight, dx + at)
    }

    /// One (image, head) pair of attention (`retort_attention_head`): `rows` the pair's queries, its
    /// keys `inner` after and values `2·inner` after, rows `stride` apart; the weights into `p`
    /// `[t, t]`, the output into rows `outStride` apart. `scratch`: `t·size` floats.
    static func attentionHead(
        _ rows: UnsafePointer<Float>, inner: Int, stride: Int, t: Int, size: Int, scale: Float, causal: Bool,
        weights p: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>, outStride: Int,
        scratch: UnsafeMutablePointer<Float>
    ) {
        retort_attention_head(
            rows, rows + inner, rows + 2 * inner, stride, t, size, scale, causal ? 1 : 0, p, out, outStride, scratch)
    }

    /// One (image, head) pair of a decoding step with a key-value cache
    /// (`retort_attention_head_cached`): `t` queries, rows `queryStride` apart, against `keys` keys
    /// and values, rows `size` apart, the queries the last `t` positions; the weights into `p`
    /// `[t, keys]`, the output into rows `outStride` apart. `scratch`: `keys·size` floats.
    static func attentionHeadCached(
        queries q: UnsafePointer<Float>, queryStride: Int, keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>,
        t: Int, keys count: Int, size: Int, scale: Float, causal: Bool, weights p: UnsafeMutablePointer<Float>,
        out: UnsafeMutablePointer<Float>, outStride: Int, scratch: UnsafeMutablePointer<Float>
    ) {
        retort_attention_head_cached(
            q, queryStride, k, v, size, t, count, size, scale, causal ? 1 : 0, p, out, outStride, scratch)
    }

    /// Its backward (`retort_attention_head_backward`) from `go`, the output's gradient (rows
    /// `goStride` apart), into `into`'s query, key and value columns laid out as `rows`'s.
    /// `scratch`: `t·size + t·t` floats.
    static func attentionHeadBackward(
        _ rows: UnsafePointer<Float>, inner: Int, stride: Int, weights p: UnsafePointer<Float>,
        gradient go: UnsafePointer<Float>, goStride: Int, t: Int, size: Int, scale: Float,
        into grad: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>
    ) {
        retort_attention_head_backward(
            rows, rows + inner, rows + 2 * inner, stride, p, go, goStride, t, size, scale, grad, grad + inner,
            grad + 2 * inner, scratch)
    }

    /// Adam's (AdamW's when `decoupled`) update of the values `range` of `w` and its moments `m`, `v`
    /// from the gradient `g`, bias correction folded into `stepSize` and `rootCorrection2`.
    public static func adam(
        _ w: UnsafeMutablePointer<Float>, m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>,
        gradient g: UnsafePointer<Float>, range: Range<Int>,
        settings: (lr: Float, beta1: Float, beta2: Float, eps: Float, weightDecay: Float, decoupled: Bool),
        stepSize: Float, rootCorrection2: Float
    ) {
        let at = range.lowerBound
        retort_adam(
            w + at, m + at, v + at, g + at, range.count, settings.lr, settings.beta1, settings.beta2, settings.eps,
            settings.weightDecay, settings.decoupled ? 1 : 0, stepSize, rootCorrection2)
    }

    /// SGD with momentum `mu` (Nesterov's when `nesterov`) over the values `range` of `w` and its
    /// velocity `b` from the gradient `g`; `first` for the first step, where the velocity is the gradient.
    public static func sgdMomentum(
        _ w: UnsafeMutablePointer<Float>, velocity b: UnsafeMutablePointer<Float>, gradient g: UnsafePointer<Float>,
        range: Range<Int>, settings: (lr: Float, momentum: Float, weightDecay: Float, nesterov: Bool), first: Bool
    ) {
        let at = range.lowerBound
        retort_sgd_momentum(
            w + at, b + at, g + at, range.count, settings.lr, settings.momentum, settings.weightDecay, first ? 1 : 0,
            settings.nesterov ? 1 : 0)
    }

    /// Column sums (`retort_column_sums`): `out[j]` = the sum over `rows` rows, `stride` apart, of
    /// `a`'s column j (times `b`'s, elementwise, when given), for j < `columns`; each in row order.
    static func columnSums(
        _ a: UnsafePointer<Float>, times b: UnsafePointer<Float>?, rows: Int, stride: Int, columns: Int,
        into out: UnsafeMutablePointer<Float>
    ) {
        retort_column_sums(a, b, rows, stride, columns, out)
    }

    /// Adds `row` to each of `rows` rows of `columns` values at `out`; with `relu`, then ReLU in the
    /// same pass (and with no row, ReLU alone).
    static func addRow(
        _ row: UnsafePointer<Float>?, columns: Int, rows: Int, to out: UnsafeMutablePointer<Float>, relu: Bool = false
    ) {
        if relu {
            retort_add_row_relu(row, columns, rows, out)
        } else if let row {
            retort_add_row(row, columns, rows, out)
        }
    }

    /// Rows `rows` of `c = alpha * x @ weightsᵀ + beta * c` (`retort_narrow_product`): `x` m×k,
    /// `weights` n×k with its rows `weightStride` (at least k) apart (a few rows: the loop takes them
    /// 15 at a time), `c` m×n.
    static func narrowProduct(
        rows: Range<Int>, n: Int, k: Int, x: UnsafePointer<Float>, weights: UnsafePointer<Float>, weightStride: Int,
        c: UnsafeMutablePointer<Float>, alpha: Float, beta: Float
    ) {
        retort_narrow_product(
            rows.count, n, k, x + rows.lowerBound * k, weights, weightStride, alpha, beta, c + rows.lowerBound * n)
    }

    /// Calls `body` on ranges of rows covering `0..<rows`, split over Parallel's threads when the
    /// rows hold enough work (about 20 operations a value).
    private static func rowRanges(_ rows: Int, n: Int, _ body: (Range<Int>) -> Void) {
        guard rows > 0 else { return }
        Parallel.forEach(rows, cost: rows * n * 20, body)
    }

    /// Calls `body` on ranges covering `0..<count`, split over Parallel's threads when the buffer is
    /// large enough (about 20 operations a value). Each range but the last starts and ends on a
    /// multiple of 64, so the vector loops and their scalar tails see the values they would in one
    /// call: the same bits at any thread count.
    private static func blocks(_ count: Int, _ body: (Range<Int>) -> Void) {
        Parallel.forEachBlock(count, cost: count * 20, body)
    }
}
