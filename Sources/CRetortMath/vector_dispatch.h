// Each loop compiled for the baseline x86-64, AVX2 with FMA and, where it measured faster (the
// elementwise ones), AVX-512, from one always_inline body; the widest the CPU has runs
// (retort_math_widest, which tests can lower). Attention heads and layer norm stay on AVX2: their
// rows are 16 and 64 wide in the gpt, and AVX-512 ran them 10-20% slower there (fewer independent
// sums for the same registers), with `retort bench --ab avx512`.
#ifndef RETORT_VECTOR_DISPATCH_H
#define RETORT_VECTOR_DISPATCH_H

#include "retort_math.h"

#if defined(__x86_64__)
// name_avx2 and name_avx512: `body` compiled for each, taking `params`.
#define AVX2_VARIANT(name, params, body) __attribute__((target("avx2,fma"))) static void name##_avx2 params { body; }
#define VECTOR_VARIANTS(name, params, body)                                                                \
    AVX2_VARIANT(name, params, body)                                                                      \
    __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma"))) static void name##_avx512 params { \
        body;                                                                                              \
    }
// Calls the widest variant of `name` with `args`, or `fallback` (the baseline loop) where neither runs.
#define VECTOR_DISPATCH(name, args, fallback)                                                              \
    switch (retort_math_widest()) {                                                                       \
    case 2: name##_avx512 args; return;                                                                   \
    case 1: name##_avx2 args; return;                                                                     \
    default: fallback; return;                                                                            \
    }
// The AVX2 variant of `name` where the CPU has it, else `fallback`.
#define AVX2_DISPATCH(name, args, fallback)                                                                \
    if (retort_math_widest() >= 1) {                                                                      \
        name##_avx2 args;                                                                                 \
        return;                                                                                           \
    }                                                                                                     \
    fallback;                                                                                             \
    return;
#else
#define AVX2_VARIANT(name, params, body)
#define VECTOR_VARIANTS(name, params, body)
#define AVX2_DISPATCH(name, args, fallback)                                                                \
    fallback;                                                                                             \
    return;
#define VECTOR_DISPATCH(name, args, fallback)                                                              \
    fallback;                                                                                             \
    return;
#endif

#endif
