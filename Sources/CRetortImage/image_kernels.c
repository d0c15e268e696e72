// The image loops of a convolution and of max pooling, written so that they vectorise: a row here is
// 7 to 32 floats, where a memcpy call per row costs more than the copy, and where a scalar remainder
// loop (whose selects the compiler turns into branches) would take more time than the vector part.
// So rows go four floats at a time with SSE2 (baseline x86-64), the last four overlapping the one
// before when the row is not a multiple of four.
#include "retort_image.h"
#include "float_rows.h"

#include <immintrin.h>

#define INLINE static inline __attribute__((always_inline))
#define NO_CALLS __attribute__((no_builtin("memcpy", "memset", "memmove")))
#define AVX512 __attribute__((target("avx512f")))

INLINE long min_long(long a, long b) { return a < b ? a : b; }
INLINE long max_long(long a, long b) { return a > b ? a : b; }

// The output columns [low, high) of a stride-1 row whose input column ox - padding + kx is inside
// the image.
INLINE void inside_columns(const retort_window *w, long kx, long *low, long *high) {
    *low = min_long(max_long(w->padding - kx, 0), w->output_width);
    *high = max_long(min_long(w->input_width + w->padding - kx, w->output_width), *low);
}

// Stride 1, the common case: each (channel, ky, kx) row is the input shifted by (ky, kx), so the
// output rows that fall on vertical padding are one zero span at each end, and each row inside is
// at most `padding` zeros, one copy, and zeros again.
INLINE void im2col_stride1(const float *image, long channels, const retort_window *w, float *cols, long row_stride) {
    const long out_h = w->output_height, out_w = w->output_width, in_h = w->input_height, in_w = w->input_width;
    for (long c = 0; c < channels; c++) {
        const float *plane = image + c * in_h * in_w;
        for (long ky = 0; ky < w->kernel_height; ky++) {
            const long top = min_long(max_long(w->padding - ky, 0), out_h);
            const long bottom = max_long(min_long(in_h + w->padding - ky, out_h), top);
            for (long kx = 0; kx < w->kernel_width; kx++) {
                float *row = cols + ((c * w->kernel_height + ky) * w->kernel_width + kx) * row_stride;
                long low, high;
                inside_columns(w, kx, &low, &high);
                zero_floats(row, top * out_w);
                zero_floats(row + bottom * out_w, (out_h - bottom) * out_w);
                for (long oy = top; oy < bottom; oy++) {
                    float *dst = row + oy * out_w;
#pragma clang loop vectorize(disable) unroll(disable)
                    for (long ox = 0; ox < low; ox++) dst[ox] = 0;
                    // Input row y = oy - padding + ky, column x = ox - padding + kx.
                    copy_floats(dst + low, plane + (oy - w->padding + ky) * in_w + (low - w->padding + kx), high - low);
#pragma clang loop vectorize(disable) unroll(disable)
                    for (long ox = high; ox < out_w; ox++) dst[ox] = 0;
                }
            }
        }
    }
}

// The lanes [low, high) of the 16 output columns from `first`, within a row `out_w` long.
AVX512 INLINE __mmask16 columns_mask(long first, long low, long high) {
    const long from = max_long(low - first, 0), to = min_long(high - first, 16);
    return to <= from ? 0 : (__mmask16)(((1u << (to - from)) - 1) << from);
}

// col2im at stride 1 with AVX-512, an image row at a time: up to 16 of its values in a register,
// each tap's column row added where it lands (masked adds, so a pixel no tap reaches keeps its bits,
// -0 too), then stored once. A pixel's taps are added in (ky, kx) order to its value, as the loop's
// are: the same sums. Reading taps rather than adding into the image row after row keeps loads off
// the stores just made (whose forwarding fails when they overlap shifted).
AVX512 void col2im_stride1_avx512(const float *cols, long channels, const retort_window *w, float *image,
                                  long row_stride) {
    const long out_h = w->output_height, out_w = w->output_width, in_h = w->input_height, in_w = w->input_width;
    const long pad = w->padding, kh = w->kernel_height, kw = w->kernel_width;
    for (long c = 0; c < channels; c++) {
        float *plane = image + c * in_h * in_w;
        const float *rows = cols + c * kh * kw * row_stride;
        for (long y = 0; y < in_h; y++) {
            float *dst = plane + y * in_w;
            for (long j = 0; j < in_w; j += 16) {
                const __mmask16 lanes = (__mmask16)((1u << min_long(in_w - j, 16)) - 1);
                __m512 sum = _mm512_maskz_loadu_ps(lanes, dst + j);
                for (long ky = 0; ky < kh; ky++) {
                    const long oy = y + pad - ky;
                    if (oy < 0 || oy >= out_h) continue;
                    for (long kx = 0; kx < kw; kx++) {
                        // Image column x takes output column x + pad - kx, when that is in [0, out_w).
                        const long shift = pad - kx;
                        const __mmask16 m = lanes & columns_mask(j, -shift, out_w - shift);
                        if (!m) continue;
                        const char *src = (const char *)(rows + (ky * kw + kx) * row_stride + oy * out_w);
                        sum = _mm512_mask_add_ps(sum, m, sum, _mm512_maskz_loadu_ps(m, src + (j + shift) * 4));
                    }
                }
                _mm512_mask_storeu_ps(dst + j, lanes, sum);
            }
        }
    }
}

NO_CALLS void retort_im2col(const float *restrict image, long channels, const retort_window *w, float *restrict cols,
                            long row_stride) {
    if (w->stride == 1) {
        im2col_stride1(image, channels, w, cols, row_stride);
        return;
    }
    const long taps = w->kernel_height * w->kernel_width;
    const long out_w = w->output_width;
    for (long c = 0; c < channels; c++) {
        const float *plane = image + c * w->input_height * w->input_width;
        float *rows = cols + c * taps * row_stride;
        for (long ky = 0; ky < w->kernel_height; ky++) {
            for (long kx = 0; kx < w->kernel_width; kx++) {
                float *row = rows + (ky * w->kernel_width + kx) * row_stride;
                for (long oy = 0; oy < w->output_height; oy++) {
                    const long y = oy * w->stride - w->padding + ky;
                    float *dst = row + oy * out_w;
                    if (y < 0 || y >= w->input_height) {
                        zero_floats(dst, out_w);
                        continue;
                    }
                    const float *src = plane + y * w->input_width;
                    for (long ox = 0; ox < out_w; ox++) {
                        const long x = ox * w->stride - w->padding + kx;
                        dst[ox] = (x >= 0 && x < w->input_width) ? src[x] : 0;
                    }
                }
            }
        }
    }
}

NO_CALLS void retort_col2im(const float *restrict cols, long channels, const retort_window *w, float *restrict image,
                            long row_stride, int avx512) {
    if (avx512 && w->stride == 1) {
        col2im_stride1_avx512(cols, channels, w, image, row_stride);
        return;
    }
    const long taps = w->kernel_height * w->kernel_width;
    const long out_w = w->output_width;
    for (long c = 0; c < channels; c++) {
        float *plane = image + c * w->input_height * w->input_width;
        const float *rows = cols + c * taps * row_stride;
        for (long ky = 0; ky < w->kernel_height; ky++) {
            for (long kx = 0; kx < w->kernel_width; kx++) {
                const float *row = rows + (ky * w->kernel_width + kx) * row_stride;
                long low, high;
                inside_columns(w, kx, &low, &high);
                for (long oy = 0; oy < w->output_height; oy++) {
                    const long y = oy * w->stride - w->padding + ky;
                    if (y < 0 || y >= w->input_height) continue;
                    const float *src = row + oy * out_w;
                    float *dst = plane + y * w->input_width;
                    if (w->stride == 1) {
                        float *shifted = dst + (kx - w->padding);
                        for (long ox = low; ox < high; ox++) shifted[ox] += src[ox];
                        continue;
                    }
                    for (long ox = 0; ox < out_w; ox++) {
                        const long x = ox * w->stride - w->padding + kx;
                        if (x >= 0 && x < w->input_width) dst[x] += src[ox];
                    }
                }
            }
        }
    }
}

// `masked` a constant once inlined, so each of the two loops vectorises without a test per value.
INLINE void copy_summing(const float *restrict src, const float *restrict relu_output, float *restrict dst, long count,
                         float *restrict sums, int masked) {
    float lanes[16];
    for (int l = 0; l < 16; l++) lanes[l] = sums[l];
    long i = 0;
    for (; i + 16 <= count; i += 16) {
        for (int l = 0; l < 16; l++) {
            // Both loaded whatever the mask says, so the select vectorises.
            const float g = src[i + l], y = masked ? relu_output[i + l] : 1.0f;
            const float v = y <= 0.0f ? 0.0f : g;
            dst[i + l] = v;
            lanes[l] += v;
        }
    }
#pragma clang loop vectorize(disable) unroll(disable)
    for (int l = 0; i + l < count; l++) {
        const float g = src[i + l], y = masked ? relu_output[i + l] : 1.0f;
        const float v = y <= 0.0f ? 0.0f : g;
        dst[i + l] = v;
        lanes[l] += v;
    }
    for (int l = 0; l < 16; l++) sums[l] = lanes[l];
}

NO_CALLS void retort_copy_summing(const float *restrict src, const float *restrict relu_output, float *restrict dst,
                                  long count, float *restrict sums) {
    if (relu_output) copy_summing(src, relu_output, dst, count, sums, 1);
    else copy_summing(src, relu_output, dst, count, sums, 0);
}

// One tap against four windows' best so far: a larger value, or a NaN (never hidden, as in PyTorch),
// replaces it; `^` on the two tests, as a NaN is never larger. Selects by masks, without branches:
// which tap wins is unpredictable.
INLINE void pool_tap(__m128 v, __m128i at, __m128 *best, __m128i *offset) {
    const __m128 better = _mm_xor_ps(_mm_cmpgt_ps(v, *best), _mm_cmpunord_ps(v, v));
    *best = _mm_or_ps(_mm_and_ps(better, v), _mm_andnot_ps(better, *best));
    const __m128i mask = _mm_castps_si128(better);
    *offset = _mm_or_si128(_mm_and_si128(mask, at), _mm_andnot_si128(mask, *offset));
}

// Four outputs from eight floats of each of the window's two rows, which start at flat offsets top
// and bottom of x; stores `lanes` (1 to 4) of them.
INLINE void pool_four(const float *upper, const float *lower, int32_t top, int32_t bottom, float *out,
                      int32_t *argmax, int lanes) {
    const __m128 u0 = _mm_loadu_ps(upper), u1 = _mm_loadu_ps(upper + 4);
    const __m128 l0 = _mm_loadu_ps(lower), l1 = _mm_loadu_ps(lower + 4);
    const __m128i steps = _mm_setr_epi32(0, 2, 4, 6);
    __m128 best = _mm_shuffle_ps(u0, u1, _MM_SHUFFLE(2, 0, 2, 0));
    __m128i offset = _mm_add_epi32(_mm_set1_epi32(top), steps);
    pool_tap(_mm_shuffle_ps(u0, u1, _MM_SHUFFLE(3, 1, 3, 1)), _mm_add_epi32(_mm_set1_epi32(top + 1), steps), &best,
             &offset);
    pool_tap(_mm_shuffle_ps(l0, l1, _MM_SHUFFLE(2, 0, 2, 0)), _mm_add_epi32(_mm_set1_epi32(bottom), steps), &best,
             &offset);
    pool_tap(_mm_shuffle_ps(l0, l1, _MM_SHUFFLE(3, 1, 3, 1)), _mm_add_epi32(_mm_set1_epi32(bottom + 1), steps), &best,
             &offset);
    if (lanes == 4) {
        _mm_storeu_ps(out, best);
        if (argmax) _mm_storeu_si128((__m128i *)argmax, offset);
        return;
    }
    float values[4];
    int32_t offsets[4];
    _mm_storeu_ps(values, best);
    _mm_storeu_si128((__m128i *)offsets, offset);
    for (int i = 0; i < lanes; i++) {
        out[i] = values[i];
        if (argmax) argmax[i] = offsets[i];
    }
}

INLINE void max_pool_rows(const float *x, long first, long last, long height, long width, float *out,
                          int32_t *argmax) {
    const long out_h = height / 2, out_w = width / 2;
    for (long plane = first; plane < last; plane++) {
        for (long oy = 0; oy < out_h; oy++) {
            const long r0 = plane * height * width + 2 * oy * width, r1 = r0 + width;
            const long o = (plane * out_h + oy) * out_w;
            int32_t *arg = argmax ? argmax + o : 0;
            if (out_w < 4) {
                // Too narrow for a vector load: the row's taps copied into eight-float buffers.
                float upper[8] = {0}, lower[8] = {0};
                for (long i = 0; i < 2 * out_w; i++) {
                    upper[i] = x[r0 + i];
                    lower[i] = x[r1 + i];
                }
                pool_four(upper, lower, (int32_t)r0, (int32_t)r1, out + o, arg, (int)out_w);
                continue;
            }
            long ox = 0;
            for (; ox + 4 <= out_w; ox += 4) {
                pool_four(x + r0 + 2 * ox, x + r1 + 2 * ox, (int32_t)(r0 + 2 * ox), (int32_t)(r1 + 2 * ox),
                          out + o + ox, arg ? arg + ox : 0, 4);
            }
            if (ox < out_w) {
                // The last four outputs again, overlapping the ones before: the same values.
                ox = out_w - 4;
                pool_four(x + r0 + 2 * ox, x + r1 + 2 * ox, (int32_t)(r0 + 2 * ox), (int32_t)(r1 + 2 * ox),
                          out + o + ox, arg ? arg + ox : 0, 4);
            }
        }
    }
}

void retort_max_pool_2x2(const float *x, long first, long last, long height, long width, float *out, int32_t *argmax) {
    // Two bodies, the argmax test hoisted out of the loops.
    if (argmax) max_pool_rows(x, first, last, height, width, out, argmax);
    else max_pool_rows(x, first, last, height, width, out, 0);
}
