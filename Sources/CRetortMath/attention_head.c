// One (image, head) pair of scaled dot-product attention, forward and backward, in loops that
// vectorise over a row of positions or of features. In the gpt on names each product is 16 x 16 x
// 16, where a BLAS call per product cost more than its arithmetic. Each sum goes in a fixed order,
// so the same bits on any thread. Compiled for the baseline x86-64 and for AVX2 with FMA, as
// vector_math.c is.
#include "retort_math.h"
#include "polynomials.h"

// dst[d * t + j] = rows[j * stride + d]: a [t, size] block transposed, so a row of it is contiguous.
INLINE void transpose(const float *restrict rows, long stride, long t, long size, float *restrict dst) {
    for (long j = 0; j < t; j++)
        for (long d = 0; d < size; d++) dst[d * t + j] = rows[j * stride + d];
}

// out[l0 + l] for l < width (16 or 8, a constant once inlined): the sums in a local array the
// compiler keeps in registers, each in r order.
INLINE void vecmat_lanes(const float *restrict a, long a_step, const float *restrict b, long b_stride, long count,
                         long l0, int width, float *restrict out) {
    float acc[16] = {0};
    for (long r = 0; r < count; r++) {
        const float ar = a[r * a_step];
        const float *br = b + r * b_stride + l0;
        for (int l = 0; l < width; l++) acc[l] += ar * br[l];
    }
    for (int l = 0; l < width; l++) out[l0 + l] = acc[l];
}

// out[l] = sum over r < count of a[r * a_step] * b[r * b_stride + l], for l < n: a row vector times
// a matrix, 16 and then 8 outputs at a time, then one.
INLINE void vecmat(const float *restrict a, long a_step, const float *restrict b, long b_stride, long count, long n,
                   float *restrict out) {
    long l0 = 0;
    for (; l0 + 16 <= n; l0 += 16) vecmat_lanes(a, a_step, b, b_stride, count, l0, 16, out);
    for (; l0 + 8 <= n; l0 += 8) vecmat_lanes(a, a_step, b, b_stride, count, l0, 8, out);
    for (; l0 < n; l0++) {
        float acc = 0;
        for (long r = 0; r < count; r++) acc += a[r * a_step] * b[r * b_stride + l0];
        out[l0] = acc;
    }
}

INLINE void forward_loop(const float *restrict q, const float *restrict k, const float *restrict v, long stride,
                         long t, long size, float scale, int causal, float *restrict p, float *restrict out,
                         long out_stride, float *restrict kt) {
    transpose(k, stride, t, size, kt);
    for (long i = 0; i < t; i++) {
        float *row = p + i * t;
        const long visible = causal ? i + 1 : t;
        vecmat(q + i * stride, 1, kt, t, size, visible, row);
        // softmax over the visible scores, as Tensor.softmax: the largest subtracted first (0 when
        // it is not finite), 0 after the visible ones (what -inf scores give).
        float peak = -__builtin_inff();
        for (long j = 0; j < visible; j++) {
            row[j] *= scale;
            peak = row[j] > peak ? row[j] : peak;
        }
        if (!(peak > -__builtin_inff() && peak < __builtin_inff())) peak = 0;
        for (long j = 0; j < visible; j++) row[j] = exp_poly(row[j] - peak);
        float total = 0;
        for (long j = 0; j < visible; j++) total += row[j];
        const float reciprocal = 1.0f / total;
        for (long j = 0; j < visible; j++) row[j] *= reciprocal;
        for (long j = visible; j < t; j++) row[j] = 0;
        // out[i, :] = p[i, :] v over every j (masked ones too: 0 times a NaN is NaN, as in the
        // composite's product).
        vecmat(row, 1, v, stride, t, size, out + i * out_stride);
    }
}

INLINE void backward_loop(const float *restrict q, const float *restrict k, const float *restrict v, long stride,
                          const float *restrict p, const float *restrict go, long go_stride, long t, long size,
                          float scale, float *restrict dq, float *restrict dk, float *restrict dv,
                          float *restrict scratch) {
    float *vt = scratch, *ds = scratch + t * size;
    // dv = p^T go: row j of dv is column j of p times go.
    for (long j = 0; j < t; j++) vecmat(p + j, t, go, go_stride, t, size, dv + j * stride);
    // dp = go v^T, then ds = p (dp - sum_j dp p) scale, row by row.
    transpose(v, stride, t, size, vt);
    for (long i = 0; i < t; i++) {
        float *row = ds + i * t;
        const float *pi = p + i * t;
        vecmat(go + i * go_stride, 1, vt, t, size, t, row);
        float dot = 0;
        for (long j = 0; j < t; j++) dot += row[j] * pi[j];
        for (long j = 0; j < t; j++) row[j] = pi[j] * (row[j] - dot) * scale;
    }
    // dq = ds k; dk = ds^T q.
    for (long i = 0; i < t; i++) vecmat(ds + i * t, 1, k, stride, t, size, dq + i * stride);
    for (long j = 0; j < t; j++) vecmat(ds + j, t, q, stride, t, size, dk + j * stride);
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) static void forward_avx2(const float *q, const float *k, const float *v,
                                                             long stride, long t, long size, float scale, int causal,
                                                             float *p, float *out, long out_stride, float *kt) {
    forward_loop(q, k, v, stride, t, size, scale, causal, p, out, out_stride, kt);
}
__attribute__((target("avx2,fma"))) static void backward_avx2(const float *q, const float *k, const float *v,
                                                              long stride, const float *p, const float *go,
                                                              long go_stride, long t, long size, float scale,
                                                              float *dq, float *dk, float *dv, float *scratch) {
    backward_loop(q, k, v, stride, p, go, go_stride, t, size, scale, dq, dk, dv, scratch);
}
static int has_avx2_fma(void) { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
#endif

void retort_attention_head(const float *q, const float *k, const float *v, long stride, long t, long size, float scale,
                           int causal, float *p, float *out, long out_stride, float *scratch) {
#if defined(__x86_64__)
    if (has_avx2_fma()) {
        forward_avx2(q, k, v, stride, t, size, scale, causal, p, out, out_stride, scratch);
        return;
    }
#endif
    forward_loop(q, k, v, stride, t, size, scale, causal, p, out, out_stride, scratch);
}

void retort_attention_head_backward(const float *q, const float *k, const float *v, long stride, const float *p,
                                    const float *go, long go_stride, long t, long size, float scale, float *dq,
                                    float *dk, float *dv, float *scratch) {
#if defined(__x86_64__)
    if (has_avx2_fma()) {
        backward_avx2(q, k, v, stride, p, go, go_stride, t, size, scale, dq, dk, dv, scratch);
        return;
    }
#endif
    backward_loop(q, k, v, stride, p, go, go_stride, t, size, scale, dq, dk, dv, scratch);
}
