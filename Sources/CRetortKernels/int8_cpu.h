// What the int8 kernels ask of the CPU, for int8_gemm.c and int8_direct_convolution.c.
#ifndef RETORT_INT8_CPU_H
#define RETORT_INT8_CPU_H

#if (defined(__x86_64__) || defined(__i386__)) && !defined(RETORT_INT8_NO_SIMD)
#include <immintrin.h>
#define RETORT_X86 1
static inline int has_avx2(void) { return __builtin_cpu_supports("avx2"); }
static inline int has_vnni(void) {
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vnni");
}
#else
static inline int has_avx2(void) { return 0; }
static inline int has_vnni(void) { return 0; }
#endif

#endif
