// One (image, head) pair of scaled dot-product attention, forward and backward, in loops that
// vectorise over a row of positions or of features, four rows at a time. In the gpt on names each
// product is 16 x 16 x 16, where a BLAS call per product cost more than its arithmetic. Each sum
// goes in a fixed order, so the same bits on any thread. Compiled for the baseline x86-64 and AVX2 with
// FMA (vector_dispatch.h says why not AVX-512).
#include "retort_math.h"
#include "float8.h"
#include "polynomials.h"
#include "vector_dispatch.h"

typedef float float4 __attribute__((vector_size(16)));

// Four floats from and to memory of any alignment (memcpy: one unaligned move, no aliasing question).
INLINE float4 load4(const float *from) {
    float4 x;
    memcpy(&x, from, sizeof x);
    return x;
}
INLINE void store4(float *to, float4 x) { memcpy(to, &x, sizeof x); }

// dst[d * t + j] = rows[j * stride + d]: a [t, size] block transposed, so a row of it is contiguous.
// Four by four through shuffles (4 loads, 8 shuffles and 4 stores where scalars took 16 stores
// with t between them), the edges one by one.
INLINE void transpose(const float *restrict rows, long stride, long t, long size, float *restrict dst) {
    long j = 0;
    for (; j + 4 <= t; j += 4) {
        long d = 0;
        for (; d + 4 <= size; d += 4) {
            const float *from = rows + j * stride + d;
            const float4 a = load4(from), b = load4(from + stride);
            const float4 c = load4(from + 2 * stride), e = load4(from + 3 * stride);
            const float4 ab_low = __builtin_shufflevector(a, b, 0, 4, 1, 5);
            const float4 ab_high = __builtin_shufflevector(a, b, 2, 6, 3, 7);
            const float4 ce_low = __builtin_shufflevector(c, e, 0, 4, 1, 5);
            const float4 ce_high = __builtin_shufflevector(c, e, 2, 6, 3, 7);
            float *to = dst + d * t + j;
            store4(to, __builtin_shufflevector(ab_low, ce_low, 0, 1, 4, 5));
            store4(to + t, __builtin_shufflevector(ab_low, ce_low, 2, 3, 6, 7));
            store4(to + 2 * t, __builtin_shufflevector(ab_high, ce_high, 0, 1, 4, 5));
            store4(to + 3 * t, __builtin_shufflevector(ab_high, ce_high, 2, 3, 6, 7));
        }
        for (; d < size; d++)
            for (long jj = j; jj < j + 4; jj++) dst[d * t + jj] = rows[jj * stride + d];
    }
    for (; j < t; j++)
        for (long d = 0; d < size; d++) dst[d * t + j] = rows[j * stride + d];
}

// out[i * out_stride + l0 + l] for i < rows (4 or 1) and l < width (16, 8 or 4), each a constant
// once inlined: the sums in a local array the compiler keeps in registers (4 rows of 16: 8 AVX2
// registers, so 8 independent chains of FMAs where one row had 2), each in r order.
INLINE void block_lanes(const float *restrict a, long a_row, long a_col, int rows, const float *restrict b,
                        long b_stride, long count, long l0, int width, float *restrict out, long out_stride) {
    float acc[4][16] = {{0}};
    for (long r = 0; r < count; r++) {
        const float *br = b + r * b_stride + l0;
        for (int i = 0; i < rows; i++) {
            const float ai = a[i * a_row + r * a_col];
            for (int l = 0; l < width; l++) acc[i][l] += ai * br[l];
        }
    }
    for (int i = 0; i < rows; i++)
        for (int l = 0; l < width; l++) out[i * out_stride + l0 + l] = acc[i][l];
}

// Rows i < rows (4 or 1) of out[i, l] = sum over r < count of a[i * a_row + r * a_col] *
// b[r * b_stride + l], for l < n: 16, then 8, then 4 outputs at a time, then one.
INLINE void block_rows(const float *restrict a, long a_row, long a_col, int rows, const float *restrict b,
                       long b_stride, long count, long n, float *restrict out, long out_stride) {
    long l0 = 0;
    for (; l0 + 16 <= n; l0 += 16) block_lanes(a, a_row, a_col, rows, b, b_stride, count, l0, 16, out, out_stride);
    for (; l0 + 8 <= n; l0 += 8) block_lanes(a, a_row, a_col, rows, b, b_stride, count, l0, 8, out, out_stride);
    for (; l0 + 4 <= n; l0 += 4) block_lanes(a, a_row, a_col, rows, b, b_stride, count, l0, 4, out, out_stride);
    for (; l0 < n; l0++)
        for (int i = 0; i < rows; i++) {
            float acc = 0;
            for (long r = 0; r < count; r++) acc += a[i * a_row + r * a_col] * b[r * b_stride + l0];
            out[i * out_stride + l0] = acc;
        }
}

// The columns a block of rows computes when its last row sees `seen`: with `causal`, `seen` rounded
// up to whole vectors of 8, at most n; otherwise n.
INLINE long causal_width(int causal, long seen, long n) {
    const long whole = (seen + 7) & ~7L;
    return causal && whole < n ? whole : n;
}

// out[i * out_stride + l] = sum over r < count of a[i * a_row + r * a_col] * b[r * b_stride + l]
// for i < m and l < n(i): a matrix product, four rows at a time. n(i) is n, or with `causal` the
// columns the block's last row sees (past + i + 1: row i is position past + i) rounded up to a
// multiple of 8 (whole vectors), at most n: the rows get extra columns, which the caller overwrites.
INLINE void matmul(const float *restrict a, long a_row, long a_col, long m, const float *restrict b, long b_stride,
                   long count, long n, int causal, long past, float *restrict out, long out_stride) {
    long i = 0;
    for (; i + 4 <= m; i += 4)
        block_rows(a + i * a_row, a_row, a_col, 4, b, b_stride, count, causal_width(causal, past + i + 4, n),
                   out + i * out_stride, out_stride);
    for (; i < m; i++)
        block_rows(a + i * a_row, a_row, a_col, 1, b, b_stride, count, causal_width(causal, past + i + 1, n),
                   out + i * out_stride, out_stride);
}

// Rows g < group (4, or 1 for the last few) of `rows` (each t long): row[j] = softmax(scale *
// row)[j] over the visible j < visible[g], as Tensor.softmax: the largest subtracted first (0 when
// it is not finite; a row holding +inf NaN throughout); 0 after the visible ones (what -inf scores
// give; what is there before may be unwritten). In explicit vectors of 8, four rows side by side: a row is 16 in the gpt on names,
// too short for the compiler's vector loops, and one row's peak, exponentials, sum and reciprocal
// wait on each other. A vector no row of the group sees is set to 0 without exponentials. Each
// row's peak and sum in 8 lanes, added in a fixed order.
INLINE void softmax_rows(float *restrict rows, int group, long t, const long *visible, float scale) {
    const float minus_inf = -__builtin_inff();
    float8 peaks[4], sums[4];
    long seen = 0;
    for (int g = 0; g < group; g++) {
        peaks[g] = splat8(minus_inf);
        sums[g] = splat8(0);
        seen = visible[g] > seen ? visible[g] : seen;
    }
    for (long j = 0; j < t && j < seen; j += 8) {
        const long count = t - j < 8 ? t - j : 8;
        for (int g = 0; g < group; g++) {
            float *row = rows + g * t + j;
            const float8 x = count == 8 ? load8(row) : load_part8(row, count, 0);
            const float8 scaled = select8(lane_index8 + (int32_t)j < (int32_t)visible[g], x * scale, splat8(minus_inf));
            peaks[g] = select8(scaled > peaks[g], scaled, peaks[g]);  // NaN compares false: ignored
            if (count == 8) store8(row, scaled);
            else store_part8(row, count, scaled);
        }
    }
    float peak[4];
    int infinite[4];  // a row holding +inf is NaN throughout, as Tensor.softmax's and PyTorch's
    for (int g = 0; g < group; g++) {
        peak[g] = peaks[g][0];
        for (int l = 1; l < 8; l++) peak[g] = peaks[g][l] > peak[g] ? peaks[g][l] : peak[g];
        infinite[g] = peak[g] == __builtin_inff();
        if (!(peak[g] > minus_inf && peak[g] < __builtin_inff())) peak[g] = 0;
    }
    for (long j = 0; j < t; j += 8) {
        const long count = t - j < 8 ? t - j : 8;
        for (int g = 0; g < group; g++) {
            float *row = rows + g * t + j;
            float8 e = splat8(0);
            if (j < seen) {
                const float8 x = count == 8 ? load8(row) : load_part8(row, count, minus_inf);
                e = select8(lane_index8 + (int32_t)j < (int32_t)visible[g], exp_poly8(x - peak[g]), splat8(0));
                sums[g] += e;
            }
            if (count == 8) store8(row, e);
            else store_part8(row, count, e);
        }
    }
    for (int g = 0; g < group; g++) {
        const float reciprocal = infinite[g] ? __builtin_nanf("") : 1.0f / pairwise_sum8(sums[g]);
        float *row = rows + g * t;
        long j = 0;
        for (; j + 8 <= t; j += 8) store8(row + j, load8(row + j) * reciprocal);
        for (; j < t; j++) row[j] *= reciprocal;
    }
}

// Softmax's backward for rows g < group (4, or 1) of `ds` and `p` (each t long), over dp in `ds`:
// ds = p (dp - sum_j dp p) scale, in vectors of 8 as softmax_rows, each row's sum in 8 lanes.
INLINE void softmax_backward_rows(float *restrict ds, const float *restrict p, int group, long t, float scale) {
    float8 dots[4];
    for (int g = 0; g < group; g++) dots[g] = splat8(0);
    for (long j = 0; j < t; j += 8) {
        const long count = t - j < 8 ? t - j : 8;
        for (int g = 0; g < group; g++) {
            const float *dp = ds + g * t + j, *pj = p + g * t + j;
            dots[g] += count == 8 ? load8(dp) * load8(pj) : load_part8(dp, count, 0) * load_part8(pj, count, 0);
        }
    }
    for (int g = 0; g < group; g++) {
        const float dot = pairwise_sum8(dots[g]);
        float *row = ds + g * t;
        const float *pi = p + g * t;
        long j = 0;
        for (; j + 8 <= t; j += 8) store8(row + j, load8(pi + j) * (load8(row + j) - dot) * scale);
        for (; j < t; j++) row[j] = pi[j] * (row[j] - dot) * scale;
    }
}

// t queries (rows q_stride apart) against `keys` keys and values (rows kv_stride apart), the queries
// the last t positions: query i is position past + i, past = keys - t (0 in training; a key-value
// cache's length when generating).
INLINE void forward_loop(const float *restrict q, long q_stride, const float *restrict k, const float *restrict v,
                         long kv_stride, long t, long keys, long size, float scale, int causal, float *restrict p,
                         float *restrict out, long out_stride, float *restrict kt) {
    const long past = keys - t;
    transpose(k, kv_stride, keys, size, kt);
    // The scores q k^T, each row's visible ones at least.
    matmul(q, q_stride, 1, t, kt, keys, size, keys, causal, past, p, keys);
    // Four rows at a time (constant groups, so their vectors stay in registers), then one by one.
    long i = 0, visible[4];
    for (; i + 4 <= t; i += 4) {
        for (int g = 0; g < 4; g++) visible[g] = causal ? past + i + g + 1 : keys;
        softmax_rows(p + i * keys, 4, keys, visible, scale);
    }
    for (; i < t; i++) {
        visible[0] = causal ? past + i + 1 : keys;
        softmax_rows(p + i * keys, 1, keys, visible, scale);
    }
    // out = p v over every j (masked ones too: 0 times a NaN is NaN, as in the composite's product).
    matmul(p, keys, 1, t, v, kv_stride, keys, size, 0, 0, out, out_stride);
}

INLINE void backward_loop(const float *restrict q, const float *restrict k, const float *restrict v, long stride,
                          const float *restrict p, const float *restrict go, long go_stride, long t, long size,
                          float scale, float *restrict dq, float *restrict dk, float *restrict dv,
                          float *restrict scratch) {
    float *vt = scratch, *ds = scratch + t * size;
    // dv = p^T go: row j of dv is column j of p times go.
    matmul(p, 1, t, t, go, go_stride, t, size, 0, 0, dv, stride);
    // dp = go v^T, then ds = p (dp - sum_j dp p) scale, row by row.
    transpose(v, stride, t, size, vt);
    matmul(go, go_stride, 1, t, vt, t, size, t, 0, 0, ds, t);
    long i = 0;
    for (; i + 4 <= t; i += 4) softmax_backward_rows(ds + i * t, p + i * t, 4, t, scale);
    for (; i < t; i++) softmax_backward_rows(ds + i * t, p + i * t, 1, t, scale);
    // dq = ds k; dk = ds^T q.
    matmul(ds, t, 1, t, k, stride, t, size, 0, 0, dq, stride);
    matmul(ds, 1, t, t, q, stride, t, size, 0, 0, dk, stride);
}

AVX2_VARIANT(forward,
             (const float *q, long q_stride, const float *k, const float *v, long kv_stride, long t, long keys,
              long size, float scale, int causal, float *p, float *out, long out_stride, float *kt),
             forward_loop(q, q_stride, k, v, kv_stride, t, keys, size, scale, causal, p, out, out_stride, kt))
AVX2_VARIANT(backward,
             (const float *q, const float *k, const float *v, long stride, const float *p, const float *go,
              long go_stride, long t, long size, float scale, float *dq, float *dk, float *dv, float *scratch),
             backward_loop(q, k, v, stride, p, go, go_stride, t, size, scale, dq, dk, dv, scratch))

void retort_attention_head(const float *q, const float *k, const float *v, long stride, long t, long size, float scale,
                           int causal, float *p, float *out, long out_stride, float *scratch) {
    AVX2_DISPATCH(forward, (q, stride, k, v, stride, t, t, size, scale, causal, p, out, out_stride, scratch),
                  forward_loop(q, stride, k, v, stride, t, t, size, scale, causal, p, out, out_stride, scratch))
}

void retort_attention_head_cached(const float *q, long q_stride, const float *k, const float *v, long kv_stride,
                                  long t, long keys, long size, float scale, int causal, float *p, float *out,
                                  long out_stride, float *scratch) {
    AVX2_DISPATCH(forward, (q, q_stride, k, v, kv_stride, t, keys, size, scale, causal, p, out, out_stride, scratch),
                  forward_loop(q, q_stride, k, v, kv_stride, t, keys, size, scale, causal, p, out, out_stride,
                               scratch))
}

void retort_attention_head_backward(const float *q, const float *k, const float *v, long stride, const float *p,
                                    const float *go, long go_stride, long t, long size, float scale, float *dq,
                                    float *dk, float *dv, float *scratch) {
    AVX2_DISPATCH(backward, (q, k, v, stride, p, go, go_stride, t, size, scale, dq, dk, dv, scratch),
                  backward_loop(q, k, v, stride, p, go, go_stride, t, size, scale, dq, dk, dv, scratch))
}
