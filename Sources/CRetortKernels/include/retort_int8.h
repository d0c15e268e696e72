#ifndef RETORT_INT8_H
#define RETORT_INT8_H

#include <stddef.h>
#include <stdint.h>

/// Packs the weights B (N rows x K columns, int8 in [-127, 127], row-major) into the layout retort_int8_gemm reads.
/// Returns the bytes the packed buffer needs when out is NULL, and writes it otherwise; the layout is the same on
/// every code path. When row_sums is not NULL it also receives the sum of each row of B (N int32s), which a caller
/// needs to correct for a non-zero activation zero point.
size_t retort_int8_pack_b(const int8_t *b, int n, int k, void *out, int32_t *row_sums);

/// C (M x N int32, row-major) = A (M x K uint8 in [0, 127], row-major) x B^T, with B packed by retort_int8_pack_b.
/// Exact for every input in range: activations are 7-bit so AVX2's u8 x s8 pair sums never saturate int16.
/// Single-threaded; allocates nothing.
void retort_int8_gemm(const uint8_t *a, int m, int k, const void *packed_b, int n, int32_t *c);

/// The same product on the portable scalar path whatever the CPU, so tests check it on every machine.
void retort_int8_gemm_scalar(const uint8_t *a, int m, int k, const void *packed_b, int n, int32_t *c);

/// Quantises count floats onto the 7-bit activation grid: q = clamp(round(x * inverse) + zero, 0, 127), rounding to
/// nearest with ties to even; NaN becomes 0. The AVX2 and scalar paths give the same bytes.
void retort_int8_quantize(const float *x, size_t count, float inverse, int zero, uint8_t *q);

/// Unfolds quantised images [c, h, w] (back to back in q) into rows of A for a convolution: one row per output
/// position, numbered image by image in row-major order, each row the patch in (channel, ky, kx) order; taps on the
/// padding take `zero`. Writes rows first ..< first + count, so a caller can work in blocks that stay in cache.
void retort_int8_im2col(const uint8_t *q, int c, int h, int w, int kh, int kw, int stride, int pad, uint8_t zero,
                        size_t first, size_t count, uint8_t *columns);

/// Requantises int32 sums to float: out = (acc - corrections[j]) * scales[j] + bias[j] for output j, for rows
/// first ..< first + rows (acc holds just those rows). With area <= 0 the output is row-major [rows, outputs];
/// otherwise rows are image positions and the output is laid out as [images, outputs, area], as a convolution's.
void retort_int8_requantize(const int32_t *acc, size_t first, size_t rows, int outputs, const int32_t *corrections,
                            const float *scales, const float *bias, int area, float *out);

/// The code path retort_int8_gemm takes on this CPU: "avx2" or "scalar".
const char *retort_int8_path(void);

#endif
