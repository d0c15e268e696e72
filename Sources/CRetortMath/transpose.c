// A matrix transposed, eight by eight through shuffles (8 loads, 24 shuffles and 8 stores where
// scalars took 64 loads and stores), the edges one by one: for `BLAS.gemm`, whose GEMM library ran
// a product with B transposed slower than with B as it is, by more than this copy costs.
#include "retort_math.h"
#include "float8.h"
#include "polynomials.h"
#include "vector_dispatch.h"

INLINE void store8(float *to, float8 x) { memcpy(to, &x, sizeof x); }

INLINE void transpose_loop(const float *restrict src, long rows, long cols, float *restrict dst, long stride) {
    long r = 0;
    for (; r + 8 <= rows; r += 8) {
        long c = 0;
        for (; c + 8 <= cols; c += 8) {
            const float *from = src + r * cols + c;
            const float8 r0 = load8(from), r1 = load8(from + cols), r2 = load8(from + 2 * cols);
            const float8 r3 = load8(from + 3 * cols), r4 = load8(from + 4 * cols), r5 = load8(from + 5 * cols);
            const float8 r6 = load8(from + 6 * cols), r7 = load8(from + 7 * cols);
            // Pairs of rows interleaved, then pairs of pairs, then the halves: column j of the block.
            const float8 t0 = __builtin_shufflevector(r0, r1, 0, 8, 1, 9, 4, 12, 5, 13);
            const float8 t1 = __builtin_shufflevector(r0, r1, 2, 10, 3, 11, 6, 14, 7, 15);
            const float8 t2 = __builtin_shufflevector(r2, r3, 0, 8, 1, 9, 4, 12, 5, 13);
            const float8 t3 = __builtin_shufflevector(r2, r3, 2, 10, 3, 11, 6, 14, 7, 15);
            const float8 t4 = __builtin_shufflevector(r4, r5, 0, 8, 1, 9, 4, 12, 5, 13);
            const float8 t5 = __builtin_shufflevector(r4, r5, 2, 10, 3, 11, 6, 14, 7, 15);
            const float8 t6 = __builtin_shufflevector(r6, r7, 0, 8, 1, 9, 4, 12, 5, 13);
            const float8 t7 = __builtin_shufflevector(r6, r7, 2, 10, 3, 11, 6, 14, 7, 15);
            const float8 u0 = __builtin_shufflevector(t0, t2, 0, 1, 8, 9, 4, 5, 12, 13);
            const float8 u1 = __builtin_shufflevector(t0, t2, 2, 3, 10, 11, 6, 7, 14, 15);
            const float8 u2 = __builtin_shufflevector(t1, t3, 0, 1, 8, 9, 4, 5, 12, 13);
            const float8 u3 = __builtin_shufflevector(t1, t3, 2, 3, 10, 11, 6, 7, 14, 15);
            const float8 u4 = __builtin_shufflevector(t4, t6, 0, 1, 8, 9, 4, 5, 12, 13);
            const float8 u5 = __builtin_shufflevector(t4, t6, 2, 3, 10, 11, 6, 7, 14, 15);
            const float8 u6 = __builtin_shufflevector(t5, t7, 0, 1, 8, 9, 4, 5, 12, 13);
            const float8 u7 = __builtin_shufflevector(t5, t7, 2, 3, 10, 11, 6, 7, 14, 15);
            float *to = dst + c * stride + r;
            store8(to, __builtin_shufflevector(u0, u4, 0, 1, 2, 3, 8, 9, 10, 11));
            store8(to + stride, __builtin_shufflevector(u1, u5, 0, 1, 2, 3, 8, 9, 10, 11));
            store8(to + 2 * stride, __builtin_shufflevector(u2, u6, 0, 1, 2, 3, 8, 9, 10, 11));
            store8(to + 3 * stride, __builtin_shufflevector(u3, u7, 0, 1, 2, 3, 8, 9, 10, 11));
            store8(to + 4 * stride, __builtin_shufflevector(u0, u4, 4, 5, 6, 7, 12, 13, 14, 15));
            store8(to + 5 * stride, __builtin_shufflevector(u1, u5, 4, 5, 6, 7, 12, 13, 14, 15));
            store8(to + 6 * stride, __builtin_shufflevector(u2, u6, 4, 5, 6, 7, 12, 13, 14, 15));
            store8(to + 7 * stride, __builtin_shufflevector(u3, u7, 4, 5, 6, 7, 12, 13, 14, 15));
        }
        for (; c < cols; c++)
            for (long i = r; i < r + 8; i++) dst[c * stride + i] = src[i * cols + c];
    }
    for (; r < rows; r++)
        for (long c = 0; c < cols; c++) dst[c * stride + r] = src[r * cols + c];
}

#if defined(__x86_64__)
AVX2_VARIANT(transpose, (const float *src, long rows, long cols, float *dst, long stride),
             transpose_loop(src, rows, cols, dst, stride))
#endif

void retort_transpose(const float *src, long rows, long cols, float *dst, long stride) {
    AVX2_DISPATCH(transpose, (src, rows, cols, dst, stride), transpose_loop(src, rows, cols, dst, stride))
}
