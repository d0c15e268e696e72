// The int8 convolution's loops around the GEMM: images laid out channels last, unfolded output row by output row,
// and the requantisation with ReLU and a 2x2 max pool in one pass.
//
// Channels last makes each row of a patch (kw taps of every channel) one contiguous run of kw * c bytes of the
// image, so unfolding is a few block copies per position instead of one per channel and kernel row; the weights are
// packed in the same (ky, kx, channel) order by the caller.
#include "retort_int8.h"
#include "int8_requantized.h"

#include <string.h>

#if (defined(__x86_64__) || defined(__i386__)) && !defined(RETORT_INT8_NO_SIMD)
#include <immintrin.h>
#define RETORT_X86 1
#endif

#ifdef RETORT_X86
// dst[j * dst_stride + i] = src[i * src_stride + j] for a 16 x 16 block of bytes, in registers: four
// rounds of interleaving (bytes, pairs, quads, then halves), each doubling the run of one column's
// rows a register holds, where a byte at a time took a load and a store each.
static inline void transpose_bytes16(const uint8_t *src, long src_stride, uint8_t *dst, long dst_stride) {
    __m128i a[16], pairs[8][2], quads[4][4], octets[2][8];
    for (int i = 0; i < 16; i++) a[i] = _mm_loadu_si128((const __m128i *)(src + i * src_stride));
    // pairs[g][h]: rows 2g, 2g + 1, columns 8h to 8h + 7, two bytes a column.
    for (int g = 0; g < 8; g++) {
        pairs[g][0] = _mm_unpacklo_epi8(a[2 * g], a[2 * g + 1]);
        pairs[g][1] = _mm_unpackhi_epi8(a[2 * g], a[2 * g + 1]);
    }
    // quads[g][k]: rows 4g to 4g + 3, columns 4k to 4k + 3.
    for (int g = 0; g < 4; g++)
        for (int h = 0; h < 2; h++) {
            quads[g][2 * h] = _mm_unpacklo_epi16(pairs[2 * g][h], pairs[2 * g + 1][h]);
            quads[g][2 * h + 1] = _mm_unpackhi_epi16(pairs[2 * g][h], pairs[2 * g + 1][h]);
        }
    // octets[g][e]: rows 8g to 8g + 7, columns 2e and 2e + 1.
    for (int g = 0; g < 2; g++)
        for (int k = 0; k < 4; k++) {
            octets[g][2 * k] = _mm_unpacklo_epi32(quads[2 * g][k], quads[2 * g + 1][k]);
            octets[g][2 * k + 1] = _mm_unpackhi_epi32(quads[2 * g][k], quads[2 * g + 1][k]);
        }
    // Column 2e (then 2e + 1): its 16 rows.
    for (int e = 0; e < 8; e++) {
        _mm_storeu_si128((__m128i *)(dst + 2 * e * dst_stride), _mm_unpacklo_epi64(octets[0][e], octets[1][e]));
        _mm_storeu_si128((__m128i *)(dst + (2 * e + 1) * dst_stride), _mm_unpackhi_epi64(octets[0][e], octets[1][e]));
    }
}
#endif

// One quantised image [c, area] to channels last [area, c]: 16 x 16 blocks in registers where there
// are whole ones, the rest a byte at a time.
static void bytes_to_channels_last(const uint8_t *src, int c, int area, uint8_t *dst) {
    int ch0 = 0, p0 = 0;
#ifdef RETORT_X86
    for (; ch0 + 16 <= c; ch0 += 16)
        for (p0 = 0; p0 + 16 <= area; p0 += 16)
            transpose_bytes16(src + (size_t)ch0 * area + p0, area, dst + (size_t)p0 * c + ch0, c);
    // Positions past the last whole block, for the channels the blocks covered.
    for (int p = p0; p < area; p++)
        for (int ch = 0; ch < ch0; ch++) dst[(size_t)p * c + ch] = src[(size_t)ch * area + p];
#endif
    (void)p0;
    for (int p = 0; p < area; p++)
        for (int ch = ch0; ch < c; ch++) dst[(size_t)p * c + ch] = src[(size_t)ch * area + p];
}

void retort_int8_quantize_channels_last(const float *x, size_t images, int c, int area, float inverse, int zero,
                                        uint8_t *scratch, uint8_t *q) {
    size_t image_size = (size_t)c * area;
    if (c == 1) {
        retort_int8_quantize(x, images * image_size, inverse, zero, q);
        return;
    }
    for (size_t i = 0; i < images; i++) {
        retort_int8_quantize(x + i * image_size, image_size, inverse, zero, scratch);
        bytes_to_channels_last(scratch, c, area, q + i * image_size);
    }
}

// Copies n bytes with a few fixed-size moves (the compiler makes each memcpy one load and one store), the last one
// overlapping the one before; never touches a byte outside [d, d + n).
static inline void copy_bytes(uint8_t *d, const uint8_t *s, size_t n) {
    if (n >= 16) {
        size_t i = 0;
        for (; i + 16 < n; i += 16) memcpy(d + i, s + i, 16);
        memcpy(d + n - 16, s + n - 16, 16);
    } else if (n >= 8) {
        memcpy(d, s, 8);
        memcpy(d + n - 8, s + n - 8, 8);
    } else if (n >= 4) {
        memcpy(d, s, 4);
        memcpy(d + n - 4, s + n - 4, 4);
    } else if (n > 0) {
        d[0] = s[0];
        d[n / 2] = s[n / 2];
        d[n - 1] = s[n - 1];
    }
}

void retort_int8_im2col_rows(const uint8_t *q, int c, int h, int w, int kh, int kw, int stride, int pad, uint8_t zero,
                             size_t first_row, size_t rows, uint8_t *columns) {
    int oh = (h + 2 * pad - kh) / stride + 1, ow = (w + 2 * pad - kw) / stride + 1;
    size_t pixel_row = (size_t)w * c, segment = (size_t)kw * c, patch = segment * kh;
    uint8_t *dst = columns;
    for (size_t r = first_row; r < first_row + rows; r++) {
        size_t image = r / oh;
        int oy = (int)(r % oh);
        const uint8_t *plane = q + image * h * pixel_row;
        for (int ox = 0; ox < ow; ox++, dst += patch) {
            int x0 = ox * stride - pad;
            uint8_t *d = dst;
            if (x0 >= 0 && x0 + kw <= w) {
                for (int ky = 0; ky < kh; ky++, d += segment) {
                    int y = oy * stride - pad + ky;
                    if (y < 0 || y >= h) {
                        memset(d, zero, segment);
                    } else {
                        copy_bytes(d, plane + (size_t)y * pixel_row + (size_t)x0 * c, segment);
                    }
                }
                continue;
            }
            // A window over the left or right padding: tap by tap.
            for (int ky = 0; ky < kh; ky++) {
                int y = oy * stride - pad + ky;
                for (int kx = 0; kx < kw; kx++, d += c) {
                    int x = x0 + kx;
                    if (y < 0 || y >= h || x < 0 || x >= w) {
                        memset(d, zero, (size_t)c);
                    } else {
                        copy_bytes(d, plane + (size_t)y * pixel_row + (size_t)x * c, (size_t)c);
                    }
                }
            }
        }
    }
}

static inline int32_t max4(int32_t a, int32_t b, int32_t c, int32_t d) {
    int32_t m = a > b ? a : b, n = c > d ? c : d;
    return m > n ? m : n;
}

// One output's value, with ReLU when asked (NaN and -0 pass).
static inline float requantized(int32_t acc, int32_t correction, float scale, float bias, int relu) {
    float v = retort_int8_requantized(acc, correction, scale, bias);
    return relu && v < 0.0f ? 0.0f : v;
}

static void requantize_pooled_scalar(const int32_t *acc, int out_w, int outputs, const int32_t *corrections,
                                     const float *scales, const float *bias, int relu, size_t plane, float *out) {
    const int32_t *top = acc, *bottom = acc + (size_t)out_w * outputs;
    for (int px = 0; px < out_w / 2; px++) {
        size_t left = (size_t)(2 * px) * outputs, right = left + outputs;
        for (int j = 0; j < outputs; j++) {
            int32_t m = max4(top[left + j], top[right + j], bottom[left + j], bottom[right + j]);
            out[(size_t)j * plane + px] = requantized(m, corrections[j], scales[j], bias[j], relu);
        }
    }
}

#ifdef RETORT_X86
// Eight outputs at a time: the integer maximum, then (acc - correction) * scale + bias with a separate multiply and
// add (as the scalar expression compiles without FMA), then max(0, v), which keeps NaN and -0 as the scalar rule
// does. Results go through a small buffer so each output's plane is written contiguously.
__attribute__((target("avx2"))) static void requantize_pooled_avx2(const int32_t *acc, int out_w, int outputs,
                                                                   const int32_t *corrections, const float *scales,
                                                                   const float *bias, int relu, size_t plane,
                                                                   float *out) {
    enum { BLOCK = 8 };
    const int32_t *top = acc, *bottom = acc + (size_t)out_w * outputs;
    int pooled = out_w / 2, vector_end = outputs / 8 * 8;
    float values[BLOCK][8];
    for (int j0 = 0; j0 < vector_end; j0 += 8) {
        __m256i correction = _mm256_loadu_si256((const __m256i *)(corrections + j0));
        __m256 scale = _mm256_loadu_ps(scales + j0), offset = _mm256_loadu_ps(bias + j0);
        for (int p0 = 0; p0 < pooled; p0 += BLOCK) {
            int count = pooled - p0 < BLOCK ? pooled - p0 : BLOCK;
            for (int t = 0; t < count; t++) {
                size_t left = (size_t)(2 * (p0 + t)) * outputs + j0, right = left + outputs;
                __m256i m = _mm256_max_epi32(
                    _mm256_max_epi32(_mm256_loadu_si256((const __m256i *)(top + left)),
                                     _mm256_loadu_si256((const __m256i *)(top + right))),
                    _mm256_max_epi32(_mm256_loadu_si256((const __m256i *)(bottom + left)),
                                     _mm256_loadu_si256((const __m256i *)(bottom + right))));
                __m256 v = _mm256_cvtepi32_ps(_mm256_sub_epi32(m, correction));
                v = _mm256_add_ps(_mm256_mul_ps(v, scale), offset);
                if (relu) v = _mm256_max_ps(_mm256_setzero_ps(), v);
                _mm256_storeu_ps(values[t], v);
            }
            for (int j = 0; j < 8; j++) {
                float *o = out + (size_t)(j0 + j) * plane + p0;
                for (int t = 0; t < count; t++) o[t] = values[t][j];
            }
        }
    }
    if (vector_end < outputs) {
        // The last outputs % 8: the scalar loop on those columns.
        for (int px = 0; px < pooled; px++) {
            size_t left = (size_t)(2 * px) * outputs, right = left + outputs;
            for (int j = vector_end; j < outputs; j++) {
                int32_t m = max4(top[left + j], top[right + j], bottom[left + j], bottom[right + j]);
                out[(size_t)j * plane + px] = requantized(m, corrections[j], scales[j], bias[j], relu);
            }
        }
    }
}
#endif

void retort_int8_requantize_pooled(const int32_t *acc, int out_w, int outputs, const int32_t *corrections,
                                   const float *scales, const float *bias, int relu, size_t plane, float *out) {
#ifdef RETORT_X86
    if (__builtin_cpu_supports("avx2")) {
        requantize_pooled_avx2(acc, out_w, outputs, corrections, scales, bias, relu, plane, out);
        return;
    }
#endif
    requantize_pooled_scalar(acc, out_w, outputs, corrections, scales, bias, relu, plane, out);
}

// One value requantised (with ReLU when asked) and quantised onto the next layer's grid.
static inline uint8_t requantized_byte(int32_t acc, int32_t correction, float scale, float bias, int relu,
                                       float inverse, int zero) {
    return retort_int8_quantized(requantized(acc, correction, scale, bias, relu), inverse, zero);
}

#ifdef RETORT_X86
// Eight outputs' sums requantised as requantize_pooled_avx2 does (separate multiply and add, max(0, v) for ReLU),
// on their way onto the next grid (retort_int8_quantized8).
__attribute__((target("avx2"))) static inline __m256i requantized8(__m256i m, const int32_t *corrections,
                                                                  const float *scales, const float *bias, int relu,
                                                                  __m256 inverse, __m256i zero) {
    __m256 v = _mm256_cvtepi32_ps(_mm256_sub_epi32(m, _mm256_loadu_si256((const __m256i *)corrections)));
    v = _mm256_add_ps(_mm256_mul_ps(v, _mm256_loadu_ps(scales)), _mm256_loadu_ps(bias));
    if (relu) v = _mm256_max_ps(_mm256_setzero_ps(), v);
    return retort_int8_quantized8(v, inverse, zero);
}

// The largest of four positions' sums for outputs j ... j + 7.
__attribute__((target("avx2"))) static inline __m256i pooled8(const int32_t *top, const int32_t *bottom, size_t left,
                                                             size_t right, int j) {
    return _mm256_max_epi32(_mm256_max_epi32(_mm256_loadu_si256((const __m256i *)(top + left + j)),
                                             _mm256_loadu_si256((const __m256i *)(top + right + j))),
                            _mm256_max_epi32(_mm256_loadu_si256((const __m256i *)(bottom + left + j)),
                                             _mm256_loadu_si256((const __m256i *)(bottom + right + j))));
}

// Sixteen outputs at a time where there are sixteen (one 16-byte store), then eight, then the scalar rule.
__attribute__((target("avx2"))) static void requantize_pooled_bytes_avx2(const int32_t *acc, int out_w, int outputs,
                                                                         const int32_t *corrections,
                                                                         const float *scales, const float *bias,
                                                                         int relu, float inverse, int zero,
                                                                         uint8_t *out) {
    const int32_t *top = acc, *bottom = acc + (size_t)out_w * outputs;
    const __m256 scale = _mm256_set1_ps(inverse);
    const __m256i offset = _mm256_set1_epi32(zero);
    for (int px = 0; px < out_w / 2; px++) {
        size_t left = (size_t)(2 * px) * outputs, right = left + outputs;
        uint8_t *o = out + (size_t)px * outputs;
        int j = 0;
        for (; j + 16 <= outputs; j += 16) {
            __m256i a = requantized8(pooled8(top, bottom, left, right, j), corrections + j, scales + j, bias + j, relu,
                                     scale, offset);
            __m256i b = requantized8(pooled8(top, bottom, left, right, j + 8), corrections + j + 8, scales + j + 8,
                                     bias + j + 8, relu, scale, offset);
            retort_int8_store_bytes16(o + j, a, b);
        }
        for (; j + 8 <= outputs; j += 8)
            retort_int8_store_bytes8(o + j, requantized8(pooled8(top, bottom, left, right, j), corrections + j,
                                                         scales + j, bias + j, relu, scale, offset));
        for (; j < outputs; j++) {
            int32_t m = max4(top[left + j], top[right + j], bottom[left + j], bottom[right + j]);
            o[j] = requantized_byte(m, corrections[j], scales[j], bias[j], relu, inverse, zero);
        }
    }
}

__attribute__((target("avx2"))) static void requantize_bytes_avx2(const int32_t *acc, size_t rows, int outputs,
                                                                  const int32_t *corrections, const float *scales,
                                                                  const float *bias, int relu, float inverse,
                                                                  int zero, uint8_t *out) {
    const __m256 scale = _mm256_set1_ps(inverse);
    const __m256i offset = _mm256_set1_epi32(zero);
    for (size_t r = 0; r < rows; r++) {
        const int32_t *a = acc + r * outputs;
        uint8_t *o = out + r * outputs;
        int j = 0;
        for (; j + 16 <= outputs; j += 16) {
            __m256i lo = requantized8(_mm256_loadu_si256((const __m256i *)(a + j)), corrections + j, scales + j,
                                      bias + j, relu, scale, offset);
            __m256i hi = requantized8(_mm256_loadu_si256((const __m256i *)(a + j + 8)), corrections + j + 8,
                                      scales + j + 8, bias + j + 8, relu, scale, offset);
            retort_int8_store_bytes16(o + j, lo, hi);
        }
        for (; j + 8 <= outputs; j += 8)
            retort_int8_store_bytes8(o + j, requantized8(_mm256_loadu_si256((const __m256i *)(a + j)), corrections + j,
                                                         scales + j, bias + j, relu, scale, offset));
        for (; j < outputs; j++)
            o[j] = requantized_byte(a[j], corrections[j], scales[j], bias[j], relu, inverse, zero);
    }
}
#endif

void retort_int8_requantize_pooled_bytes(const int32_t *acc, int out_w, int outputs, const int32_t *corrections,
                                         const float *scales, const float *bias, int relu, float inverse, int zero,
                                         uint8_t *out) {
#ifdef RETORT_X86
    if (__builtin_cpu_supports("avx2")) {
        requantize_pooled_bytes_avx2(acc, out_w, outputs, corrections, scales, bias, relu, inverse, zero, out);
        return;
    }
#endif
    const int32_t *top = acc, *bottom = acc + (size_t)out_w * outputs;
    for (int px = 0; px < out_w / 2; px++) {
        size_t left = (size_t)(2 * px) * outputs, right = left + outputs;
        for (int j = 0; j < outputs; j++) {
            int32_t m = max4(top[left + j], top[right + j], bottom[left + j], bottom[right + j]);
            out[(size_t)px * outputs + j] = requantized_byte(m, corrections[j], scales[j], bias[j], relu, inverse, zero);
        }
    }
}

void retort_int8_requantize_bytes(const int32_t *acc, size_t rows, int outputs, const int32_t *corrections,
                                  const float *scales, const float *bias, int relu, float inverse, int zero,
                                  uint8_t *out) {
#ifdef RETORT_X86
    if (__builtin_cpu_supports("avx2")) {
        requantize_bytes_avx2(acc, rows, outputs, corrections, scales, bias, relu, inverse, zero, out);
        return;
    }
#endif
    for (size_t r = 0; r < rows; r++)
        for (int j = 0; j < outputs; j++)
            out[r * outputs + j] =
                requantized_byte(acc[r * outputs + j], corrections[j], scales[j], bias[j], relu, inverse, zero);
}
