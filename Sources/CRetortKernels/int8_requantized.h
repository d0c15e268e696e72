// One output's requantisation, shared by every scalar loop that requantises (the plain one and the pooled one), so
// that they give the same floats: the fused convolution is checked bit for bit against the layers apart.
#ifndef RETORT_INT8_REQUANTIZED_H
#define RETORT_INT8_REQUANTIZED_H

#include <stdint.h>

static inline float retort_int8_requantized(int32_t acc, int32_t correction, float scale, float bias) {
    return (float)(acc - correction) * scale + bias;
}

#endif
