// Eight floats as one value (a ymm register with AVX2 or AVX-512, two xmm on the baseline), from
// memory of any alignment, shared by vector_math.c, narrow_product.c and attention_head.c.
#ifndef RETORT_FLOAT8_H
#define RETORT_FLOAT8_H

#include "polynomials.h"

// (load8 is always inlined, so the baseline build's warning about passing such values by value does
// not apply.)
#pragma clang diagnostic ignored "-Wpsabi"
typedef float float8 __attribute__((vector_size(32)));
INLINE float8 load8(const float *from) {
    float8 x;
    memcpy(&x, from, sizeof x);
    return x;
}
INLINE void store8(float *to, float8 x) { memcpy(to, &x, sizeof x); }
INLINE float8 splat8(float x) { return (float8){x, x, x, x, x, x, x, x}; }
// The sum of s's lanes in row_sum's order (polynomials.h): neighbours first, then pairs, then halves.
INLINE float pairwise_sum8(float8 s) { return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])); }

// A lane mask, as a comparison of two float8 gives: -1 where true, 0 where false.
typedef int32_t mask8 __attribute__((vector_size(32)));
static const mask8 lane_index8 = {0, 1, 2, 3, 4, 5, 6, 7};
// a where `mask`, b elsewhere, lane by lane (bitwise, so NaNs pass through as they are).
INLINE float8 select8(mask8 mask, float8 a, float8 b) { return (float8)((mask & (mask8)a) | (~mask & (mask8)b)); }

// The first `count` (< 8) floats from `from`, the other lanes `fill`; and back, lanes past `count`
// left out: a row's last, partial vector without touching memory past its end.
INLINE float8 load_part8(const float *from, long count, float fill) {
    float part[8];
    for (int l = 0; l < 8; l++) part[l] = l < count ? from[l] : fill;
    return load8(part);
}
INLINE void store_part8(float *to, long count, float8 x) {
    float part[8];
    store8(part, x);
    for (int l = 0; l < 8 && l < count; l++) to[l] = part[l];
}

// exp_poly on eight lanes: the same clamps, steps and NaN rule, lane by lane, for loops too short
// for the compiler to vectorise (its vector loops take 32 at a time; a row of attention is 16).
INLINE float8 exp_poly8(float8 x) {
    const float8 c = select8(x < -87.3f, splat8(-87.3f), select8(x > 88.7f, splat8(88.7f), x));
    const float8 n = (c * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float8 r = c - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float8 p = splat8(exp_coefficients[0]);
    for (int i = 1; i < 6; i++) p = p * r + exp_coefficients[i];
    p = p * r * r + r + 1.0f;
    const mask8 bits = (__builtin_convertvector(n, mask8) + 127) << 23;
    return select8(x != x, x, p * (float8)bits);
}

#endif
