// The direct convolution of direct_convolution.c for CPUs with AVX2 and FMA but no AVX-512 (a Zen 3):
// the same padded channels-last image, the same weights ([kh*kw*C, O rounded up to 16]) and the same
// sums, each adding its taps in (ky, kx, c) order with one multiply-add per tap, so the two give the
// same bits. AVX2 has 16 registers of 8 lanes: a step holds up to 6 output positions x 16 output
// channels of sums in 12 of them, with two of weights and one broadcast input value: 12
// multiply-adds per 8 loads.
#include "retort_image.h"

#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma")))
#define INLINE static inline __attribute__((always_inline))

#define GENERAL_POSITIONS 6

// The first n (0 to 8) lanes of a mask for _mm256_maskstore_ps.
INLINE AVX2 __m256i first_lanes(long n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// The 8 lanes of `v` at dst, or only the first `lanes` of them.
INLINE AVX2 void store_lanes(float *dst, __m256 v, long lanes) {
    if (lanes >= 8) _mm256_storeu_ps(dst, v);
    else _mm256_maskstore_ps(dst, first_lanes(lanes), v);
}

// Up to 6 consecutive output positions (`count`, a constant after inlining) in row-major order,
// which may run on from one output row into the next: position p's first tap at in + starts[p].
// Output channels [o, o + 8 * blocks) (blocks 1 or 2), `left` of them (out_channels - o) stored at
// most. Each position's sum adds its taps in (ky, kx, c) order however the positions are grouped.
INLINE AVX2 void positions(const float *in, const long *starts, long c, long pw, long kh, long kw, const float *w,
                           long o16, float *out, long out_channels, int count, int blocks, long left) {
    __m256 acc[GENERAL_POSITIONS][2];
#pragma clang loop unroll(full)
    for (int p = 0; p < GENERAL_POSITIONS; p++) {
        acc[p][0] = _mm256_setzero_ps();
        acc[p][1] = _mm256_setzero_ps();
    }
    for (long ky = 0; ky < kh; ky++) {
        for (long kx = 0; kx < kw; kx++) {
            const float *src = in + (ky * pw + kx) * c;
            const float *taps = w + (ky * kw + kx) * c * o16;
            for (long ch = 0; ch < c; ch++, taps += o16) {
                const __m256 w0 = _mm256_loadu_ps(taps), w1 = blocks == 2 ? _mm256_loadu_ps(taps + 8) : w0;
#pragma clang loop unroll(full)
                for (int p = 0; p < GENERAL_POSITIONS; p++) {
                    if (p >= count) break;
                    const __m256 x = _mm256_broadcast_ss(src + starts[p] + ch);
                    acc[p][0] = _mm256_fmadd_ps(x, w0, acc[p][0]);
                    if (blocks == 2) acc[p][1] = _mm256_fmadd_ps(x, w1, acc[p][1]);
                }
            }
        }
    }
#pragma clang loop unroll(full)
    for (int p = 0; p < GENERAL_POSITIONS; p++) {
        if (p >= count) break;
        float *dst = out + p * out_channels;
        store_lanes(dst, acc[p][0], left);
        if (blocks == 2) store_lanes(dst + 8, acc[p][1], left - 8);
    }
}

// positions() with count and blocks as constants.
#define POSITIONS_CASE(n)                                                                                              \
    case n:                                                                                                            \
        if (blocks == 2) positions(in, starts, c, pw, kh, kw, w, o16, out, out_channels, n, 2, left);                  \
        else positions(in, starts, c, pw, kh, kw, w, o16, out, out_channels, n, 1, left);                              \
        break;

static AVX2 void some_positions(const float *in, const long *starts, long c, long pw, long kh, long kw,
                                const float *w, long o16, float *out, long out_channels, int count, int blocks,
                                long left) {
    switch (count) {
        POSITIONS_CASE(1)
        POSITIONS_CASE(2)
        POSITIONS_CASE(3)
        POSITIONS_CASE(4)
        POSITIONS_CASE(5)
        POSITIONS_CASE(6)
    }
}

// The positions of the group at `first` of `total`: 6, but where 7 to 9 are left, the last two
// groups share them (4 and 3, 4 and 4, 5 and 4), as Retort's own GEMM shares a block's last rows
// (packed_gemm_avx2.c): a group of fewer than 4 positions keeps fewer than 8 sums going, too few for
// two multiply-add units of 4 cycles' latency. Outputs of 5x5, 7x7, 11x11 or 13x13 positions (1
// past a multiple of 6) ended in a group of 1 that took 4 cycles a tap where 6 positions take 6.
static long group_size(long total, long first) {
    long left = total - first;
    if (left > GENERAL_POSITIONS && left < GENERAL_POSITIONS + 4) return (left + 1) / 2;
    return left < GENERAL_POSITIONS ? left : GENERAL_POSITIONS;
}

AVX2 void retort_convolve_channels_last_avx2(const float *image, long channels, long padded_width,
                                             const retort_window *w, const float *weights, float *out,
                                             long out_channels) {
    // The positions go 6 at a time (`group_size`) in row-major order across the rows (a 14-wide
    // output is 6, 6 and 2 a row otherwise, the 2 at half the multiply-adds per load).
    const long o16 = (out_channels + 15) / 16 * 16, ow = w->output_width, c = channels;
    const long total = w->output_height * ow;
    for (long first = 0, count; first < total; first += count) {
        count = group_size(total, first);
        long starts[GENERAL_POSITIONS] = {0};
        for (int p = 0; p < count; p++) {
            const long oy = (first + p) / ow, ox = (first + p) % ow;
            starts[p] = (oy * padded_width + ox) * w->stride * c;
        }
        float *dst = out + first * out_channels;
        for (long o = 0; o < out_channels; o += 16) {
            const long left = out_channels - o;
            some_positions(image, starts, c, padded_width, w->kernel_height, w->kernel_width, weights + o, o16,
                           dst + o, out_channels, (int)count, left > 8 ? 2 : 1, left);
        }
    }
}

// Few taps (kernel_height * kernel_width * channels <= 9: a one-channel 3x3 first layer): 16 output
// channels a pass while more than 8 are left, then 8; 6 positions of one output row take one
// broadcast per tap. (Two blocks a pass rather than one ran the bench's CNN about 6% faster whole.)
// The last group of a row starts at output_width - 6, redoing some positions with the same taps in
// the same order: the same values.
#define FEW_TAPS 9
#define FEW_POSITIONS 6

// `blocks` (1 or 2, a constant after inlining) blocks of 8 output channels over the whole image,
// `lanes` of them stored; `taps` and `step` (input floats between neighbouring positions) constants
// after inlining where they can be; offsets[t] is tap t's input offset from a position's first tap.
// One block keeps every tap's 8 weights in a register for the whole image (9 registers); two load
// each tap's 16 weights as it comes (18 registers would not fit) and keep 12 sums going where one
// block has 6, too few to cover the multiply-add's latency. Either way each position adds its taps
// in the same order: the same sums.
INLINE AVX2 void few_taps(const float *image, long row_floats, const retort_window *w, const float *weights,
                          long o16, const long *offsets, float *out, long out_channels, int taps, long step,
                          int blocks, long lanes) {
    __m256 tap[FEW_TAPS];
#pragma clang loop unroll(full)
    for (int t = 0; t < FEW_TAPS; t++) {
        if (t >= taps || blocks == 2) break;
        tap[t] = _mm256_loadu_ps(weights + t * o16);
    }
    const long ow = w->output_width;
    for (long oy = 0; oy < w->output_height; oy++) {
        const float *row = image + oy * w->stride * row_floats;
        for (long ox = 0; ox < ow; ox += FEW_POSITIONS) {
            const long first = ox + FEW_POSITIONS > ow ? ow - FEW_POSITIONS : ox;
            const float *in = row + first * step;
            __m256 acc[FEW_POSITIONS][2];
#pragma clang loop unroll(full)
            for (int p = 0; p < FEW_POSITIONS; p++) acc[p][0] = acc[p][1] = _mm256_setzero_ps();
#pragma clang loop unroll(full)
            for (int t = 0; t < FEW_TAPS; t++) {
                if (t >= taps) break;
                const float *src = in + offsets[t];
                const __m256 w0 = blocks == 2 ? _mm256_loadu_ps(weights + t * o16) : tap[t];
                const __m256 w1 = blocks == 2 ? _mm256_loadu_ps(weights + t * o16 + 8) : w0;
#pragma clang loop unroll(full)
                for (int p = 0; p < FEW_POSITIONS; p++) {
                    const __m256 x = _mm256_broadcast_ss(src + p * step);
                    acc[p][0] = _mm256_fmadd_ps(x, w0, acc[p][0]);
                    if (blocks == 2) acc[p][1] = _mm256_fmadd_ps(x, w1, acc[p][1]);
                }
            }
            float *dst = out + (oy * ow + first) * out_channels;
#pragma clang loop unroll(full)
            for (int p = 0; p < FEW_POSITIONS; p++) {
                store_lanes(dst + p * out_channels, acc[p][0], lanes);
                if (blocks == 2) store_lanes(dst + p * out_channels + 8, acc[p][1], lanes - 8);
            }
        }
    }
}

// few_taps with `taps` a constant, two blocks while more than 8 channels are left, and `step` a
// constant too when it is 1 (stride 1, one channel).
#define FEW_TAPS_ARGS(n, s, b) image, row_floats, w, block, o16, offsets, dst, out_channels, n, s, b, lanes
#define FEW_TAPS_CASE(n)                                                                                               \
    case n:                                                                                                            \
        if (lanes > 8 && step == 1) few_taps(FEW_TAPS_ARGS(n, 1, 2));                                                  \
        else if (lanes > 8) few_taps(FEW_TAPS_ARGS(n, step, 2));                                                       \
        else if (step == 1) few_taps(FEW_TAPS_ARGS(n, 1, 1));                                                          \
        else few_taps(FEW_TAPS_ARGS(n, step, 1));                                                                      \
        break;

AVX2 void retort_convolve_few_taps_avx2(const float *image, long channels, long padded_width, const retort_window *w,
                                        const float *weights, float *out, long out_channels) {
    const long c = channels, o16 = (out_channels + 15) / 16 * 16, row_floats = padded_width * c;
    const long step = w->stride * c;
    const int taps = (int)(w->kernel_height * w->kernel_width * c);
    if (taps > FEW_TAPS || w->output_width < FEW_POSITIONS) {
        // Outside what this loop holds: the general loop, the same sums.
        retort_convolve_channels_last_avx2(image, channels, padded_width, w, weights, out, out_channels);
        return;
    }
    long offsets[FEW_TAPS];
    for (long ky = 0, t = 0; ky < w->kernel_height; ky++)
        for (long kx = 0; kx < w->kernel_width; kx++)
            for (long ch = 0; ch < c; ch++, t++) offsets[t] = ky * row_floats + kx * c + ch;
    for (long o = 0; o < out_channels; o += out_channels - o > 8 ? 16 : 8) {
        const long lanes = out_channels - o;
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
        }
    }
}
