// A float convolution's inference pass channels last: the image transposed to [H, W, C], unfolded
// one output position per row (each kernel row one copy of kw * C floats instead of C * kh * kw
// short rows), the GEMM's [positions, O] product pooled over 2x2 windows of whole channel vectors
// (no shuffles), and the result turned back to channels first with the bias and ReLU on the way.
#include "retort_image.h"
#include "float_rows.h"

#include <emmintrin.h>

#define INLINE static inline __attribute__((always_inline))
#define NO_CALLS __attribute__((no_builtin("memcpy", "memset", "memmove")))
// One body per vector width, chosen when the program loads: 16 floats are one AVX-512 register, two
// AVX2 ones or four SSE2 ones (the baseline).
#define WIDE __attribute__((target_clones("avx512f", "avx2", "default")))

// 16 floats, loaded and stored unaligned, aliasing float.
typedef float floats16 __attribute__((vector_size(64), aligned(4), may_alias));
typedef int32_t ints16 __attribute__((vector_size(64), aligned(4), may_alias));

// copy_floats, 16 at a time when the row is that long (a kernel row of a 16-channel image is 48).
INLINE void copy_wide(float *dst, const float *src, long count) {
    if (count < 16) {
        copy_floats(dst, src, count);
        return;
    }
    long i = 0;
    for (; i + 16 <= count; i += 16) *(floats16 *)(dst + i) = *(const floats16 *)(src + i);
    if (i < count) *(floats16 *)(dst + count - 16) = *(const floats16 *)(src + count - 16);
}

INLINE void zero_wide(float *dst, long count) {
    if (count < 16) {
        zero_floats(dst, count);
        return;
    }
    const floats16 zero = {0};
    long i = 0;
    for (; i + 16 <= count; i += 16) *(floats16 *)(dst + i) = zero;
    if (i < count) *(floats16 *)(dst + count - 16) = zero;
}

// v + bias when there is one (not adding 0, which would turn -0 into 0), then ReLU when asked:
// negatives to 0, NaN and -0 kept (a NaN is never < 0).
INLINE __m128 finish(__m128 v, const float *bias, __m128 b, int relu) {
    if (bias) v = _mm_add_ps(v, b);
    return relu ? _mm_andnot_ps(_mm_cmplt_ps(v, _mm_setzero_ps()), v) : v;
}

INLINE float finish_one(float v, const float *bias, long channel, int relu) {
    if (bias) v += bias[channel];
    return relu && v < 0 ? 0 : v;
}

// dst[j * dst_stride + i] = src[i * src_stride + j] (+ bias[j], then ReLU) for i < rows, j < cols:
// 4x4 blocks transposed in registers, the edges one by one.
INLINE void transpose(const float *restrict src, long rows, long cols, long src_stride, float *restrict dst,
                      long dst_stride, const float *bias, int relu) {
    long j = 0;
    for (; j + 4 <= cols; j += 4) {
        const __m128 b0 = _mm_set1_ps(bias ? bias[j] : 0), b1 = _mm_set1_ps(bias ? bias[j + 1] : 0),
                     b2 = _mm_set1_ps(bias ? bias[j + 2] : 0), b3 = _mm_set1_ps(bias ? bias[j + 3] : 0);
        long i = 0;
        for (; i + 4 <= rows; i += 4) {
            __m128 r0 = _mm_loadu_ps(src + i * src_stride + j), r1 = _mm_loadu_ps(src + (i + 1) * src_stride + j),
                   r2 = _mm_loadu_ps(src + (i + 2) * src_stride + j), r3 = _mm_loadu_ps(src + (i + 3) * src_stride + j);
            _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
            _mm_storeu_ps(dst + j * dst_stride + i, finish(r0, bias, b0, relu));
            _mm_storeu_ps(dst + (j + 1) * dst_stride + i, finish(r1, bias, b1, relu));
            _mm_storeu_ps(dst + (j + 2) * dst_stride + i, finish(r2, bias, b2, relu));
            _mm_storeu_ps(dst + (j + 3) * dst_stride + i, finish(r3, bias, b3, relu));
        }
        for (; i < rows; i++) {
            for (long k = j; k < j + 4; k++) {
                dst[k * dst_stride + i] = finish_one(src[i * src_stride + k], bias, k, relu);
            }
        }
    }
    for (; j < cols; j++) {
        for (long i = 0; i < rows; i++) dst[j * dst_stride + i] = finish_one(src[i * src_stride + j], bias, j, relu);
    }
}

void retort_to_channels_last(const float *restrict image, long channels, long area, float *restrict out) {
    transpose(image, channels, area, area, out, channels, 0, 0);
}

// Zeros the padding of a padded channels-last image out [height + 2 * padding, width + 2 * padding, c]:
// the rows above and below, and each row's ends.
INLINE void zero_padding(float *out, long height, long width, long c, long padding) {
    const long pw = width + 2 * padding;
    zero_floats(out, padding * pw * c);
    zero_floats(out + (padding + height) * pw * c, padding * pw * c);
    for (long y = 0; y < height; y++) {
        float *row = out + (padding + y) * pw * c;
        zero_floats(row, padding * c);
        zero_floats(row + (padding + width) * c, padding * c);
    }
}

NO_CALLS void retort_to_channels_last_padded(const float *restrict image, long channels, long height, long width,
                                             long padding, float *restrict out) {
    const long pw = width + 2 * padding, c = channels;
    zero_padding(out, height, width, c, padding);
    for (long y = 0; y < height; y++) {
        if (c == 1) {
            // One plane: its rows as they are (the transpose would go a float at a time).
            copy_wide(out + (padding + y) * pw + padding, image + y * width, width);
            continue;
        }
        // Row y of every channel plane, [channels, width] with planes height * width apart.
        transpose(image + y * width, c, width, height * width, out + ((padding + y) * pw + padding) * c, c, 0, 0);
    }
}

// x [height * width, channels] + bias, then ReLU when relu, into the padded channels-last image out
// [height + 2 * padding, width + 2 * padding, channels], zeros around.
INLINE void finish_padded(const float *restrict x, long height, long width, long channels, const float *restrict bias,
                          int relu, long padding, float *restrict out) {
    const long pw = width + 2 * padding, c = channels;
    zero_padding(out, height, width, c, padding);
    for (long y = 0; y < height; y++) {
        float *dst = out + ((padding + y) * pw + padding) * c;
        const float *src = x + y * width * c;
        for (long p = 0; p < width; p++, dst += c, src += c) {
            long ch = 0;
            for (; ch + 4 <= c; ch += 4) {
                _mm_storeu_ps(dst + ch, finish(_mm_loadu_ps(src + ch), bias, _mm_loadu_ps(bias + ch), relu));
            }
            for (; ch < c; ch++) dst[ch] = finish_one(src[ch], bias, ch, relu);
        }
    }
}

NO_CALLS void retort_finish_channels_last_padded(const float *restrict x, long height, long width, long channels,
                                                 const float *restrict bias, int relu, long padding,
                                                 float *restrict out) {
    if (relu) finish_padded(x, height, width, channels, bias, 1, padding, out);
    else finish_padded(x, height, width, channels, bias, 0, padding, out);
}

void retort_to_channels_first(const float *restrict x, long area, long channels, const float *restrict bias, int relu,
                              float *restrict out) {
    // Four bodies, the tests hoisted out of the loops.
    if (bias && relu) transpose(x, area, channels, channels, out, area, bias, 1);
    else if (bias) transpose(x, area, channels, channels, out, area, bias, 0);
    else if (relu) transpose(x, area, channels, channels, out, area, 0, 1);
    else transpose(x, area, channels, channels, out, area, 0, 0);
}

WIDE NO_CALLS void retort_im2col_channels_last(const float *restrict image, long channels, const retort_window *w,
                                          float *restrict cols) {
    const long c = channels, in_h = w->input_height, in_w = w->input_width, kh = w->kernel_height,
               kw = w->kernel_width;
    const long segment = kw * c, patch = segment * kh, pixel_row = in_w * c;
    float *dst = cols;
    for (long oy = 0; oy < w->output_height; oy++) {
        for (long ox = 0; ox < w->output_width; ox++, dst += patch) {
            const long x0 = ox * w->stride - w->padding;
            float *d = dst;
            if (x0 >= 0 && x0 + kw <= in_w) {
                // The whole window inside the row: each kernel row one copy.
                for (long ky = 0; ky < kh; ky++, d += segment) {
                    const long y = oy * w->stride - w->padding + ky;
                    if (y < 0 || y >= in_h) zero_wide(d, segment);
                    else copy_wide(d, image + y * pixel_row + x0 * c, segment);
                }
                continue;
            }
            // A window over the left or right padding: tap by tap.
            for (long ky = 0; ky < kh; ky++) {
                const long y = oy * w->stride - w->padding + ky;
                for (long kx = 0; kx < kw; kx++, d += c) {
                    const long x = x0 + kx;
                    if (y < 0 || y >= in_h || x < 0 || x >= in_w) zero_wide(d, c);
                    else copy_wide(d, image + y * pixel_row + x * c, c);
                }
            }
        }
    }
}

// One tap against the best so far, as retort_max_pool_2x2 takes it: a larger value, or a NaN,
// replaces it.
INLINE __m128 pool_tap(__m128 v, __m128 best) {
    const __m128 better = _mm_xor_ps(_mm_cmpgt_ps(v, best), _mm_cmpunord_ps(v, v));
    return _mm_or_ps(_mm_and_ps(better, v), _mm_andnot_ps(better, best));
}

// pool_tap on 16 channels, the tap at `tap`; a macro, as a function taking a 64-byte vector by value
// has a different ABI in each clone.
#define POOL_TAP16(tap, best)                                                                                          \
    do {                                                                                                               \
        const floats16 v = *(const floats16 *)(tap);                                                                   \
        const ints16 better = (v > (best)) ^ (v != v);                                                                 \
        (best) = (floats16)(((ints16)v & better) | ((ints16)(best) & ~better));                                        \
    } while (0)

INLINE float pool_tap_one(float v, float best) { return ((v > best) != (v != v)) ? v : best; }

// One output position of a 2x2 pool over channels-last rows `row` floats long, its window's top left
// at t0, into o: the taps in retort_max_pool_2x2's order (top left, top right, bottom left, bottom
// right), then the bias when there is one and ReLU when relu (as finish does).
INLINE void pool_position(const float *restrict t0, long row, long channels, const float *restrict bias, int relu,
                          float *restrict o) {
    const float *t1 = t0 + channels, *t2 = t0 + row, *t3 = t2 + channels;
    long c = 0;
    for (; c + 16 <= channels; c += 16) {
        floats16 best = *(const floats16 *)(t0 + c);
        POOL_TAP16(t1 + c, best);
        POOL_TAP16(t2 + c, best);
        POOL_TAP16(t3 + c, best);
        if (bias) best = best + *(const floats16 *)(bias + c);
        if (relu) best = (floats16)((ints16)best & ~(ints16)(best < 0));
        *(floats16 *)(o + c) = best;
    }
    for (; c + 4 <= channels; c += 4) {
        __m128 best = _mm_loadu_ps(t0 + c);
        best = pool_tap(_mm_loadu_ps(t1 + c), best);
        best = pool_tap(_mm_loadu_ps(t2 + c), best);
        best = pool_tap(_mm_loadu_ps(t3 + c), best);
        _mm_storeu_ps(o + c, finish(best, bias, bias ? _mm_loadu_ps(bias + c) : best, relu));
    }
    for (; c < channels; c++) {
        o[c] = finish_one(pool_tap_one(t3[c], pool_tap_one(t2[c], pool_tap_one(t1[c], t0[c]))), bias, c, relu);
    }
}

WIDE NO_CALLS void retort_max_pool_2x2_channels_last(const float *restrict x, long images, long height, long width,
                                                long channels, float *restrict out) {
    const long out_h = height / 2, out_w = width / 2, row = width * channels;
    for (long i = 0; i < images; i++) {
        for (long oy = 0; oy < out_h; oy++) {
            const float *upper = x + (i * height + 2 * oy) * row;
            float *o = out + (i * out_h + oy) * out_w * channels;
            for (long ox = 0; ox < out_w; ox++, o += channels) pool_position(upper + 2 * ox * channels, row, channels, 0, 0, o);
        }
    }
}

// The pool, then the bias and ReLU into the padded image, as one pass: relu a constant.
INLINE void pool_finish_padded(const float *restrict x, long height, long width, long channels,
                               const float *restrict bias, int relu, long padding, float *restrict out) {
    const long out_h = height / 2, out_w = width / 2, row = width * channels, pw = out_w + 2 * padding;
    zero_padding(out, out_h, out_w, channels, padding);
    for (long oy = 0; oy < out_h; oy++) {
        const float *upper = x + 2 * oy * row;
        float *o = out + ((padding + oy) * pw + padding) * channels;
        for (long ox = 0; ox < out_w; ox++, o += channels) {
            pool_position(upper + 2 * ox * channels, row, channels, bias, relu, o);
        }
    }
}

WIDE NO_CALLS void retort_pool_finish_channels_last_padded(const float *restrict x, long height, long width,
                                                      long channels, const float *restrict bias, int relu,
                                                      long padding, float *restrict out) {
    if (relu) pool_finish_padded(x, height, width, channels, bias, 1, padding, out);
    else pool_finish_padded(x, height, width, channels, bias, 0, padding, out);
}
