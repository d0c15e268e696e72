// Loops written so that they vectorise (elementwise functions, log-softmax's rows, layer norm's
// lanes, the optimizers' updates, column sums, the bias add, ReLU): no library calls inside the
// vector loops. Each loop is compiled for the baseline x86-64, for AVX2 with FMA and for AVX-512,
// and the widest the CPU has runs (vector_dispatch.h); the function bodies are shared
// (always_inline helpers).
#include "retort_math.h"
#include "float8.h"
#include "polynomials.h"
#include "vector_dispatch.h"

#include <math.h>
#include <stdint.h>

// erf(x) = x * p(x^2), p in powers of t = x^2 / 8 - 1 (scripts/fit-erf prints these, highest first).
static const float erf_coefficients[17] = {
    0.0006561643676832318f,  -0.0013504134258255363f, 0.0003870650252792984f, -0.0011567818000912666f,
    0.005934630520641804f,   -0.009972554631531239f,  0.013619586825370789f,  -0.021744096651673317f,
    0.033345602452754974f,   -0.04598306864500046f,   0.05982501432299614f,   -0.07469363510608673f,
    0.09021568298339844f,    -0.10771284252405167f,   0.1316748410463333f,    -0.1765761822462082f,
    0.35353100299835205f,
};

INLINE float erf_poly(float x) {
    float c = x < -4.0f ? -4.0f : (x > 4.0f ? 4.0f : x);
    float value = c * horner(erf_coefficients, 17, c * c * 0.125f - 1.0f);
    return value < -1.0f ? -1.0f : (value > 1.0f ? 1.0f : value);
}

INLINE void gelu_loop(const float *x, size_t count, float *out, float *cdf_out) {
    const float inverse_root2 = 0.70710678118654752f;
    // Four vectors at a time: erf's Horner chain is 17 dependent FMAs, so one vector alone waits
    // on each.
    if (cdf_out) {
#pragma clang loop interleave_count(4)
        for (size_t i = 0; i < count; i++) {
            float cdf = 0.5f * (1.0f + erf_poly(x[i] * inverse_root2));
            cdf_out[i] = cdf;
            out[i] = x[i] * cdf;
        }
    } else {
#pragma clang loop interleave_count(4)
        for (size_t i = 0; i < count; i++) out[i] = x[i] * (0.5f * (1.0f + erf_poly(x[i] * inverse_root2)));
    }
}

INLINE void gelu_backward_loop(const float *g, const float *x, const float *cdf, size_t count, float *dx) {
    const float inverse_root_2pi = 0.39894228040143268f;
    for (size_t i = 0; i < count; i++) {
        float pdf = exp_poly(-0.5f * x[i] * x[i]) * inverse_root_2pi;
        dx[i] = g[i] * (cdf[i] + x[i] * pdf);
    }
}

// For each of `group` lanes (1 or 4, a constant once inlined; lane g at x + g * stride), the sum
// of its n values (of (x - mean[g])^2 when `centre`), in 8 running sums added up in lane order at
// the end: a fixed order, so the same bits on any thread and in any group. A lane of 64 is 8
// dependent adds and 8 more to finish, so lanes go four at a time, their chains side by side (one
// lane at a time waited on each add: layer norm ran at about 1.6 cycles a value in the gpt).
INLINE void lane_sums(const float *x, long stride, int group, long n, int centre, const float *mean, float *total) {
    float8 acc[4] = {{0}, {0}, {0}, {0}};
    long k = 0;
    for (; k + 8 <= n; k += 8)
        for (int g = 0; g < group; g++) {
            const float8 v = centre ? load8(x + g * stride + k) - mean[g] : load8(x + g * stride + k);
            acc[g] += centre ? v * v : v;
        }
    for (int l = 0; k + l < n; l++)
        for (int g = 0; g < group; g++) {
            const float v = centre ? x[g * stride + k + l] - mean[g] : x[g * stride + k + l];
            acc[g][l] += centre ? v * v : v;
        }
    for (int g = 0; g < group; g++) {
        float sum = 0;
        for (int l = 0; l < 8; l++) sum += acc[g][l];
        total[g] = sum;
    }
}

// Layer norm of `group` lanes from `lane` on (1 or 4).
INLINE void layer_norm_lanes(const float *x, long lane, int group, long size, float eps, const float *w,
                             const float *b, float *normalized, float *out, float *reciprocals) {
    const float *xs = x + lane * size;
    float mean[4], var[4];
    lane_sums(xs, size, group, size, 0, mean, mean);
    for (int g = 0; g < group; g++) mean[g] /= (float)size;
    lane_sums(xs, size, group, size, 1, mean, var);
    for (int g = 0; g < group; g++) {
        const float *xg = xs + g * size;
        float *ns = normalized + (lane + g) * size, *os = out + (lane + g) * size;
        const float r = 1.0f / __builtin_sqrtf(var[g] / (float)size + eps);
        reciprocals[lane + g] = r;
        for (long k = 0; k < size; k++) ns[k] = (xg[k] - mean[g]) * r;
        if (w && b) for (long k = 0; k < size; k++) os[k] = ns[k] * w[k] + b[k];
        else if (w) for (long k = 0; k < size; k++) os[k] = ns[k] * w[k];
        else if (b) for (long k = 0; k < size; k++) os[k] = ns[k] + b[k];
        else for (long k = 0; k < size; k++) os[k] = ns[k];
    }
}

INLINE void layer_norm_loop(const float *x, long lanes, long size, float eps, const float *w, const float *b,
                            float *normalized, float *out, float *reciprocals) {
    long lane = 0;
    for (; lane + 4 <= lanes; lane += 4) layer_norm_lanes(x, lane, 4, size, eps, w, b, normalized, out, reciprocals);
    for (; lane < lanes; lane++) layer_norm_lanes(x, lane, 1, size, eps, w, b, normalized, out, reciprocals);
}

// dx = r (gw - mean(gw) - n mean(gw n)) per lane, gw = g * w (g without a weight), for `group`
// lanes from `lane` on (1 or 4), their sums side by side as lane_sums's.
INLINE void layer_norm_backward_lanes(const float *g, const float *normalized, const float *reciprocals, long lane,
                                      int group, long size, const float *w, float *dx) {
    float8 sums[4] = {{0}, {0}, {0}, {0}}, dots[4] = {{0}, {0}, {0}, {0}};
    const float *g0 = g + lane * size, *n0 = normalized + lane * size;
    long k = 0;
    for (; k + 8 <= size; k += 8)
        for (int q = 0; q < group; q++) {
            const float8 scaled = w ? load8(g0 + q * size + k) * load8(w + k) : load8(g0 + q * size + k);
            sums[q] += scaled;
            dots[q] += scaled * load8(n0 + q * size + k);
        }
    for (int l = 0; k + l < size; l++)
        for (int q = 0; q < group; q++) {
            const float scaled = w ? g0[q * size + k + l] * w[k + l] : g0[q * size + k + l];
            sums[q][l] += scaled;
            dots[q][l] += scaled * n0[q * size + k + l];
        }
    for (int q = 0; q < group; q++) {
        float sum = 0, dot = 0;
        for (int l = 0; l < 8; l++) {
            sum += sums[q][l];
            dot += dots[q][l];
        }
        const float *gs = g0 + q * size, *ns = n0 + q * size;
        float *ds = dx + (lane + q) * size;
        const float mean_scaled = sum / (float)size, mean_dot = dot / (float)size, r = reciprocals[lane + q];
        if (w) for (long j = 0; j < size; j++) ds[j] = r * (gs[j] * w[j] - mean_scaled - ns[j] * mean_dot);
        else for (long j = 0; j < size; j++) ds[j] = r * (gs[j] - mean_scaled - ns[j] * mean_dot);
    }
}

INLINE void layer_norm_backward_loop(const float *g, const float *normalized, const float *reciprocals, long lanes,
                                     long size, const float *w, float *dx) {
    long lane = 0;
    for (; lane + 4 <= lanes; lane += 4)
        layer_norm_backward_lanes(g, normalized, reciprocals, lane, 4, size, w, dx);
    for (; lane < lanes; lane++) layer_norm_backward_lanes(g, normalized, reciprocals, lane, 1, size, w, dx);
}

VECTOR_VARIANTS(gelu, (const float *x, size_t count, float *out, float *cdf_out), gelu_loop(x, count, out, cdf_out))
VECTOR_VARIANTS(gelu_backward, (const float *g, const float *x, const float *cdf, size_t count, float *dx),
                gelu_backward_loop(g, x, cdf, count, dx))
AVX2_VARIANT(layer_norm,
             (const float *x, long lanes, long size, float eps, const float *w, const float *b, float *normalized,
              float *out, float *reciprocals),
             layer_norm_loop(x, lanes, size, eps, w, b, normalized, out, reciprocals))
AVX2_VARIANT(layer_norm_backward,
             (const float *g, const float *normalized, const float *reciprocals, long lanes, long size,
              const float *w, float *dx),
             layer_norm_backward_loop(g, normalized, reciprocals, lanes, size, w, dx))

// exp(d) for d <= 0 (a value less its row's peak): 0 below -87.3, where exp is under float's
// smallest normal and exp_poly would clamp; NaN stays NaN.
INLINE float exp_below_peak(float d) { return d < -87.3f ? 0.0f : exp_poly(d); }

// log-softmax of `rows` contiguous rows of n values, as Tensor.logSoftmax: x - peak - log(sum exp(x -
// peak)), the peak the row's largest (NaN ignored), peak and sum in 8 lanes (polynomials.h). A
// row holding +inf is NaN throughout, as PyTorch's (inf - inf); a row of -inf takes the scalar
// library path with peak 0, as the Swift loop does: NaN and infinities come out as there.
INLINE void log_softmax_rows_loop(const float *x, long rows, long n, float *out) {
    const float minus_inf = -__builtin_inff();
    for (long i = 0; i < rows; i++) {
        const float *restrict row = x + i * n;
        float *restrict o = out + i * n;
        const float peak = row_peak(row, n);
        long k;
        if (peak == __builtin_inff()) {
            for (k = 0; k < n; k++) o[k] = __builtin_nanf("");
            continue;
        }
        if (!(peak > minus_inf)) {
            float total = 0;
            for (k = 0; k < n; k++) total += expf(row[k]);
            const float shift = logf(total);
            for (k = 0; k < n; k++) o[k] = row[k] - shift;
            continue;
        }
        // The exponentials through the output row first: a plain loop vectorises, a sum over them
        // did not.
        for (k = 0; k < n; k++) o[k] = exp_below_peak(row[k] - peak);
        // (x - peak) - log sum, as PyTorch: x - (peak + log sum) rounds at the peak's size, up to
        // half an ulp of the largest logit (cross-entropy 3.05e-4 for 3.354e-4 at logits 1000, 992).
        const float log_sum = logf(row_sum(o, n));
        for (k = 0; k < n; k++) o[k] = (row[k] - peak) - log_sum;
    }
}

// Its backward for rows of n: dx = g - exp(y) sum(g), y the log-probabilities (<= 0).
INLINE void log_softmax_backward_rows_loop(const float *restrict g, const float *restrict y, long rows, long n,
                                           float *restrict dx) {
    for (long i = 0; i < rows; i++) {
        const float *gi = g + i * n, *yi = y + i * n;
        float *di = dx + i * n;
        const float total = row_sum(gi, n);
        for (long k = 0; k < n; k++) di[k] = gi[k] - exp_below_peak(yi[k]) * total;
    }
}

AVX2_VARIANT(log_softmax_rows, (const float *x, long rows, long n, float *out), log_softmax_rows_loop(x, rows, n, out))
AVX2_VARIANT(log_softmax_backward_rows, (const float *g, const float *y, long rows, long n, float *dx),
             log_softmax_backward_rows_loop(g, y, rows, n, dx))

static _Atomic int widest_allowed = 2;

int retort_math_widest(void) {
#if defined(__x86_64__)
    const int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    const int avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                       __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
    const int has = avx512 ? 2 : avx2 ? 1 : 0;
    const int allowed = widest_allowed;
    return has < allowed ? has : allowed;
#else
    return 0;
#endif
}

void retort_math_allow_widest(int level) { widest_allowed = level < 0 ? 0 : level > 2 ? 2 : level; }

float retort_erf(float x) { return erf_poly(x); }

float retort_exp(float x) { return exp_poly(x); }

void retort_gelu(const float *x, size_t count, float *out, float *cdf_out) {
    VECTOR_DISPATCH(gelu, (x, count, out, cdf_out), gelu_loop(x, count, out, cdf_out))
}

void retort_gelu_backward(const float *g, const float *x, const float *cdf, size_t count, float *dx) {
    VECTOR_DISPATCH(gelu_backward, (g, x, cdf, count, dx), gelu_backward_loop(g, x, cdf, count, dx))
}

void retort_log_softmax_rows(const float *x, long rows, long n, float *out) {
    AVX2_DISPATCH(log_softmax_rows, (x, rows, n, out), log_softmax_rows_loop(x, rows, n, out))
}

void retort_log_softmax_backward_rows(const float *g, const float *y, long rows, long n, float *dx) {
    AVX2_DISPATCH(log_softmax_backward_rows, (g, y, rows, n, dx), log_softmax_backward_rows_loop(g, y, rows, n, dx))
}

void retort_layer_norm(const float *x, long lanes, long size, float eps, const float *w, const float *b,
                       float *normalized, float *out, float *reciprocals) {
    AVX2_DISPATCH(layer_norm, (x, lanes, size, eps, w, b, normalized, out, reciprocals),
                  layer_norm_loop(x, lanes, size, eps, w, b, normalized, out, reciprocals))
}

void retort_layer_norm_backward(const float *g, const float *normalized, const float *reciprocals, long lanes,
                                long size, const float *w, float *dx) {
    AVX2_DISPATCH(layer_norm_backward, (g, normalized, reciprocals, lanes, size, w, dx),
                  layer_norm_backward_loop(g, normalized, reciprocals, lanes, size, w, dx))
}

// Adam's update of count values (decoupled: AdamW's weight decay), as torch.optim.Adam with bias
// correction: m = b1 m + (1 - b1) d, v = b2 v + (1 - b2) d^2, w -= step_size m / (sqrt(v) /
// root_correction2 + eps), d the gradient (plus wd w unless decoupled).
INLINE void adam_loop(float *restrict w, float *restrict m, float *restrict v, const float *restrict g, long count,
                      float lr, float b1, float b2, float eps, float wd, int decoupled, float step_size,
                      float root_correction2) {
    const float shrink = 1.0f - lr * wd;
    for (long j = 0; j < count; j++) {
        float weight = w[j], d = g[j];
        if (decoupled) weight *= shrink;
        else d += wd * weight;
        const float mj = b1 * m[j] + (1.0f - b1) * d;
        const float vj = b2 * v[j] + (1.0f - b2) * d * d;
        m[j] = mj;
        v[j] = vj;
        // The elementwise builtin has no errno to set, so the loop vectorises (sqrtf would stay scalar).
        w[j] = weight - step_size * mj / (__builtin_elementwise_sqrt(vj) / root_correction2 + eps);
    }
}

VECTOR_VARIANTS(adam,
                (float *w, float *m, float *v, const float *g, long count, float lr, float b1, float b2, float eps,
                 float wd, int decoupled, float step_size, float root_correction2),
                adam_loop(w, m, v, g, count, lr, b1, b2, eps, wd, decoupled, step_size, root_correction2))

void retort_adam(float *w, float *m, float *v, const float *g, long count, float lr, float b1, float b2, float eps,
                 float wd, int decoupled, float step_size, float root_correction2) {
    VECTOR_DISPATCH(adam, (w, m, v, g, count, lr, b1, b2, eps, wd, decoupled, step_size, root_correction2),
                    adam_loop(w, m, v, g, count, lr, b1, b2, eps, wd, decoupled, step_size, root_correction2))
}

// SGD with momentum over count values, as torch.optim.SGD: d = g + wd w; b = d on the first step,
// mu b + d after; w -= lr (d + mu b) with Nesterov, lr b without.
INLINE void sgd_loop(float *restrict w, float *restrict b, const float *restrict g, long count, float lr, float mu,
                     float wd, int first, int nesterov) {
    for (long j = 0; j < count; j++) {
        const float weight = w[j];
        const float d = g[j] + wd * weight;
        const float velocity = first ? d : mu * b[j] + d;
        b[j] = velocity;
        w[j] = weight - lr * (nesterov ? d + mu * velocity : velocity);
    }
}

VECTOR_VARIANTS(sgd, (float *w, float *b, const float *g, long count, float lr, float mu, float wd, int first,
                      int nesterov),
                sgd_loop(w, b, g, count, lr, mu, wd, first, nesterov))

void retort_sgd_momentum(float *w, float *b, const float *g, long count, float lr, float mu, float wd, int first,
                         int nesterov) {
    VECTOR_DISPATCH(sgd, (w, b, g, count, lr, mu, wd, first, nesterov),
                    sgd_loop(w, b, g, count, lr, mu, wd, first, nesterov))
}

// out[j] = sum over r < rows of a[r * stride + j] (times b[r * stride + j] when b is not NULL), for
// j < cols: column sums (a linear layer's bias gradient, layer norm's weight and bias gradients).
// Each column's sum in row order, as a loop adding row after row into out would; but 64 columns at
// a time in registers, where such a loop stores each partial sum and loads it back a row later.
INLINE void column_block(const float *restrict a, const float *restrict b, long rows, long stride, long c0, int width,
                         float *restrict out) {
    float acc[64] = {0};
    for (long r = 0; r < rows; r++) {
        const float *ar = a + r * stride + c0;
        if (b) {
            const float *br = b + r * stride + c0;
            for (int l = 0; l < width; l++) acc[l] += ar[l] * br[l];
        } else {
            for (int l = 0; l < width; l++) acc[l] += ar[l];
        }
    }
    for (int l = 0; l < width; l++) out[c0 + l] = acc[l];
}

INLINE void column_sums_loop(const float *a, const float *b, long rows, long stride, long cols, float *out) {
    long c0 = 0;
    for (; c0 + 64 <= cols; c0 += 64) column_block(a, b, rows, stride, c0, 64, out);
    for (; c0 + 8 <= cols; c0 += 8) column_block(a, b, rows, stride, c0, 8, out);
    for (; c0 < cols; c0++) column_block(a, b, rows, stride, c0, 1, out);
}

VECTOR_VARIANTS(column_sums, (const float *a, const float *b, long rows, long stride, long cols, float *out),
                column_sums_loop(a, b, rows, stride, cols, out))

void retort_column_sums(const float *a, const float *b, long rows, long stride, long cols, float *out) {
    VECTOR_DISPATCH(column_sums, (a, b, rows, stride, cols, out), column_sums_loop(a, b, rows, stride, cols, out))
}

// row added to each of out's rows (rows of cols values): a linear layer's bias, after its GEMM
// wrote the product (so while the product is still in cache).
INLINE void add_row_loop(const float *restrict row, long cols, long rows, float *restrict out) {
    for (long r = 0; r < rows; r++)
        for (long c = 0; c < cols; c++) out[r * cols + c] += row[c];
}

VECTOR_VARIANTS(add_row, (const float *row, long cols, long rows, float *out), add_row_loop(row, cols, rows, out))

void retort_add_row(const float *row, long cols, long rows, float *out) {
    VECTOR_DISPATCH(add_row, (row, cols, rows, out), add_row_loop(row, cols, rows, out))
}

INLINE void add_row_relu_loop(const float *restrict row, long cols, long rows, float *restrict out) {
    for (long r = 0; r < rows; r++)
        for (long c = 0; c < cols; c++) {
            const float x = out[r * cols + c] + row[c];
            out[r * cols + c] = x < 0.0f ? 0.0f : x;
        }
}
INLINE void relu_rows_loop(long count, float *restrict out) {
    for (long i = 0; i < count; i++) out[i] = out[i] < 0.0f ? 0.0f : out[i];
}

VECTOR_VARIANTS(add_row_relu, (const float *row, long cols, long rows, float *out),
                add_row_relu_loop(row, cols, rows, out))
VECTOR_VARIANTS(relu_rows, (long count, float *out), relu_rows_loop(count, out))

static void relu_in_place(long count, float *out) {
    VECTOR_DISPATCH(relu_rows, (count, out), relu_rows_loop(count, out))
}

void retort_add_row_relu(const float *row, long cols, long rows, float *out) {
    if (row == NULL) {
        relu_in_place(cols * rows, out);
        return;
    }
    VECTOR_DISPATCH(add_row_relu, (row, cols, rows, out), add_row_relu_loop(row, cols, rows, out))
}

// ReLU, x < 0 ? 0 : x (one max instruction a vector: NaN and -0 pass through, as in PyTorch), and
// its backward, x <= 0 ? 0 : g (a NaN input passes its gradient, as PyTorch's threshold_backward).
INLINE void relu_loop(const float *restrict x, long count, float *restrict out) {
    for (long i = 0; i < count; i++) out[i] = x[i] < 0.0f ? 0.0f : x[i];
}
INLINE void relu_backward_loop(const float *restrict g, const float *restrict x, long count, float *restrict dx) {
    for (long i = 0; i < count; i++) {
        const float gi = g[i], xi = x[i];  // both loaded, so the select vectorises
        dx[i] = xi <= 0.0f ? 0.0f : gi;
    }
}

VECTOR_VARIANTS(relu, (const float *x, long count, float *out), relu_loop(x, count, out))
VECTOR_VARIANTS(relu_backward, (const float *g, const float *x, long count, float *dx),
                relu_backward_loop(g, x, count, dx))

void retort_relu(const float *x, long count, float *out) {
    VECTOR_DISPATCH(relu, (x, count, out), relu_loop(x, count, out))
}

void retort_relu_backward(const float *g, const float *x, long count, float *dx) {
    VECTOR_DISPATCH(relu_backward, (g, x, count, dx), relu_backward_loop(g, x, count, dx))
}
