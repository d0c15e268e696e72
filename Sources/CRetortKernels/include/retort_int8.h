#ifndef RETORT_INT8_H
#define RETORT_INT8_H

#include <stddef.h>
#include <stdint.h>

/// Packs the weights B (N rows x K columns, int8 in [-127, 127], row-major) into the layout retort_int8_gemm reads.
/// Returns the bytes the packed buffer needs when out is NULL, and writes it otherwise; the layout is the same on
/// every code path. When row_sums is not NULL it also receives the sum of each row of B (N int32s), which a caller
/// needs to correct for a non-zero activation zero point.
size_t retort_int8_pack_b(const int8_t *b, int n, int k, void *out, int32_t *row_sums);

/// C (M x N int32, row-major) = A (M x K uint8 in [0, 127], row-major) x B^T, with B packed by retort_int8_pack_b,
/// on the best path this CPU has. Exact for every input in range: activations are 7-bit so AVX2's u8 x s8 pair sums
/// never saturate int16, and AVX-512 VNNI adds the products in int32. Single-threaded; allocates nothing.
void retort_int8_gemm(const uint8_t *a, int m, int k, const void *packed_b, int n, int32_t *c);

/// The code paths of retort_int8_gemm.
enum { RETORT_INT8_SCALAR = 0, RETORT_INT8_AVX2 = 1, RETORT_INT8_AVX512_VNNI = 2 };

/// The same product on the given path, so tests check every path this CPU can run; returns 0 (and writes nothing)
/// when the CPU lacks it, 1 otherwise. The scalar path runs everywhere.
int retort_int8_gemm_on(int path, const uint8_t *a, int m, int k, const void *packed_b, int n, int32_t *c);

/// Quantises count floats onto the 7-bit activation grid: q = clamp(round(x * inverse) + zero, 0, 127), rounding to
/// nearest with ties to even; NaN becomes 0. The AVX2 and scalar paths give the same bytes.
void retort_int8_quantize(const float *x, size_t count, float inverse, int zero, uint8_t *q);

/// Requantises int32 sums to float: out = (acc - corrections[j]) * scales[j] + bias[j] for output j, for rows
/// first ..< first + rows (acc holds just those rows). With area <= 0 the output is row-major [rows, outputs];
/// otherwise rows are image positions and the output is laid out as [images, outputs, area], as a convolution's.
/// With relu set, a value below 0 becomes 0 (NaN and -0 pass, as torch.relu).
void retort_int8_requantize(const int32_t *acc, size_t first, size_t rows, int outputs, const int32_t *corrections,
                            const float *scales, const float *bias, int area, int relu, float *out);

/// Quantises images [images, c, area] of floats as retort_int8_quantize does, laid out channels last:
/// q[(image * area + position) * c + channel]. scratch holds c * area bytes.
void retort_int8_quantize_channels_last(const float *x, size_t images, int c, int area, float inverse, int zero,
                                        uint8_t *scratch, uint8_t *q);

/// Unfolds a convolution's output rows first_row ..< first_row + rows (row = image * out_h + oy, out_h and out_w
/// following from the sizes) over channels-last quantised images q [images, h, w, c] into patches, one per output
/// position (out_w per row, in order), each in (ky, kx, channel) order; taps on the padding take `zero`.
void retort_int8_im2col_rows(const uint8_t *q, int c, int h, int w, int kh, int kw, int stride, int pad, uint8_t zero,
                             size_t first_row, size_t rows, uint8_t *columns);

/// A convolution's requantisation, ReLU and 2x2 max pool (stride 2) in one: acc holds the int32 sums of two
/// consecutive output rows of one image (2 * out_w positions x outputs, row-major); writes pooled row out[j * plane +
/// px] for px < out_w / 2 and each output j. Pools the integers before requantising, which gives the same floats as
/// pooling afterwards: requantising is nondecreasing (every scale is positive), and so is ReLU; an infinite bias
/// could make a NaN of one value (inf - inf) and not of the largest, so callers run such a layer unpooled.
void retort_int8_requantize_pooled(const int32_t *acc, int out_w, int outputs, const int32_t *corrections,
                                   const float *scales, const float *bias, int relu, size_t plane, float *out);

/// retort_int8_requantize_pooled's values quantised as retort_int8_quantize does onto (inverse, zero), the next int8
/// convolution's input grid, and written channels last: out[px * outputs + j]. The same bytes as requantising to
/// float and then quantising.
void retort_int8_requantize_pooled_bytes(const int32_t *acc, int out_w, int outputs, const int32_t *corrections,
                                         const float *scales, const float *bias, int relu, float inverse, int zero,
                                         uint8_t *out);

/// retort_int8_requantize's values (rows positions, [rows, outputs]) quantised onto (inverse, zero) in the same
/// layout, channels last: out[r * outputs + j]. The same bytes as requantising to float and then quantising.
void retort_int8_requantize_bytes(const int32_t *acc, size_t rows, int outputs, const int32_t *corrections,
                                  const float *scales, const float *bias, int relu, float inverse, int zero,
                                  uint8_t *out);


/// The code path retort_int8_gemm takes on this CPU: "avx512-vnni", "avx2" or "scalar".
const char *retort_int8_path(void);

/// Packs a convolution's int8 weights w [outputs, c, kh, kw] (c 1 or a multiple of 4) for
/// retort_int8_convolve_direct: [kh * kw][c / 4][outputs rounded up to 16][4], zeros past outputs; for c = 1
/// [kh][(kw + 3) / 4][outputs rounded up to 16][4], runs of 4 taps along the kernel row, zeros past kw.
/// Returns the bytes it needs when out is NULL, and writes them otherwise.
size_t retort_int8_pack_direct(const int8_t *w, int outputs, int c, int kh, int kw, int8_t *out);

/// One channels-last quantised image q [h, w, c] with pad bytes of `zero` around, into out
/// [h + 2 * pad, w + 2 * pad, c], then 4 bytes of `zero` (a one-channel image's last run of 4 can reach 3 past the
/// end; their weights are 0). out holds (h + 2 * pad) * (w + 2 * pad) * c + 4 bytes.
void retort_int8_pad_channels_last(const uint8_t *q, int c, int h, int w, int pad, uint8_t zero, uint8_t *out);

/// The int32 sums of a convolution of one padded channels-last image (retort_int8_pad_channels_last) by weights
/// packed by retort_int8_pack_direct, into acc [oh * ow, outputs], without unfolding: the same sums as
/// retort_int8_gemm over the unfolded patches. Needs AVX-512 VNNI or AVX2 (the best this CPU has) and c 1 or a
/// multiple of 4: returns 0, having written nothing, otherwise, 1 when done.
int retort_int8_convolve_direct(const uint8_t *image, int c, int padded_width, int kh, int kw, int stride, int oh,
                                int ow, const int8_t *packed, int outputs, int32_t *acc);

/// retort_int8_convolve_direct on one code path (RETORT_INT8_AVX2 or RETORT_INT8_AVX512_VNNI); 0, nothing
/// written, when this CPU lacks it (or for the scalar path, which has no direct loop).
int retort_int8_convolve_direct_on(int path, const uint8_t *image, int c, int padded_width, int kh, int kw,
                                   int stride, int oh, int ow, const int8_t *packed, int outputs, int32_t *acc);

/// Whether retort_int8_convolve_direct can run on this CPU (for 1 channel or multiples of 4).
int retort_int8_direct_available(void);

#endif
