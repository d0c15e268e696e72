// One output's requantisation, shared by every scalar loop that requantises (the plain one and the pooled one), so
// that they give the same floats: the fused convolution is checked bit for bit against the layers apart. And one
// value's quantisation onto the 7-bit grid, scalar and eight at a time, shared by the quantiser and the loops that
// requantise straight onto the next layer's grid, so that both give the same bytes.
#ifndef RETORT_INT8_REQUANTIZED_H
#define RETORT_INT8_REQUANTIZED_H

#include <stdint.h>

static inline float retort_int8_requantized(int32_t acc, int32_t correction, float scale, float bias) {
    return (float)(acc - correction) * scale + bias;
}

// q = clamp(round(x * inverse) + zero, 0, 127), ties to even, NaN to 0. Adding and subtracting 1.5 * 2^23 rounds to
// nearest even for |t| < 2^22; t is first bounded to +-256, outside which the grid clamps anyway. NaN fails both
// comparisons and becomes 0.
static inline uint8_t retort_int8_quantized(float x, float inverse, int zero) {
    const float magic = 12582912.0f;
    float t = x * inverse;
    t = t > 256.0f ? 256.0f : (t < -256.0f ? -256.0f : t);
    float v = ((t + magic) - magic) + (float)zero;
    return (uint8_t)(v >= 0.0f ? (v <= 127.0f ? (int)v : 127) : 0);
}

#if (defined(__x86_64__) || defined(__i386__)) && !defined(RETORT_INT8_NO_SIMD)
#include <immintrin.h>

// Eight values as retort_int8_quantized gives them, as int32 lanes in 0...127.
__attribute__((target("avx2"))) static inline __m256i retort_int8_quantized8(__m256 x, __m256 inverse, __m256 zero) {
    __m256 v = _mm256_round_ps(_mm256_mul_ps(x, inverse), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    v = _mm256_add_ps(v, zero);
    // max_ps returns its second operand when the first is NaN, so NaN becomes 0.
    v = _mm256_min_ps(_mm256_max_ps(v, _mm256_setzero_ps()), _mm256_set1_ps(127.0f));
    return _mm256_cvtps_epi32(v);
}

// Eight int32 lanes in 0...127 stored as eight bytes.
__attribute__((target("avx2"))) static inline void retort_int8_store_bytes8(uint8_t *q, __m256i n) {
    __m128i words = _mm_packs_epi32(_mm256_castsi256_si128(n), _mm256_extracti128_si256(n, 1));
    _mm_storel_epi64((__m128i *)q, _mm_packus_epi16(words, words));
}
#endif

#endif
