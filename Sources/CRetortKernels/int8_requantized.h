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

// Eight values on their way onto the grid: round(x * inverse) + zero as int32 lanes, not yet clamped
// (retort_int8_store_bytes8 and 16 clamp them to 0...127), the bytes retort_int8_quantized gives.
// x * inverse is capped at 256 first (the grid clamps above that anyway), with min_ps's NaN rule
// (its second operand when either is NaN) letting NaN through; the conversion rounds to nearest
// even, as retort_int8_quantized's does, and turns NaN, -inf and anything below -2^31 into
// INT32_MIN, which clamps to 0 as those do.
__attribute__((target("avx2"))) static inline __m256i retort_int8_quantized8(__m256 x, __m256 inverse, __m256i zero) {
    __m256 t = _mm256_min_ps(_mm256_set1_ps(256.0f), _mm256_mul_ps(x, inverse));
    return _mm256_add_epi32(_mm256_cvtps_epi32(t), zero);
}

// Eight lanes of retort_int8_quantized8 clamped to 0...127 (saturating packs, then a cap) and
// stored as eight bytes.
__attribute__((target("avx2"))) static inline void retort_int8_store_bytes8(uint8_t *q, __m256i n) {
    __m128i words = _mm_packs_epi32(_mm256_castsi256_si128(n), _mm256_extracti128_si256(n, 1));
    _mm_storel_epi64((__m128i *)q, _mm_min_epu8(_mm_packus_epi16(words, words), _mm_set1_epi8(127)));
}

// Sixteen lanes (a, then b) clamped as retort_int8_store_bytes8 does and stored as sixteen bytes.
__attribute__((target("avx2"))) static inline void retort_int8_store_bytes16(uint8_t *q, __m256i a, __m256i b) {
    // packs works within 128-bit halves: a0-3 b0-3 | a4-7 b4-7; the permute puts a's words first.
    __m256i words = _mm256_permute4x64_epi64(_mm256_packs_epi32(a, b), 0xD8);
    __m128i bytes = _mm_packus_epi16(_mm256_castsi256_si128(words), _mm256_extracti128_si256(words, 1));
    _mm_storeu_si128((__m128i *)q, _mm_min_epu8(bytes, _mm_set1_epi8(127)));
}
#endif

#endif
