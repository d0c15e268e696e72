// Elementwise functions written so that a loop over them vectorises: no library calls inside the
// loops. Each loop is compiled twice, for the baseline x86-64 and for AVX2 with FMA, and the
// second runs where the CPU has both; the function bodies are shared (always_inline helpers).
#include "retort_math.h"

#include <stdint.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))

// erf(x) = x * p(x^2), p in powers of t = x^2 / 8 - 1 (scripts/fit-erf prints these, highest first).
INLINE float erf_poly(float x) {
    float c = x < -4.0f ? -4.0f : (x > 4.0f ? 4.0f : x);
    float t = c * c * 0.125f - 1.0f;
    float p = 0.0006561643676832318f;
    p = p * t + -0.0013504134258255363f;
    p = p * t + 0.0003870650252792984f;
    p = p * t + -0.0011567818000912666f;
    p = p * t + 0.005934630520641804f;
    p = p * t + -0.009972554631531239f;
    p = p * t + 0.013619586825370789f;
    p = p * t + -0.021744096651673317f;
    p = p * t + 0.033345602452754974f;
    p = p * t + -0.04598306864500046f;
    p = p * t + 0.05982501432299614f;
    p = p * t + -0.07469363510608673f;
    p = p * t + 0.09021568298339844f;
    p = p * t + -0.10771284252405167f;
    p = p * t + 0.1316748410463333f;
    p = p * t + -0.1765761822462082f;
    p = p * t + 0.35353100299835205f;
    float value = c * p;
    return value < -1.0f ? -1.0f : (value > 1.0f ? 1.0f : value);
}

// exp(x) = 2^n * e^r with n = round(x / ln 2) and |r| <= ln 2 / 2 (ln 2 split in two so r is exact
// to float precision); e^r by a degree-6 minimax polynomial, 2^n built in the exponent bits.
INLINE float exp_poly(float x) {
    float c = x < -87.3f ? -87.3f : (x > 88.7f ? 88.7f : x);
    // Round to nearest by adding and subtracting 1.5 * 2^23 (no rintf: SSE2 has no vector rounding).
    float n = (c * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = c - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    float value = p * scale;
    return x != x ? x : value;
}

INLINE void gelu_loop(const float *x, size_t count, float *out, float *cdf_out) {
    const float inverse_root2 = 0.70710678118654752f;
    if (cdf_out) {
        for (size_t i = 0; i < count; i++) {
            float cdf = 0.5f * (1.0f + erf_poly(x[i] * inverse_root2));
            cdf_out[i] = cdf;
            out[i] = x[i] * cdf;
        }
    } else {
        for (size_t i = 0; i < count; i++) out[i] = x[i] * (0.5f * (1.0f + erf_poly(x[i] * inverse_root2)));
    }
}

INLINE void gelu_backward_loop(const float *g, const float *x, const float *cdf, size_t count, float *dx) {
    const float inverse_root_2pi = 0.39894228040143268f;
    for (size_t i = 0; i < count; i++) {
        float pdf = exp_poly(-0.5f * x[i] * x[i]) * inverse_root_2pi;
        dx[i] = g[i] * (cdf[i] + x[i] * pdf);
    }
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) static void gelu_avx2(const float *x, size_t count, float *out, float *cdf_out) {
    gelu_loop(x, count, out, cdf_out);
}
__attribute__((target("avx2,fma"))) static void gelu_backward_avx2(const float *g, const float *x, const float *cdf,
                                                                   size_t count, float *dx) {
    gelu_backward_loop(g, x, cdf, count, dx);
}
static int has_avx2_fma(void) { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
#endif

float retort_erf(float x) { return erf_poly(x); }

float retort_exp(float x) { return exp_poly(x); }

void retort_gelu(const float *x, size_t count, float *out, float *cdf_out) {
#if defined(__x86_64__)
    if (has_avx2_fma()) {
        gelu_avx2(x, count, out, cdf_out);
        return;
    }
#endif
    gelu_loop(x, count, out, cdf_out);
}

void retort_gelu_backward(const float *g, const float *x, const float *cdf, size_t count, float *dx) {
#if defined(__x86_64__)
    if (has_avx2_fma()) {
        gelu_backward_avx2(g, x, cdf, count, dx);
        return;
    }
#endif
    gelu_backward_loop(g, x, cdf, count, dx);
}
