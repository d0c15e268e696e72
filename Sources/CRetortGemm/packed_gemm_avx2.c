// Retort's own float GEMM for CPUs with AVX2 and FMA (a Zen 3), on a B packed once or on the call.
//
// Why: on a Zen 3, OpenBLAS runs the large products (oneDNN's GEMM was slower there) and packs B
// again on every call; a distilling teacher's or an evaluated model's weights do not change, and
// packing them was about a tenth of the time of their products (128 rows through 784 -> 512).
//
// The blocking is the usual one for a register tile: a step of the inner loop multiplies 6 rows of
// A (broadcast one value at a time) by 16 columns of B (two 8-lane vectors) into 12 running sums of
// C, 12 multiply-adds per 8 loads; B is packed in panels of 16 columns by up to 512 rows (one
// panel, 32 KB, stays in the L1 cache while the rows of A go past it). A is not packed: a tile
// broadcasts from its 6 rows where they are (6 streams read in order), 72 rows by up to 512 of
// depth at a time (147 KB at a depth of 512, in the L2 cache while every panel of B goes
// past them). Packing A was 2% to 4% of the time (a Zen 3, one thread, a C harness: 128 rows
// through 784 -> 512 94.6 to 95.3 GFLOPS packed, 95.8 to 97.5 not) and was done again by every
// thread for the same rows.
//
// A plain B (retort_gemm_product) is packed as it is first multiplied: the first tile of a panel
// reads B's rows where they are, stores them packed and multiplies them, the later tiles read the
// packed panel. Packing first and then multiplying went over B twice: 128 rows through 784 -> 512
// at 89.2 GFLOPS against 91.4 so (a Zen 3, one thread, a C harness, best of ten 0.2 s runs).
#include "retort_gemm.h"

#include <immintrin.h>
#include <string.h>

#define AVX2 __attribute__((target("avx2,fma")))
#define INLINE static inline __attribute__((always_inline))

#define TILE_ROWS 6
#define PANEL 16
#define DEPTH 512
#define ROW_BLOCK 72
#define FETCH_AHEAD 8

static long panels_of(long n) { return (n + PANEL - 1) / PANEL; }

// The rows of the tile at row r of a block of `rows`: 6, but where 7 to 9 rows are left, the last
// two tiles share them (4 and 3, 4 and 4, 5 and 4). A tile of fewer than 4 rows has fewer than 8
// running sums, too few to keep both FMA units busy at a latency of 4 cycles: 2 rows wait 4 cycles
// a depth step where 6 take 6, so 128 rows (72 + 56) took 130 cycles' worth where 128 do (a Zen 3,
// one thread: 128 rows through 784 -> 512 ran 1% to 3% faster split so, in a C harness).
// Each value of C is the same sum in the same order whatever its tile's height.
static long tile_height(long rows, long r) {
    long left = rows - r;
    if (left > TILE_ROWS && left < TILE_ROWS + 4) return (left + 1) / 2;
    return left < TILE_ROWS ? left : TILE_ROWS;
}

long retort_gemm_packed_count(long k, long n) { return k * panels_of(n) * PANEL; }
long retort_gemm_panel_width(void) { return PANEL; }

// Depth block [p0, p0 + depth) starts at p0 * (panels * 16) in the packed copy; panel q of it at
// q * depth * 16 from there, row p of the panel at p * 16: the 16 values B(p0 + p, 16q ..< 16q + 16),
// zeros past column n.
//
// One panel of one depth block: `depth` rows of `columns` values from b (value (p, j) at
// b[p * row_stride + j * column_stride]), zeros after them to 16.
static void pack_panel(const float *b, long row_stride, long column_stride, long depth, long columns, float *panel) {
    for (long p = 0; p < depth; p++) {
        const float *src = b + p * row_stride;
        float *dst = panel + p * PANEL;
        if (column_stride == 1 && columns == PANEL) {
            memcpy(dst, src, sizeof(float) * PANEL);
            continue;
        }
        for (long j = 0; j < columns; j++) dst[j] = src[j * column_stride];
        for (long j = columns; j < PANEL; j++) dst[j] = 0;
    }
}

void retort_gemm_pack(const float *b, long k, long n, long row_stride, long column_stride, float *packed) {
    long width = panels_of(n) * PANEL;
    for (long p0 = 0; p0 < k; p0 += DEPTH) {
        long depth = k - p0 < DEPTH ? k - p0 : DEPTH;
        for (long j0 = 0; j0 < n; j0 += PANEL) {
            pack_panel(b + p0 * row_stride + j0 * column_stride, row_stride, column_stride, depth,
                       n - j0 < PANEL ? n - j0 : PANEL, packed + p0 * width + j0 * depth);
        }
    }
}

// One tile: `rows` (a constant after inlining, 1 to 6) rows of C by the 16 columns of a panel,
// `columns` of them stored; A's row i at a + i * lda; `first`: the first depth block writes C,
// the others add to it. `packing` (a constant after inlining): the panel b is not packed yet; its
// rows are read from B where they are (row p at source + p * ldb, all 16 columns there) and
// stored into b as they go past, each 8 rows ahead fetched first (rows 2 KB and more apart: without
// the fetch the loads waited, and packing on the way gained nothing, 128 rows through 784 -> 512
// at 85.2 GFLOPS against 85.3 packing first). A fetch past B's last row is a hint, never a fault.
INLINE AVX2 void tile(int rows, int packing, long depth, const float *a, long lda, float *b, const float *source,
                      long ldb, float *c, long ldc, long columns, int first) {
    __m256 sum[TILE_ROWS][2];
#pragma clang loop unroll(full)
    for (int i = 0; i < TILE_ROWS; i++) sum[i][0] = sum[i][1] = _mm256_setzero_ps();
    for (long p = 0; p < depth; p++) {
        __m256 b0, b1;
        if (packing) {
            _mm_prefetch((const char *)(source + FETCH_AHEAD * ldb), _MM_HINT_T0);
            _mm_prefetch((const char *)(source + FETCH_AHEAD * ldb + PANEL - 1), _MM_HINT_T0);
            b0 = _mm256_loadu_ps(source);
            b1 = _mm256_loadu_ps(source + 8);
            _mm256_store_ps(b, b0);
            _mm256_store_ps(b + 8, b1);
            source += ldb;
        } else {
            b0 = _mm256_load_ps(b);
            b1 = _mm256_load_ps(b + 8);
        }
#pragma clang loop unroll(full)
        for (int i = 0; i < rows; i++) {
            __m256 x = _mm256_broadcast_ss(a + i * lda);
            sum[i][0] = _mm256_fmadd_ps(x, b0, sum[i][0]);
            sum[i][1] = _mm256_fmadd_ps(x, b1, sum[i][1]);
        }
        a += 1;
        b += PANEL;
    }
    if (columns == PANEL) {
#pragma clang loop unroll(full)
        for (int i = 0; i < rows; i++) {
            float *row = c + i * ldc;
            if (first) {
                _mm256_storeu_ps(row, sum[i][0]);
                _mm256_storeu_ps(row + 8, sum[i][1]);
            } else {
                _mm256_storeu_ps(row, _mm256_add_ps(_mm256_loadu_ps(row), sum[i][0]));
                _mm256_storeu_ps(row + 8, _mm256_add_ps(_mm256_loadu_ps(row + 8), sum[i][1]));
            }
        }
    } else {
        float t[PANEL] __attribute__((aligned(32)));
        for (int i = 0; i < rows; i++) {
            _mm256_store_ps(t, sum[i][0]);
            _mm256_store_ps(t + 8, sum[i][1]);
            float *row = c + i * ldc;
            for (long j = 0; j < columns; j++) row[j] = first ? t[j] : row[j] + t[j];
        }
    }
}

static AVX2 void tile_of(long rows, long depth, const float *a, long lda, float *b, float *c, long ldc, long columns,
                         int first) {
    switch (rows) {
    case 6: tile(6, 0, depth, a, lda, b, 0, 0, c, ldc, columns, first); break;
    case 5: tile(5, 0, depth, a, lda, b, 0, 0, c, ldc, columns, first); break;
    case 4: tile(4, 0, depth, a, lda, b, 0, 0, c, ldc, columns, first); break;
    case 3: tile(3, 0, depth, a, lda, b, 0, 0, c, ldc, columns, first); break;
    case 2: tile(2, 0, depth, a, lda, b, 0, 0, c, ldc, columns, first); break;
    default: tile(1, 0, depth, a, lda, b, 0, 0, c, ldc, columns, first); break;
    }
}

// A tile of a whole panel that packs it on the way (tile's `packing`).
static AVX2 void packing_tile_of(long rows, long depth, const float *a, long lda, float *b, const float *source,
                                 long ldb, float *c, long ldc, int first) {
    switch (rows) {
    case 6: tile(6, 1, depth, a, lda, b, source, ldb, c, ldc, PANEL, first); break;
    case 5: tile(5, 1, depth, a, lda, b, source, ldb, c, ldc, PANEL, first); break;
    case 4: tile(4, 1, depth, a, lda, b, source, ldb, c, ldc, PANEL, first); break;
    case 3: tile(3, 1, depth, a, lda, b, source, ldb, c, ldc, PANEL, first); break;
    case 2: tile(2, 1, depth, a, lda, b, source, ldb, c, ldc, PANEL, first); break;
    default: tile(1, 1, depth, a, lda, b, source, ldb, c, ldc, PANEL, first); break;
    }
}

// C = A @ B for the panels [first_panel, end_panel), B packed in `packed` already (b null) or
// packed into it here from b (row p at b + p * ldb) by the first tile of each panel's first row
// block, which then multiplies from what it stored: the same sums in the same order either way.
static void multiply(const float *a, long lda, long m, long k, long n, float *packed, const float *b, long ldb,
                     long first_panel, long end_panel, float *c, long ldc) {
    long width = panels_of(n) * PANEL;
    if (k == 0) {
        long first = first_panel * PANEL, last = end_panel * PANEL < n ? end_panel * PANEL : n;
        for (long i = 0; i < m && last > first; i++) memset(c + i * ldc + first, 0, sizeof(float) * (last - first));
        return;
    }
    for (long p0 = 0; p0 < k; p0 += DEPTH) {
        long depth = k - p0 < DEPTH ? k - p0 : DEPTH;
        float *block = packed + p0 * width;
        for (long i0 = 0; i0 < m; i0 += ROW_BLOCK) {
            long rows = m - i0 < ROW_BLOCK ? m - i0 : ROW_BLOCK;
            for (long q = first_panel; q < end_panel; q++) {
                long j0 = q * PANEL, columns = n - j0 < PANEL ? n - j0 : PANEL;
                float *panel = block + q * depth * PANEL;
                long r = 0;
                if (b && i0 == 0 && columns == PANEL) {
                    r = tile_height(rows, 0);
                    packing_tile_of(r, depth, a + p0, lda, panel, b + p0 * ldb + j0, ldb, c + j0, ldc, p0 == 0);
                } else if (b && i0 == 0) {
                    pack_panel(b + p0 * ldb + j0, ldb, 1, depth, columns, panel);
                }
                for (long count; r < rows; r += count) {
                    count = tile_height(rows, r);
                    tile_of(count, depth, a + (i0 + r) * lda + p0, lda, panel, c + (i0 + r) * ldc + j0, ldc, columns,
                            p0 == 0);
                }
            }
        }
    }
}

void retort_gemm_packed(const float *a, long lda, long m, long k, long n, const float *packed, long first_panel,
                        long end_panel, float *c, long ldc) {
    // Not written through: b is null.
    multiply(a, lda, m, k, n, (float *)packed, 0, 0, first_panel, end_panel, c, ldc);
}

void retort_gemm_product(const float *a, long lda, long m, long k, long n, const float *b, long ldb, float *packed,
                         long first_panel, long end_panel, float *c, long ldc) {
    multiply(a, lda, m, k, n, packed, b, ldb, first_panel, end_panel, c, ldc);
}
