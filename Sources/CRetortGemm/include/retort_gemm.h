#ifndef RETORT_GEMM_H
#define RETORT_GEMM_H

/// Retort's own float GEMM on a matrix B packed once (a linear layer's weights used again
/// unchanged), for CPUs with AVX2 and FMA; the caller checks the CPU has them. Each value of C is
/// its products added in the order of the inner index (the first 512 in one running sum, the next
/// 512 added to it, and so on), however the columns are shared out: the same bits at any thread
/// count.

/// How many floats the packed copy of a k x n matrix B takes.
long retort_gemm_packed_count(long k, long n);

/// Packs B, k x n, its value (p, j) at b[p * row_stride + j * column_stride] (a linear layer's
/// weights [n, k] are B transposed: row_stride 1, column_stride k), into packed
/// (retort_gemm_packed_count(k, n) floats, 32-byte aligned).
void retort_gemm_pack(const float *b, long k, long n, long row_stride, long column_stride, float *packed);

/// How many columns a panel of the packed copy holds: retort_gemm_packed computes whole panels.
long retort_gemm_panel_width(void);

/// C = A @ B for A m x k (row i at a + i * lda) and B packed by retort_gemm_pack, the columns of
/// the panels [first_panel, end_panel) only (panel q holds columns 16q to 16q + 15, the last one
/// fewer); C's row i at c + i * ldc. A is read where it is (no copy), so threads computing other
/// panels of the same product share it.
void retort_gemm_packed(const float *a, long lda, long m, long k, long n, const float *packed, long first_panel,
                        long end_panel, float *c, long ldc);

/// C = A @ B as retort_gemm_packed, for B k x n not packed (row p at b + p * ldb, unit column
/// stride), for the panels [first_panel, end_panel) only: each panel is packed into its place in
/// `packed` (retort_gemm_packed_count(k, n) floats, 32-byte aligned, scratch) by the first tile
/// that multiplies it, reading B's rows as it goes; the same bits as packing first.
void retort_gemm_product(const float *a, long lda, long m, long k, long n, const float *b, long ldb, float *packed,
                         long first_panel, long end_panel, float *c, long ldc);

#endif
