// A float convolution straight from a padded channels-last image, with AVX-512: no unfolded columns.
// Each step holds up to 7 output positions x 32 output channels of sums in 14 registers and, for
// every tap (ky, kx, c), multiplies one broadcast input value per position by two registers of
// weights: 14 multiply-adds per 9 loads, so the FMA units, not the loads, set the pace. Each sum
// adds its taps in (ky, kx, c) order, the order of a channels-last unfolding's columns.
#include "retort_image.h"

#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f")))
#define INLINE static inline __attribute__((always_inline))

// Up to 7 positions (`count`, a constant after inlining) of one output row from ox, output channels
// [o, o + 16 * blocks) (blocks 1 or 2), the last block's lanes past `channels` not stored.
INLINE AVX512 void positions(const float *in, long c, long pw, long kh, long kw, long stride, const float *w,
                             long o16, float *out, long out_channels, int count, int blocks, __mmask16 last) {
    __m512 acc[7][2];
#pragma clang loop unroll(full)
    for (int p = 0; p < 7; p++) {
        acc[p][0] = _mm512_setzero_ps();
        acc[p][1] = _mm512_setzero_ps();
    }
    for (long ky = 0; ky < kh; ky++) {
        for (long kx = 0; kx < kw; kx++) {
            const float *src = in + (ky * pw + kx) * c;
            const float *taps = w + (ky * kw + kx) * c * o16;
            for (long ch = 0; ch < c; ch++, taps += o16) {
                const __m512 w0 = _mm512_loadu_ps(taps), w1 = blocks == 2 ? _mm512_loadu_ps(taps + 16) : w0;
#pragma clang loop unroll(full)
                for (int p = 0; p < 7; p++) {
                    if (p >= count) break;
                    const __m512 x = _mm512_set1_ps(src[p * stride * c + ch]);
                    acc[p][0] = _mm512_fmadd_ps(x, w0, acc[p][0]);
                    if (blocks == 2) acc[p][1] = _mm512_fmadd_ps(x, w1, acc[p][1]);
                }
            }
        }
    }
#pragma clang loop unroll(full)
    for (int p = 0; p < 7; p++) {
        if (p >= count) break;
        float *dst = out + p * out_channels;
        if (blocks == 1) {
            _mm512_mask_storeu_ps(dst, last, acc[p][0]);
        } else {
            _mm512_storeu_ps(dst, acc[p][0]);
            _mm512_mask_storeu_ps(dst + 16, last, acc[p][1]);
        }
    }
}

// positions() with count and blocks as constants.
#define POSITIONS_CASE(n)                                                                                              \
    case n:                                                                                                            \
        if (blocks == 2) positions(in, c, pw, kh, kw, stride, w, o16, out, out_channels, n, 2, last);                  \
        else positions(in, c, pw, kh, kw, stride, w, o16, out, out_channels, n, 1, last);                              \
        break;

static AVX512 void some_positions(const float *in, long c, long pw, long kh, long kw, long stride, const float *w,
                                  long o16, float *out, long out_channels, int count, int blocks, __mmask16 last) {
    switch (count) {
        POSITIONS_CASE(1)
        POSITIONS_CASE(2)
        POSITIONS_CASE(3)
        POSITIONS_CASE(4)
        POSITIONS_CASE(5)
        POSITIONS_CASE(6)
        POSITIONS_CASE(7)
    }
}

AVX512 void retort_convolve_channels_last_avx512(const float *image, long channels, long padded_width,
                                                 const retort_window *w, const float *weights, float *out,
                                                 long out_channels) {
    const long o16 = (out_channels + 15) / 16 * 16, ow = w->output_width, c = channels;
    for (long oy = 0; oy < w->output_height; oy++) {
        const float *row = image + oy * w->stride * padded_width * c;
        for (long ox = 0; ox < ow; ox += 7) {
            const int count = (int)(ow - ox < 7 ? ow - ox : 7);
            const float *in = row + ox * w->stride * c;
            float *dst = out + (oy * ow + ox) * out_channels;
            for (long o = 0; o < out_channels; o += 32) {
                const long left = out_channels - o;
                const int blocks = left > 16 ? 2 : 1;
                const long tail = left - 16 * (blocks - 1);
                const __mmask16 last = (__mmask16)(tail >= 16 ? 0xFFFF : (1u << tail) - 1);
                some_positions(in, c, padded_width, w->kernel_height, w->kernel_width, w->stride, weights + o, o16,
                               dst + o, out_channels, count, blocks, last);
            }
        }
    }
}

// Few taps (kernel_height * kernel_width * channels <= 16: a one- to three-channel first layer): every
// tap's 16 weights stay in a register for the whole image, and 14 positions of one output row take
// one multiply-add per tap each, their input a broadcast from memory: one load per multiply-add and
// none for the weights, where positions() loads a weight vector per tap for at most 7 of them. The
// last group of a row starts at output_width - 14, redoing some positions with the same taps in the
// same order: the same values again.
#define FEW_POSITIONS 14

// One block of 16 output channels (lanes past the last channel masked off) over the whole image,
// `taps` and `step` (input floats between neighbouring positions) constants after inlining where
// they can be; offsets[t] is tap t's input offset from a position's first tap.
INLINE AVX512 void few_taps_block(const float *image, long row_floats, const retort_window *w, const float *weights,
                                  long o16, const long *offsets, float *out, long out_channels, int taps, long step,
                                  __mmask16 mask) {
    __m512 tap[16];
#pragma clang loop unroll(full)
    for (int t = 0; t < 16; t++) {
        if (t >= taps) break;
        tap[t] = _mm512_loadu_ps(weights + t * o16);
    }
    const long ow = w->output_width;
    for (long oy = 0; oy < w->output_height; oy++) {
        const float *row = image + oy * w->stride * row_floats;
        for (long ox = 0; ox < ow; ox += FEW_POSITIONS) {
            const long first = ox + FEW_POSITIONS > ow ? ow - FEW_POSITIONS : ox;
            const float *in = row + first * step;
            __m512 acc[FEW_POSITIONS];
#pragma clang loop unroll(full)
            for (int p = 0; p < FEW_POSITIONS; p++) acc[p] = _mm512_setzero_ps();
#pragma clang loop unroll(full)
            for (int t = 0; t < 16; t++) {
                if (t >= taps) break;
                const float *src = in + offsets[t];
#pragma clang loop unroll(full)
                for (int p = 0; p < FEW_POSITIONS; p++)
                    acc[p] = _mm512_fmadd_ps(_mm512_set1_ps(src[p * step]), tap[t], acc[p]);
            }
            float *dst = out + (oy * ow + first) * out_channels;
#pragma clang loop unroll(full)
            for (int p = 0; p < FEW_POSITIONS; p++) _mm512_mask_storeu_ps(dst + p * out_channels, mask, acc[p]);
        }
    }
}

// few_taps_block with `taps` a constant, and `step` too when it is 1 (stride 1, one channel).
#define FEW_TAPS_CASE(n)                                                                                               \
    case n:                                                                                                            \
        if (step == 1) few_taps_block(image, row_floats, w, block, o16, offsets, dst, out_channels, n, 1, mask);         \
        else few_taps_block(image, row_floats, w, block, o16, offsets, dst, out_channels, n, step, mask);                \
        break;

AVX512 void retort_convolve_few_taps_avx512(const float *image, long channels, long padded_width,
                                            const retort_window *w, const float *weights, float *out,
                                            long out_channels) {
    const long c = channels, o16 = (out_channels + 15) / 16 * 16, row_floats = padded_width * c;
    const long step = w->stride * c;
    const int taps = (int)(w->kernel_height * w->kernel_width * c);
    if (taps > 16 || w->output_width < FEW_POSITIONS) {
        // Outside what this loop holds (the caller checks first): the general loop, the same sums.
        retort_convolve_channels_last_avx512(image, channels, padded_width, w, weights, out, out_channels);
        return;
    }
    long offsets[16];
    for (long ky = 0, t = 0; ky < w->kernel_height; ky++)
        for (long kx = 0; kx < w->kernel_width; kx++)
            for (long ch = 0; ch < c; ch++, t++) offsets[t] = ky * row_floats + kx * c + ch;
    for (long o = 0; o < out_channels; o += 16) {
        const long left = out_channels - o;
        const __mmask16 mask = (__mmask16)(left >= 16 ? 0xFFFF : (1u << left) - 1);
        const float *block = weights + o;
        float *dst = out + o;
        switch (taps) {
            FEW_TAPS_CASE(1)
            FEW_TAPS_CASE(2)
            FEW_TAPS_CASE(3)
            FEW_TAPS_CASE(4)
            FEW_TAPS_CASE(5)
            FEW_TAPS_CASE(6)
            FEW_TAPS_CASE(7)
            FEW_TAPS_CASE(8)
            FEW_TAPS_CASE(9)
            FEW_TAPS_CASE(10)
            FEW_TAPS_CASE(11)
            FEW_TAPS_CASE(12)
            FEW_TAPS_CASE(13)
            FEW_TAPS_CASE(14)
            FEW_TAPS_CASE(15)
            FEW_TAPS_CASE(16)
        }
    }
}
