#ifndef RETORT_MATH_H
#define RETORT_MATH_H

#include <stddef.h>

/// The widest vectors the loops below use: 2 for AVX-512 (F, VL, BW, DQ) with FMA, 1 for AVX2 with
/// FMA, 0 for the baseline; what the CPU has, at most what retort_math_allow_widest allowed (2 at
/// first). Levels 1 and 2 give the same bits; level 0 (no FMA) can differ in the last bits (VectorMathTests).
int retort_math_widest(void);
/// Caps retort_math_widest at `level` (0 to 2), for tests comparing the levels and for
/// `retort bench --ab avx512`.
void retort_math_allow_widest(int level);

/// erf(x) as x * p(x^2), p of degree 16 fitted by scripts/fit-erf: within 1.9e-7 of erf; +-1 beyond
/// +-4, odd, NaN stays NaN.
float retort_erf(float x);

/// GELU in its erf form: out[i] = x[i] * cdf, cdf = (1 + erf(x[i] / sqrt 2)) / 2, for count elements.
/// When cdf_out is not NULL it receives each cdf, for the backward pass.
void retort_gelu(const float *x, size_t count, float *out, float *cdf_out);

/// GELU's backward: dx[i] = g[i] * (cdf[i] + x[i] * exp(-x[i]^2 / 2) / sqrt(2 pi)), with cdf from retort_gelu.
void retort_gelu_backward(const float *g, const float *x, const float *cdf, size_t count, float *dx);

/// exp(x) to about two units in the last place for x in [-87, 88] (0 below -87.3 would be 1e-38, and
/// +inf above 88.7 is FLT_MAX's neighbourhood: both clamp); NaN stays NaN. For tests of the above.
float retort_exp(float x);

/// Layer normalisation of `lanes` contiguous lanes of `size` values: normalized = (x - mean) r with
/// r = 1 / sqrt(var + eps) (each lane's sums in 8 running sums, added in lane order), out =
/// normalized * w + b (w, b may be NULL), and each lane's r into reciprocals.
void retort_layer_norm(const float *x, long lanes, long size, float eps, const float *w, const float *b,
                       float *normalized, float *out, float *reciprocals);
/// Its backward for x: dx = r (gw - mean(gw) - normalized mean(gw normalized)) per lane, gw = g * w
/// (g when w is NULL), the means' sums as retort_layer_norm's.
void retort_layer_norm_backward(const float *g, const float *normalized, const float *reciprocals, long lanes,
                                long size, const float *w, float *dx);
/// log-softmax of `rows` contiguous rows of n values into out: x - peak - log(sum exp(x - peak)).
void retort_log_softmax_rows(const float *x, long rows, long n, float *out);
/// Its backward from g and the output y: dx = g - exp(y) sum(g), row by row.
void retort_log_softmax_backward_rows(const float *g, const float *y, long rows, long n, float *dx);
/// One (image, head) pair of scaled dot-product attention: q, k, v are [t, size] blocks whose rows
/// are `stride` apart; p [t, t] receives softmax(q k^T scale) (with `causal`, row i over its first
/// i + 1 entries, 0 after), out (rows `out_stride` apart) p v. scratch: t * size floats.
void retort_attention_head(const float *q, const float *k, const float *v, long stride, long t, long size, float scale,
                           int causal, float *p, float *out, long out_stride, float *scratch);
/// retort_attention_head for t queries (rows q_stride apart) against `keys` >= t keys and values
/// (rows kv_stride apart), the queries the last t positions (query i sees keys 0 ... keys - t + i
/// with `causal`): a key-value cache's decoding step. p [t, keys]; scratch: keys * size floats.
void retort_attention_head_cached(const float *q, long q_stride, const float *k, const float *v, long kv_stride,
                                  long t, long keys, long size, float scale, int causal, float *p, float *out,
                                  long out_stride, float *scratch);
/// Its backward from go, the output's gradient (rows `go_stride` apart): dv = p^T go, ds = p (dp -
/// sum_j dp p) scale with dp = go v^T, dq = ds k, dk = ds^T q, into rows `stride` apart. scratch:
/// t * size + t * t floats.
void retort_attention_head_backward(const float *q, const float *k, const float *v, long stride, const float *p,
                                    const float *go, long go_stride, long t, long size, float scale, float *dq,
                                    float *dk, float *dv, float *scratch);
/// Adam's update of `count` values in place (w the weights, m and v the moments, g the gradient):
/// with `decoupled` AdamW's weight decay w *= 1 - lr wd, otherwise wd w added to the gradient.
void retort_adam(float *w, float *m, float *v, const float *g, long count, float lr, float b1, float b2, float eps,
                 float wd, int decoupled, float step_size, float root_correction2);
/// SGD with momentum over `count` values in place (w the weights, b the velocity, g the gradient),
/// `first` for the first step (b = d), Nesterov's form when `nesterov`.
void retort_sgd_momentum(float *w, float *b, const float *g, long count, float lr, float mu, float wd, int first,
                         int nesterov);
/// Column sums: out[j] = sum over r < rows of a[r * stride + j] * b[r * stride + j] (b NULL: of a
/// alone) for j < cols, each in row order.
void retort_column_sums(const float *a, const float *b, long rows, long stride, long cols, float *out);
/// `row` added to each of `rows` rows of `cols` values in out.
void retort_add_row(const float *row, long cols, long rows, float *out);
/// `row` (NULL: nothing) added to each of `rows` rows of `cols` values in out, then ReLU
/// (x < 0 ? 0 : x, as retort_relu) in the same pass: a linear layer and its ReLU, for inference.
void retort_add_row_relu(const float *row, long cols, long rows, float *out);
/// c = alpha x w^T + beta c for x m x k, w n x k with its rows ldw >= k apart (n >= 1, its rows 15 at
/// a time), c m x n, all row-major: each output one dot product of k, summed in 8 lanes added in lane
/// order, then the tail of k; beta 0 does not read c. Rows of c have the same bits in any split of the
/// rows and for any ldw (levels 1 and 2 of retort_math_widest alike).
void retort_narrow_product(long m, long n, long k, const float *x, const float *w, long ldw, float alpha, float beta,
                           float *c);
/// ReLU over `count` values: out[i] = x[i] < 0 ? 0 : x[i] (NaN and -0 pass through).
void retort_relu(const float *x, long count, float *out);
/// Its backward: dx[i] = x[i] <= 0 ? 0 : g[i] (a NaN input passes its gradient, as PyTorch's).
void retort_relu_backward(const float *g, const float *x, long count, float *dx);
#endif
