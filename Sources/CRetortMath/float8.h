// Eight floats as one value (a ymm register with AVX2 or AVX-512, two xmm on the baseline), from
// memory of any alignment, shared by vector_math.c and narrow_product.c.
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

#endif
