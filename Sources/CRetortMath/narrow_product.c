// The product of a few rows of weights with every row of x, c = alpha x w^T + beta c with w a few
// rows (15 at a time): a linear layer's forward to a few classes (the MLPs' and CNNs' 10-wide
// outputs), a small first convolution's weight gradient (27 taps by 2,048 positions in cnn-cifar).
// Each output is one dot product of two rows of k, so rows of x go one or two at a time against w's
// rows (up to 15 at a time), every (row, output) pair in its own 8-wide running sum: w's row is
// loaded once for both rows of x, and the pairs give enough independent sums to keep both FMA units
// busy. Each sum goes
// in a fixed order (its 8 lanes, added up in lane order, then the tail of k), so a row of c has the
// same bits however the rows are grouped or split over threads. Compiled for the baseline x86-64,
// AVX2 with FMA (a row at a time: its 16 registers hold 15 sums and little more) and AVX-512 (two
// rows: 32 registers).
#include "retort_math.h"
#include "float8.h"
#include "polynomials.h"
#include "vector_dispatch.h"

// The sum of v's 8 elements, in a fixed order.
INLINE float sum8(float8 v) {
    const float8 halves = v + __builtin_shufflevector(v, v, 4, 5, 6, 7, 0, 1, 2, 3);
    const float8 quarters = halves + __builtin_shufflevector(halves, halves, 2, 3, 0, 1, 2, 3, 0, 1);
    return quarters[0] + quarters[1];
}

// `rows` (1 or 2) rows of x, k apart, against n <= 15 rows of w, ldw apart (rows and n constants once
// inlined, so the sums live in registers): c's rows ldc apart.
INLINE void narrow_block(const float *x, long k, const float *w, long ldw, int n, int rows, float alpha, float beta,
                         float *c, long ldc) {
    float8 sums[2][15];
#pragma clang loop unroll(full)
    for (int r = 0; r < 2; r++)
#pragma clang loop unroll(full)
        for (int j = 0; j < 15; j++) sums[r][j] = (float8){0};
    long p = 0;
    for (; p + 8 <= k; p += 8) {
        float8 xs[2];
#pragma clang loop unroll(full)
        for (int r = 0; r < rows; r++) xs[r] = load8(x + r * k + p);
#pragma clang loop unroll(full)
        for (int j = 0; j < n; j++) {
            const float8 wv = load8(w + j * ldw + p);
#pragma clang loop unroll(full)
            for (int r = 0; r < rows; r++) sums[r][j] += xs[r] * wv;
        }
    }
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < n; j++) {
            float s = sum8(sums[r][j]);
            for (long q = p; q < k; q++) s += x[r * k + q] * w[j * ldw + q];
            float *out = c + r * ldc + j;
            *out = beta == 0 ? alpha * s : alpha * s + beta * *out;
        }
}

// All m rows, `pair` (1 or 2) at a time, against n <= 15 rows of w, for n known when inlined.
INLINE void narrow_rows(long m, int n, long k, const float *x, const float *w, long ldw, float alpha, float beta,
                        float *c, long ldc, int pair) {
    long i = 0;
    if (pair == 2)
        for (; i + 2 <= m; i += 2) narrow_block(x + i * k, k, w, ldw, n, 2, alpha, beta, c + i * ldc, ldc);
    for (; i < m; i++) narrow_block(x + i * k, k, w, ldw, n, 1, alpha, beta, c + i * ldc, ldc);
}

// w's rows 15 at a time (the most whose sums fit in registers), each block with its own copy of the
// loop for its width: c's columns j0 on.
INLINE void narrow_product_loop(long m, long n, long k, const float *x, const float *w, long ldw, float alpha,
                                float beta, float *c, int pair) {
    for (long j0 = 0; j0 < n; j0 += 15) {
        const float *block = w + j0 * ldw;
        switch (n - j0 < 15 ? n - j0 : 15) {
#define WIDTH(N)                                                                                                       \
    case N: narrow_rows(m, N, k, x, block, ldw, alpha, beta, c + j0, n, pair); break;
            WIDTH(1) WIDTH(2) WIDTH(3) WIDTH(4) WIDTH(5) WIDTH(6) WIDTH(7) WIDTH(8)
            WIDTH(9) WIDTH(10) WIDTH(11) WIDTH(12) WIDTH(13) WIDTH(14) WIDTH(15)
#undef WIDTH
        default: return;
        }
    }
}

#if defined(__x86_64__)
AVX2_VARIANT(narrow_product_rows, (long m, long n, long k, const float *x, const float *w, long ldw, float alpha,
                                   float beta, float *c),
             narrow_product_loop(m, n, k, x, w, ldw, alpha, beta, c, 1))
__attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma"))) static void
narrow_product_pairs_avx512(long m, long n, long k, const float *x, const float *w, long ldw, float alpha, float beta,
                            float *c) {
    narrow_product_loop(m, n, k, x, w, ldw, alpha, beta, c, 2);
}
#endif

void retort_narrow_product(long m, long n, long k, const float *x, const float *w, long ldw, float alpha, float beta,
                           float *c) {
#if defined(__x86_64__)
    switch (retort_math_widest()) {
    case 2: narrow_product_pairs_avx512(m, n, k, x, w, ldw, alpha, beta, c); return;
    case 1: narrow_product_rows_avx2(m, n, k, x, w, ldw, alpha, beta, c); return;
    default: break;
    }
#endif
    narrow_product_loop(m, n, k, x, w, ldw, alpha, beta, c, 1);
}
