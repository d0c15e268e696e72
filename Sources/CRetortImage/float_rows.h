// Short float rows copied and zeroed four at a time with SSE2 (baseline x86-64), the last four
// overlapping the one before when the row is not a multiple of four: a row in the image loops is 3
// to 48 floats, where a memcpy call costs more than the copy. Shared by image_kernels.c and
// channels_last.c.
#ifndef RETORT_FLOAT_ROWS_H
#define RETORT_FLOAT_ROWS_H

#include <emmintrin.h>

// dst[0..<count] = src[0..<count].
static inline __attribute__((always_inline)) void copy_floats(float *dst, const float *src, long count) {
    if (count < 4) {
#pragma clang loop vectorize(disable) unroll(disable)
        for (long i = 0; i < count; i++) dst[i] = src[i];
        return;
    }
    long i = 0;
    for (; i + 4 <= count; i += 4) _mm_storeu_ps(dst + i, _mm_loadu_ps(src + i));
    if (i < count) _mm_storeu_ps(dst + count - 4, _mm_loadu_ps(src + count - 4));
}

// dst[0..<count] = 0.
static inline __attribute__((always_inline)) void zero_floats(float *dst, long count) {
    if (count < 4) {
#pragma clang loop vectorize(disable) unroll(disable)
        for (long i = 0; i < count; i++) dst[i] = 0;
        return;
    }
    long i = 0;
    for (; i + 4 <= count; i += 4) _mm_storeu_ps(dst + i, _mm_setzero_ps());
    if (i < count) _mm_storeu_ps(dst + count - 4, _mm_setzero_ps());
}

#endif
