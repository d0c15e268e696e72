// Horner's rule, exp as a polynomial and a row's peak and sum in 8 lanes, shared by vector_math.c
// and attention_head.c: inline functions without library calls, so loops over them vectorise.
#ifndef RETORT_POLYNOMIALS_H
#define RETORT_POLYNOMIALS_H

#include <stdint.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))

// p(t) by Horner's rule, coefficients highest power first; with a constant table and count the
// compiler unrolls it, so a loop over x still vectorises.
INLINE float horner(const float *coefficients, int count, float t) {
    float p = coefficients[0];
    for (int i = 1; i < count; i++) p = p * t + coefficients[i];
    return p;
}

// e^r = 1 + r + r^2 q(r) for |r| <= ln 2 / 2, q a degree-5 minimax polynomial, highest power first.
static const float exp_coefficients[6] = {
    1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f, 4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f,
};

// exp(x) = 2^n * e^r with n = round(x / ln 2) and |r| <= ln 2 / 2 (ln 2 split in two so r is exact
// to float precision); 2^n built in the exponent bits.
INLINE float exp_poly(float x) {
    float c = x < -87.3f ? -87.3f : (x > 88.7f ? 88.7f : x);
    // Round to nearest by adding and subtracting 1.5 * 2^23 (no rintf: SSE2 has no vector rounding).
    float n = (c * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = c - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = horner(exp_coefficients, 6, r) * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    float value = p * scale;
    return x != x ? x : value;
}

// The largest of row[0..n) (NaN ignored; -inf when there is none), in 8 lanes so the loop
// vectorises.
INLINE float row_peak(const float *row, long n) {
    const float minus_inf = -__builtin_inff();
    float peaks[8];
    for (int l = 0; l < 8; l++) peaks[l] = minus_inf;
    long j = 0;
    for (; j + 8 <= n; j += 8)
        for (int l = 0; l < 8; l++) peaks[l] = row[j + l] > peaks[l] ? row[j + l] : peaks[l];
    for (; j < n; j++) peaks[0] = row[j] > peaks[0] ? row[j] : peaks[0];
    float peak = peaks[0];
    for (int l = 1; l < 8; l++) peak = peaks[l] > peak ? peaks[l] : peak;
    return peak;
}

// The sum of row[0..n) in 8 running sums added in a fixed order at the end: the same bits on any
// thread, and adds that do not wait on each other.
INLINE float row_sum(const float *row, long n) {
    float sums[8] = {0};
    long j = 0;
    for (; j + 8 <= n; j += 8)
        for (int l = 0; l < 8; l++) sums[l] += row[j + l];
    for (; j < n; j++) sums[0] += row[j];
    return ((sums[0] + sums[1]) + (sums[2] + sums[3])) + ((sums[4] + sums[5]) + (sums[6] + sums[7]));
}

#endif
