// Integer GEMM for quantized inference: C = A x B^T, A uint8 activations, B int8 weights, int32 results, on
// AVX-512 VNNI, AVX2 or plain C, whichever is the best this CPU has (chosen at run time).
//
// Packed layout of B: panels of PANEL_COLS columns (the last one padded with zero columns); within a panel, K is cut
// into groups of GROUP_K values (the last one padded with zeros), and each group stores its PANEL_COLS columns one
// after another, GROUP_K bytes each. A group of a panel is thus 64 contiguous bytes, two 256-bit vectors holding
// 8 columns x 4 k-values each, which is what the AVX2 step below consumes: it broadcasts 4 bytes of a row of A to all
// 8 lanes, and vpmaddubsw + vpmaddwd turn each lane into that column's 4-term dot product.
#include "retort_int8.h"
#include "int8_requantized.h"

#include <string.h>

// RETORT_INT8_NO_SIMD builds only the scalar path, so tests can check it on any machine.
#include "int8_cpu.h"

enum {
    PANEL_COLS = 16,  // columns of B per packed panel: two 256-bit vectors of 8 int32 results
    GROUP_K = 4,      // k-values per column per group: the 4 bytes one 32-bit lane of vpmaddwd sums
    GROUP_BYTES = PANEL_COLS * GROUP_K,
    ROWS = 4,         // rows of A per AVX2 micro-kernel call: 4 x 2 accumulators leave registers to spare
};

static int panel_count(int n) { return (n + PANEL_COLS - 1) / PANEL_COLS; }
static int group_count(int k) { return (k + GROUP_K - 1) / GROUP_K; }

size_t retort_int8_pack_b(const int8_t *b, int n, int k, void *out, int32_t *row_sums) {
    size_t panel_bytes = (size_t)group_count(k) * GROUP_BYTES;
    size_t bytes = (size_t)panel_count(n) * panel_bytes;
    if (row_sums != NULL) {
        for (int j = 0; j < n; j++) {
            int32_t sum = 0;
            for (int t = 0; t < k; t++) sum += b[(size_t)j * k + t];
            row_sums[j] = sum;
        }
    }
    if (out == NULL) return bytes;

    int8_t *packed = out;
    memset(packed, 0, bytes);
    for (int j = 0; j < n; j++) {
        int8_t *panel = packed + (size_t)(j / PANEL_COLS) * panel_bytes;
        int col = j % PANEL_COLS;
        for (int t = 0; t < k; t++) {
            panel[(size_t)(t / GROUP_K) * GROUP_BYTES + col * GROUP_K + t % GROUP_K] = b[(size_t)j * k + t];
        }
    }
    return bytes;
}

// The reference: reads the packed layout one byte at a time, for CPUs without AVX2.
static void gemm_scalar(const uint8_t *a, int m, int k, const int8_t *packed, int n, int32_t *c) {
    size_t panel_bytes = (size_t)group_count(k) * GROUP_BYTES;
    for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
            const int8_t *column = packed + (size_t)(j / PANEL_COLS) * panel_bytes + (j % PANEL_COLS) * GROUP_K;
            int32_t sum = 0;
            for (int t = 0; t < k; t++) {
                sum += (int32_t)a[(size_t)i * k + t] * column[(size_t)(t / GROUP_K) * GROUP_BYTES + t % GROUP_K];
            }
            c[(size_t)i * n + j] = sum;
        }
    }
}

#ifdef RETORT_X86

// Four consecutive bytes of a row of A as one 32-bit lane; a short last group is padded with zeros, never read past.
static inline uint32_t a_group(const uint8_t *row, int t, int k) {
    uint32_t v = 0;
    memcpy(&v, row + t, k - t >= GROUP_K ? GROUP_K : (size_t)(k - t));
    return v;
}

// One group step for one row: acc += per-column 4-term dot products of the row's 4 bytes with the group's columns.
// Products are at most 127 * 128, so the pair sums in vpmaddubsw's int16 cannot saturate.
__attribute__((target("avx2"))) static inline void step(__m256i *acc0, __m256i *acc1, uint32_t a4, __m256i b0,
                                                         __m256i b1) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i a = _mm256_set1_epi32((int)a4);
    *acc0 = _mm256_add_epi32(*acc0, _mm256_madd_epi16(_mm256_maddubs_epi16(a, b0), ones));
    *acc1 = _mm256_add_epi32(*acc1, _mm256_madd_epi16(_mm256_maddubs_epi16(a, b1), ones));
}

// Computes rows x PANEL_COLS results of C from `rows` rows of A and one panel; rows is a constant at each call
// site (always_inline), so the accumulators live in registers. Only the first `cols` columns are stored.
__attribute__((target("avx2"), always_inline)) static inline void micro_kernel(const uint8_t *a, int k, int rows,
                                                                              const int8_t *panel, int32_t *c,
                                                                              int ldc, int cols) {
    __m256i acc[ROWS][2];
    for (int r = 0; r < rows; r++) acc[r][0] = acc[r][1] = _mm256_setzero_si256();

    int full = k / GROUP_K;
    for (int g = 0; g < full; g++) {
        __m256i b0 = _mm256_loadu_si256((const __m256i *)(panel + (size_t)g * GROUP_BYTES));
        __m256i b1 = _mm256_loadu_si256((const __m256i *)(panel + (size_t)g * GROUP_BYTES + 32));
        for (int r = 0; r < rows; r++) {
            uint32_t a4;
            memcpy(&a4, a + (size_t)r * k + (size_t)g * GROUP_K, sizeof a4);
            step(&acc[r][0], &acc[r][1], a4, b0, b1);
        }
    }
    if (full * GROUP_K < k) {
        __m256i b0 = _mm256_loadu_si256((const __m256i *)(panel + (size_t)full * GROUP_BYTES));
        __m256i b1 = _mm256_loadu_si256((const __m256i *)(panel + (size_t)full * GROUP_BYTES + 32));
        for (int r = 0; r < rows; r++) {
            step(&acc[r][0], &acc[r][1], a_group(a + (size_t)r * k, full * GROUP_K, k), b0, b1);
        }
    }

    for (int r = 0; r < rows; r++) {
        int32_t *out = c + (size_t)r * ldc;
        if (cols == PANEL_COLS) {
            _mm256_storeu_si256((__m256i *)out, acc[r][0]);
            _mm256_storeu_si256((__m256i *)(out + 8), acc[r][1]);
        } else {
            int32_t tmp[PANEL_COLS];
            _mm256_storeu_si256((__m256i *)tmp, acc[r][0]);
            _mm256_storeu_si256((__m256i *)(tmp + 8), acc[r][1]);
            memcpy(out, tmp, (size_t)cols * sizeof *out);
        }
    }
}

// Panels outermost: one panel (k x 16 bytes, 12.5 KiB at k = 784) stays in L1 while every row block of A streams
// past it, each 64-byte line of A serving 16 group steps.
__attribute__((target("avx2"))) static void gemm_avx2(const uint8_t *a, int m, int k, const int8_t *packed, int n,
                                                      int32_t *c) {
    size_t panel_bytes = (size_t)group_count(k) * GROUP_BYTES;
    for (int p = 0; p < panel_count(n); p++) {
        const int8_t *panel = packed + (size_t)p * panel_bytes;
        int j = p * PANEL_COLS;
        int cols = n - j < PANEL_COLS ? n - j : PANEL_COLS;
        int i = 0;
        for (; i + ROWS <= m; i += ROWS) {
            micro_kernel(a + (size_t)i * k, k, ROWS, panel, c + (size_t)i * n + j, n, cols);
        }
        // The last m % ROWS rows, each count with its own specialised kernel.
        _Static_assert(ROWS == 4, "this switch handles remainders of 1 to 3 rows");
        switch (m - i) {
        case 3: micro_kernel(a + (size_t)i * k, k, 3, panel, c + (size_t)i * n + j, n, cols); break;
        case 2: micro_kernel(a + (size_t)i * k, k, 2, panel, c + (size_t)i * n + j, n, cols); break;
        case 1: micro_kernel(a + (size_t)i * k, k, 1, panel, c + (size_t)i * n + j, n, cols); break;
        default: break;
        }
    }
}

// AVX-512 VNNI: a group of a panel (16 columns x 4 k-values, 64 bytes) is exactly one 512-bit vector, and one
// vpdpbusd multiplies each column's 4 bytes by a row's 4 broadcast bytes and adds the 4 products into that column's
// int32 lane, with no int16 step in between. VNNI_ROWS rows share each load of the panel.
enum { VNNI_ROWS = 8 };

#define VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vnni")))

VNNI_TARGET __attribute__((always_inline)) static inline void micro_kernel_vnni(const uint8_t *a, int k, int rows,
                                                                               const int8_t *panel, int32_t *c,
                                                                               int ldc, int cols) {
    __m512i acc[VNNI_ROWS];
    for (int r = 0; r < rows; r++) acc[r] = _mm512_setzero_si512();
    int full = k / GROUP_K;
    for (int g = 0; g < full; g++) {
        __m512i b = _mm512_loadu_si512((const void *)(panel + (size_t)g * GROUP_BYTES));
        for (int r = 0; r < rows; r++) {
            uint32_t a4;
            memcpy(&a4, a + (size_t)r * k + (size_t)g * GROUP_K, sizeof a4);
            acc[r] = _mm512_dpbusd_epi32(acc[r], _mm512_set1_epi32((int)a4), b);
        }
    }
    if (full * GROUP_K < k) {
        __m512i b = _mm512_loadu_si512((const void *)(panel + (size_t)full * GROUP_BYTES));
        for (int r = 0; r < rows; r++) {
            uint32_t a4 = a_group(a + (size_t)r * k, full * GROUP_K, k);
            acc[r] = _mm512_dpbusd_epi32(acc[r], _mm512_set1_epi32((int)a4), b);
        }
    }
    __mmask16 mask = (__mmask16)((1u << cols) - 1);
    for (int r = 0; r < rows; r++) _mm512_mask_storeu_epi32(c + (size_t)r * ldc, mask, acc[r]);
}

// Two panels (32 columns) at once: each row's broadcast feeds two vpdpbusd, so a group step loads 2 + rows vectors
// for 2 * rows products instead of 1 + rows for rows.
VNNI_TARGET __attribute__((always_inline)) static inline void micro_kernel_vnni2(const uint8_t *a, int k, int rows,
                                                                                const int8_t *panel0,
                                                                                const int8_t *panel1, int32_t *c,
                                                                                int ldc, int cols1) {
    __m512i acc0[VNNI_ROWS], acc1[VNNI_ROWS];
    for (int r = 0; r < rows; r++) acc0[r] = acc1[r] = _mm512_setzero_si512();
    int groups = group_count(k), full = k / GROUP_K;
    for (int g = 0; g < groups; g++) {
        __m512i b0 = _mm512_loadu_si512((const void *)(panel0 + (size_t)g * GROUP_BYTES));
        __m512i b1 = _mm512_loadu_si512((const void *)(panel1 + (size_t)g * GROUP_BYTES));
        for (int r = 0; r < rows; r++) {
            uint32_t a4;
            if (g < full) {
                memcpy(&a4, a + (size_t)r * k + (size_t)g * GROUP_K, sizeof a4);
            } else {
                a4 = a_group(a + (size_t)r * k, g * GROUP_K, k);
            }
            __m512i x = _mm512_set1_epi32((int)a4);
            acc0[r] = _mm512_dpbusd_epi32(acc0[r], x, b0);
            acc1[r] = _mm512_dpbusd_epi32(acc1[r], x, b1);
        }
    }
    __mmask16 mask1 = (__mmask16)((1u << cols1) - 1);
    for (int r = 0; r < rows; r++) {
        _mm512_storeu_si512((void *)(c + (size_t)r * ldc), acc0[r]);
        _mm512_mask_storeu_epi32(c + (size_t)r * ldc + PANEL_COLS, mask1, acc1[r]);
    }
}

// Rows m % VNNI_ROWS at the end of a panel (pair), each count with its own specialised kernel.
#define VNNI_REMAINDER(call)                                                                                          \
    switch (m - i) {                                                                                                  \
    case 7: call(7); break;                                                                                           \
    case 6: call(6); break;                                                                                           \
    case 5: call(5); break;                                                                                           \
    case 4: call(4); break;                                                                                           \
    case 3: call(3); break;                                                                                           \
    case 2: call(2); break;                                                                                           \
    case 1: call(1); break;                                                                                           \
    default: break;                                                                                                   \
    }

VNNI_TARGET static void gemm_vnni(const uint8_t *a, int m, int k, const int8_t *packed, int n, int32_t *c) {
    _Static_assert(VNNI_ROWS == 8, "VNNI_REMAINDER handles remainders of 1 to 7 rows");
    size_t panel_bytes = (size_t)group_count(k) * GROUP_BYTES;
    int panels = panel_count(n), p = 0;
    for (; p + 2 <= panels; p += 2) {
        const int8_t *panel0 = packed + (size_t)p * panel_bytes, *panel1 = panel0 + panel_bytes;
        int j = p * PANEL_COLS;
        int cols1 = n - j - PANEL_COLS < PANEL_COLS ? n - j - PANEL_COLS : PANEL_COLS;
        int i = 0;
        for (; i + VNNI_ROWS <= m; i += VNNI_ROWS) {
            micro_kernel_vnni2(a + (size_t)i * k, k, VNNI_ROWS, panel0, panel1, c + (size_t)i * n + j, n, cols1);
        }
#define PAIR(rows) micro_kernel_vnni2(a + (size_t)i * k, k, rows, panel0, panel1, c + (size_t)i * n + j, n, cols1)
        VNNI_REMAINDER(PAIR)
#undef PAIR
    }
    if (p < panels) {
        // An odd last panel alone.
        const int8_t *panel = packed + (size_t)p * panel_bytes;
        int j = p * PANEL_COLS;
        int cols = n - j;
        int i = 0;
        for (; i + VNNI_ROWS <= m; i += VNNI_ROWS) {
            micro_kernel_vnni(a + (size_t)i * k, k, VNNI_ROWS, panel, c + (size_t)i * n + j, n, cols);
        }
#define SINGLE(rows) micro_kernel_vnni(a + (size_t)i * k, k, rows, panel, c + (size_t)i * n + j, n, cols)
        VNNI_REMAINDER(SINGLE)
#undef SINGLE
    }
}

#endif

static int best_path(void) {
    return has_vnni() ? RETORT_INT8_AVX512_VNNI : has_avx2() ? RETORT_INT8_AVX2 : RETORT_INT8_SCALAR;
}

void retort_int8_gemm(const uint8_t *a, int m, int k, const void *packed_b, int n, int32_t *c) {
    retort_int8_gemm_on(best_path(), a, m, k, packed_b, n, c);
}

int retort_int8_gemm_on(int path, const uint8_t *a, int m, int k, const void *packed_b, int n, int32_t *c) {
    switch (path) {
    case RETORT_INT8_SCALAR:
        if (m > 0 && n > 0) gemm_scalar(a, m, k, packed_b, n, c);
        return 1;
#ifdef RETORT_X86
    case RETORT_INT8_AVX2:
        if (!has_avx2()) return 0;
        if (m > 0 && n > 0) gemm_avx2(a, m, k, packed_b, n, c);
        return 1;
    case RETORT_INT8_AVX512_VNNI:
        if (!has_vnni()) return 0;
        if (m > 0 && n > 0) gemm_vnni(a, m, k, packed_b, n, c);
        return 1;
#endif
    default:
        return 0;
    }
}

const char *retort_int8_path(void) {
    switch (best_path()) {
    case RETORT_INT8_AVX512_VNNI: return "avx512-vnni";
    case RETORT_INT8_AVX2: return "avx2";
    default: return "scalar";
    }
}

// Quantisation of float activations onto the 7-bit grid (retort_int8_quantized and retort_int8_quantized8, shared
// with the requantisation onto the next layer's grid). Both paths give the same bytes.
static void quantize_scalar(const float *x, size_t count, float inverse, int zero, uint8_t *q) {
    for (size_t i = 0; i < count; i++) q[i] = retort_int8_quantized(x[i], inverse, zero);
}

#ifdef RETORT_X86
__attribute__((target("avx2"))) static void quantize_avx2(const float *x, size_t count, float inverse, int zero,
                                                          uint8_t *q) {
    const __m256 scale = _mm256_set1_ps(inverse);
    const __m256i offset = _mm256_set1_epi32(zero);
    size_t i = 0;
    for (; i + 16 <= count; i += 16)
        retort_int8_store_bytes16(q + i, retort_int8_quantized8(_mm256_loadu_ps(x + i), scale, offset),
                                  retort_int8_quantized8(_mm256_loadu_ps(x + i + 8), scale, offset));
    for (; i + 8 <= count; i += 8) retort_int8_store_bytes8(q + i, retort_int8_quantized8(_mm256_loadu_ps(x + i), scale, offset));
    quantize_scalar(x + i, count - i, inverse, zero, q + i);
}
#endif

void retort_int8_quantize(const float *x, size_t count, float inverse, int zero, uint8_t *q) {
#ifdef RETORT_X86
    if (has_avx2()) {
        quantize_avx2(x, count, inverse, zero, q);
        return;
    }
#endif
    quantize_scalar(x, count, inverse, zero, q);
}

void retort_int8_requantize(const int32_t *acc, size_t first, size_t rows, int outputs, const int32_t *corrections,
                            const float *scales, const float *bias, int area, int relu, float *out) {
    if (area <= 0) {
        for (size_t r = first; r < first + rows; r++) {
            const int32_t *a = acc + (r - first) * outputs;
            float *o = out + r * outputs;
            for (int j = 0; j < outputs; j++) o[j] = retort_int8_requantized(a[j], corrections[j], scales[j], bias[j]);
            if (relu) {
                for (int j = 0; j < outputs; j++) o[j] = o[j] < 0.0f ? 0.0f : o[j];
            }
        }
        return;
    }
    // Row r is position r % area of image r / area; the output is [image, channel, position]. Runs of
    // rows within one image are written channel by channel, so each store stream is contiguous.
    for (size_t r = first; r < first + rows;) {
        size_t image = r / area, position = r % area;
        size_t run = area - position;
        if (run > first + rows - r) run = first + rows - r;
        const int32_t *a = acc + (r - first) * outputs;
        for (int j = 0; j < outputs; j++) {
            float *o = out + (image * outputs + j) * (size_t)area + position;
            int32_t correction = corrections[j];
            float scale = scales[j], b = bias[j];
            for (size_t t = 0; t < run; t++) o[t] = retort_int8_requantized(a[t * outputs + j], correction, scale, b);
            if (relu) {
                for (size_t t = 0; t < run; t++) o[t] = o[t] < 0.0f ? 0.0f : o[t];
            }
        }
        r += run;
    }
}
