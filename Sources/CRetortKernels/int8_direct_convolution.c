// The int8 convolution straight from a padded channels-last image with AVX-512 VNNI, no unfolded
// patches: up to 7 output positions x 32 output channels of int32 sums in 14 registers, and for each
// tap (ky, kx) and group of 4 channels one broadcast of 4 activation bytes per position against two
// registers of packed weights (vpdpbusd adds 4 byte products into each int32 lane). The sums are
// exact, so they equal retort_int8_gemm's over the unfolded patches bit for bit.
//
// A one-channel image has no 4 channels to group, so its groups run along the kernel row instead:
// 4 neighbouring pixels (kx = 4g ... 4g + 3, weights past kw 0) are 4 consecutive bytes of the row.
#include "retort_int8.h"
#include "int8_cpu.h"

#include <string.h>

size_t retort_int8_pack_direct(const int8_t *w, int outputs, int c, int kh, int kw, int8_t *out) {
    const size_t o16 = (size_t)(outputs + 15) / 16 * 16;
    if (c == 1) {
        // [kh][(kw + 3) / 4][o16][4]: byte j of group g is tap kx = 4g + j.
        const size_t groups = (size_t)(kw + 3) / 4, size = (size_t)kh * groups * o16 * 4;
        if (!out) return size;
        memset(out, 0, size);
        for (int o = 0; o < outputs; o++) {
            for (int ky = 0; ky < kh; ky++) {
                for (int kx = 0; kx < kw; kx++) {
                    out[(((size_t)ky * groups + kx / 4) * o16 + o) * 4 + kx % 4] = w[((size_t)o * kh + ky) * kw + kx];
                }
            }
        }
        return size;
    }
    const size_t groups = (size_t)c / 4;
    const size_t size = (size_t)kh * kw * groups * o16 * 4;
    if (!out) return size;
    memset(out, 0, size);
    for (int o = 0; o < outputs; o++) {
        for (int ch = 0; ch < c; ch++) {
            for (int ky = 0; ky < kh; ky++) {
                for (int kx = 0; kx < kw; kx++) {
                    const size_t tap = (size_t)ky * kw + kx, from = (((size_t)o * c + ch) * kh + ky) * kw + kx;
                    out[((tap * groups + ch / 4) * o16 + o) * 4 + ch % 4] = w[from];
                }
            }
        }
    }
    return size;
}

void retort_int8_pad_channels_last(const uint8_t *q, int c, int h, int w, int pad, uint8_t zero, uint8_t *out) {
    const size_t pw = (size_t)w + 2 * pad, row = pw * c;
    memset(out, zero, (size_t)pad * row);
    memset(out + (size_t)(pad + h) * row, zero, (size_t)pad * row);
    for (int y = 0; y < h; y++) {
        uint8_t *dst = out + (size_t)(pad + y) * row;
        memset(dst, zero, (size_t)pad * c);
        memcpy(dst + (size_t)pad * c, q + (size_t)y * w * c, (size_t)w * c);
        memset(dst + (size_t)(pad + w) * c, zero, (size_t)pad * c);
    }
    memset(out + (size_t)(h + 2 * pad) * row, zero, 4);
}

#ifdef RETORT_X86

#define VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vnni")))

// Up to 7 positions (`count`, a constant after inlining) from `in`, outputs [o, o + 16 * blocks)
// (blocks 1 or 2), the last block's lanes past `outputs` not stored. A pixel is c bytes; each of the
// kh * kw taps reads `groups` runs of 4 bytes from the tap's pixel on.
VNNI_TARGET __attribute__((always_inline)) static inline void positions(
    const uint8_t *in, size_t c, size_t groups, size_t pw, int kh, int kw, int stride, const int8_t *w, size_t o16,
    int32_t *acc, int outputs, int count, int blocks, __mmask16 last) {
    __m512i sum[7][2];
#pragma clang loop unroll(full)
    for (int p = 0; p < 7; p++) {
        sum[p][0] = _mm512_setzero_si512();
        sum[p][1] = _mm512_setzero_si512();
    }
    for (int ky = 0; ky < kh; ky++) {
        for (int kx = 0; kx < kw; kx++) {
            const uint8_t *src = in + ((size_t)ky * pw + kx) * c;
            const int8_t *taps = w + ((size_t)ky * kw + kx) * groups * o16 * 4;
            for (size_t g = 0; g < groups; g++, taps += o16 * 4) {
                const __m512i w0 = _mm512_loadu_si512(taps), w1 = blocks == 2 ? _mm512_loadu_si512(taps + 64) : w0;
#pragma clang loop unroll(full)
                for (int p = 0; p < 7; p++) {
                    if (p >= count) break;
                    int32_t four;
                    memcpy(&four, src + (size_t)p * stride * c + 4 * g, 4);
                    const __m512i x = _mm512_set1_epi32(four);
                    sum[p][0] = _mm512_dpbusd_epi32(sum[p][0], x, w0);
                    if (blocks == 2) sum[p][1] = _mm512_dpbusd_epi32(sum[p][1], x, w1);
                }
            }
        }
    }
#pragma clang loop unroll(full)
    for (int p = 0; p < 7; p++) {
        if (p >= count) break;
        int32_t *dst = acc + (size_t)p * outputs;
        if (blocks == 1) {
            _mm512_mask_storeu_epi32(dst, last, sum[p][0]);
        } else {
            _mm512_storeu_si512(dst, sum[p][0]);
            _mm512_mask_storeu_epi32(dst + 16, last, sum[p][1]);
        }
    }
}

#define POSITIONS_CASE(n)                                                                                              \
    case n:                                                                                                            \
        if (blocks == 2) positions(in, c, groups, pw, kh, kw, stride, w, o16, acc, outputs, n, 2, last);               \
        else positions(in, c, groups, pw, kh, kw, stride, w, o16, acc, outputs, n, 1, last);                           \
        break;

VNNI_TARGET static void some_positions(const uint8_t *in, size_t c, size_t groups, size_t pw, int kh, int kw,
                                       int stride, const int8_t *w, size_t o16, int32_t *acc, int outputs, int count,
                                       int blocks, __mmask16 last) {
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

VNNI_TARGET static void convolve_vnni(const uint8_t *image, int c, int pw, int kh, int kw, int stride, int oh,
                                      int ow, const int8_t *w, int outputs, int32_t *acc) {
    const size_t o16 = (size_t)(outputs + 15) / 16 * 16;
    // One channel: each kernel row one tap of (kw + 3) / 4 groups along the row.
    const size_t groups = c == 1 ? (size_t)(kw + 3) / 4 : (size_t)c / 4;
    const int taps_per_row = c == 1 ? 1 : kw;
    for (int oy = 0; oy < oh; oy++) {
        const uint8_t *row = image + (size_t)oy * stride * pw * c;
        for (int ox = 0; ox < ow; ox += 7) {
            const int count = ow - ox < 7 ? ow - ox : 7;
            const uint8_t *in = row + (size_t)ox * stride * c;
            int32_t *dst = acc + ((size_t)oy * ow + ox) * outputs;
            for (int o = 0; o < outputs; o += 32) {
                const int left = outputs - o, blocks = left > 16 ? 2 : 1, tail = left - 16 * (blocks - 1);
                const __mmask16 last = (__mmask16)(tail >= 16 ? 0xFFFF : (1u << tail) - 1);
                some_positions(in, (size_t)c, groups, (size_t)pw, kh, taps_per_row, stride, w + (size_t)o * 4, o16,
                               dst + o, outputs, count, blocks, last);
            }
        }
    }
}

// The same with AVX2 (a Zen 3): 8 int32 lanes a register, so a block of 16 outputs is two registers
// (the packed weights' 64 bytes a group, as above), and up to 4 positions a step (8 accumulators).
// vpmaddubsw multiplies the 4 activation bytes by each output's 4 weights and adds them in pairs
// (activations are at most 127, so a pair's sum, at most 2 * 127 * 128, fits int16 without
// saturating), vpmaddwd by ones adds the pairs into int32: exact, so the same sums as VNNI's.
#define AVX2_POSITIONS 4

__attribute__((target("avx2"), always_inline)) static inline __m256i dot4(__m256i x, __m256i w, __m256i ones) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(x, w), ones);
}

// The first n (0 to 8) int32 lanes of a mask for _mm256_maskstore_epi32.
__attribute__((target("avx2"), always_inline)) static inline __m256i first_lanes(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

__attribute__((target("avx2"), always_inline)) static inline void store_lanes(int32_t *dst, __m256i v, int lanes) {
    if (lanes >= 8) _mm256_storeu_si256((__m256i *)dst, v);
    else if (lanes > 0) _mm256_maskstore_epi32((int *)dst, first_lanes(lanes), v);
}

// Up to 4 positions (`count`, a constant after inlining) from `in`, outputs [o, o + 16), `left` of
// them (outputs - o) stored at most.
__attribute__((target("avx2"), always_inline)) static inline void positions_avx2(
    const uint8_t *in, size_t c, size_t groups, size_t pw, int kh, int kw, int stride, const int8_t *w, size_t o16,
    int32_t *acc, int outputs, int count, int left) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i sum[AVX2_POSITIONS][2];
#pragma clang loop unroll(full)
    for (int p = 0; p < AVX2_POSITIONS; p++) {
        sum[p][0] = _mm256_setzero_si256();
        sum[p][1] = _mm256_setzero_si256();
    }
    for (int ky = 0; ky < kh; ky++) {
        for (int kx = 0; kx < kw; kx++) {
            const uint8_t *src = in + ((size_t)ky * pw + kx) * c;
            const int8_t *taps = w + ((size_t)ky * kw + kx) * groups * o16 * 4;
            for (size_t g = 0; g < groups; g++, taps += o16 * 4) {
                const __m256i w0 = _mm256_loadu_si256((const __m256i *)taps);
                const __m256i w1 = _mm256_loadu_si256((const __m256i *)(taps + 32));
#pragma clang loop unroll(full)
                for (int p = 0; p < AVX2_POSITIONS; p++) {
                    if (p >= count) break;
                    int32_t four;
                    memcpy(&four, src + (size_t)p * stride * c + 4 * g, 4);
                    const __m256i x = _mm256_set1_epi32(four);
                    sum[p][0] = _mm256_add_epi32(sum[p][0], dot4(x, w0, ones));
                    sum[p][1] = _mm256_add_epi32(sum[p][1], dot4(x, w1, ones));
                }
            }
        }
    }
#pragma clang loop unroll(full)
    for (int p = 0; p < AVX2_POSITIONS; p++) {
        if (p >= count) break;
        int32_t *dst = acc + (size_t)p * outputs;
        store_lanes(dst, sum[p][0], left);
        store_lanes(dst + 8, sum[p][1], left - 8);
    }
}

#define AVX2_POSITIONS_CASE(n)                                                                                         \
    case n: positions_avx2(in, c, groups, pw, kh, kw, stride, w, o16, acc, outputs, n, left); break;

__attribute__((target("avx2"))) static void some_positions_avx2(const uint8_t *in, size_t c, size_t groups, size_t pw,
                                                                int kh, int kw, int stride, const int8_t *w,
                                                                size_t o16, int32_t *acc, int outputs, int count,
                                                                int left) {
    switch (count) {
        AVX2_POSITIONS_CASE(1)
        AVX2_POSITIONS_CASE(2)
        AVX2_POSITIONS_CASE(3)
        AVX2_POSITIONS_CASE(4)
    }
}

__attribute__((target("avx2"))) static void convolve_avx2(const uint8_t *image, int c, int pw, int kh, int kw,
                                                          int stride, int oh, int ow, const int8_t *w, int outputs,
                                                          int32_t *acc) {
    const size_t o16 = (size_t)(outputs + 15) / 16 * 16;
    const size_t groups = c == 1 ? (size_t)(kw + 3) / 4 : (size_t)c / 4;
    const int taps_per_row = c == 1 ? 1 : kw;
    for (int oy = 0; oy < oh; oy++) {
        const uint8_t *row = image + (size_t)oy * stride * pw * c;
        for (int ox = 0; ox < ow; ox += AVX2_POSITIONS) {
            const int count = ow - ox < AVX2_POSITIONS ? ow - ox : AVX2_POSITIONS;
            const uint8_t *in = row + (size_t)ox * stride * c;
            int32_t *dst = acc + ((size_t)oy * ow + ox) * outputs;
            for (int o = 0; o < outputs; o += 16)
                some_positions_avx2(in, (size_t)c, groups, (size_t)pw, kh, taps_per_row, stride, w + (size_t)o * 4,
                                    o16, dst + o, outputs, count, outputs - o);
        }
    }
}

#endif

int retort_int8_convolve_direct_on(int path, const uint8_t *image, int c, int padded_width, int kh, int kw, int stride,
                                   int oh, int ow, const int8_t *packed, int outputs, int32_t *acc) {
    if (c != 1 && c % 4 != 0) return 0;
#ifdef RETORT_X86
    if (path == RETORT_INT8_AVX512_VNNI && has_vnni()) {
        convolve_vnni(image, c, padded_width, kh, kw, stride, oh, ow, packed, outputs, acc);
        return 1;
    }
    if (path == RETORT_INT8_AVX2 && has_avx2()) {
        convolve_avx2(image, c, padded_width, kh, kw, stride, oh, ow, packed, outputs, acc);
        return 1;
    }
#endif
    (void)path, (void)image, (void)padded_width, (void)kh, (void)kw, (void)stride, (void)oh, (void)ow, (void)packed;
    (void)outputs, (void)acc;
    return 0;
}

int retort_int8_convolve_direct(const uint8_t *image, int c, int padded_width, int kh, int kw, int stride, int oh,
                                int ow, const int8_t *packed, int outputs, int32_t *acc) {
    return retort_int8_convolve_direct_on(has_vnni() ? RETORT_INT8_AVX512_VNNI : RETORT_INT8_AVX2, image, c,
                                          padded_width, kh, kw, stride, oh, ow, packed, outputs, acc);
}

int retort_int8_direct_available(void) { return has_vnni() || has_avx2(); }
