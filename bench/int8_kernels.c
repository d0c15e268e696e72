// Times int8 GEMM C[m x n] = A[m x k] x B^T three ways, single-threaded: retort_int8_gemm, oneDNN's u8 x s8 -> s32
// matmul (weights reordered once to the format oneDNN picks), and OpenBLAS cblas_sgemm in float32.
// GFLOP/s counts 2*m*n*k; each figure is the median of 31 samples after warm-up, each sample >= 20 ms of calls.
// Built and run by bench/int8-kernels (which installs oneDNN from Debian if it is missing).
#include "retort_int8.h"
#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHECK(x) do { dnnl_status_t s_ = (x); if (s_ != dnnl_success) { fprintf(stderr, "%s failed: %d\n", #x, s_); exit(1); } } while (0)

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static int cmp(const void *x, const void *y) { double a = *(const double *)x, b = *(const double *)y; return a < b ? -1 : a > b; }

typedef void (*run_fn)(void *ctx);

// Median seconds per call.
static double time_it(run_fn f, void *ctx) {
    for (int i = 0; i < 20; i++) f(ctx);
    int reps = 1;
    for (;;) {
        double t0 = now();
        for (int i = 0; i < reps; i++) f(ctx);
        if (now() - t0 > 0.02) break;
        reps *= 2;
    }
    double s[31];
    for (int j = 0; j < 31; j++) {
        double t0 = now();
        for (int i = 0; i < reps; i++) f(ctx);
        s[j] = (now() - t0) / reps;
    }
    qsort(s, 31, sizeof *s, cmp);
    return s[15];
}

typedef struct {
    int m, k, n;
    uint8_t *a; int8_t *b; void *packed; int32_t *c;
    float *af, *bf, *cf;
    dnnl_primitive_t mm; dnnl_stream_t stream; dnnl_exec_arg_t args[3];
} ctx_t;

static void run_ours(void *p) { ctx_t *x = p; retort_int8_gemm(x->a, x->m, x->k, x->packed, x->n, x->c); }
static void run_dnnl(void *p) { ctx_t *x = p; CHECK(dnnl_primitive_execute(x->mm, x->stream, 3, x->args)); CHECK(dnnl_stream_wait(x->stream)); }
static void run_blas(void *p) {
    ctx_t *x = p;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, x->m, x->n, x->k, 1.0f, x->af, x->k, x->bf, x->k, 0.0f, x->cf, x->n);
}

int main(int argc, char **argv) {
    int ours_only = argc > 1;
    int shapes[][3] = {{128, 784, 512}, {128, 512, 512}, {1, 784, 512}, {128, 512, 10}, {64, 576, 64}};
    dnnl_engine_t engine;
    CHECK(dnnl_engine_create(&engine, dnnl_cpu, 0));
    printf("retort path: %s\n", retort_int8_path());
    printf("%-16s %10s %10s %10s   (GFLOP/s; exact: ours, oneDNN)\n", "m,k,n", "retort", "oneDNN", "sgemm");
    for (unsigned s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        ctx_t x = {.m = shapes[s][0], .k = shapes[s][1], .n = shapes[s][2]};
        int m = x.m, k = x.k, n = x.n;
        x.a = malloc((size_t)m * k); x.b = malloc((size_t)n * k);
        x.af = malloc(sizeof(float) * m * k); x.bf = malloc(sizeof(float) * n * k); x.cf = malloc(sizeof(float) * m * n);
        x.c = malloc(sizeof(int32_t) * m * n);
        int32_t *ref = malloc(sizeof(int32_t) * m * n), *cd = malloc(sizeof(int32_t) * m * n);
        srand(s + 1);
        for (int i = 0; i < m * k; i++) x.af[i] = x.a[i] = rand() % 128;
        for (int i = 0; i < n * k; i++) x.bf[i] = x.b[i] = rand() % 255 - 127;
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                int32_t acc = 0;
                for (int t = 0; t < k; t++) acc += (int32_t)x.a[i * k + t] * x.b[j * k + t];
                ref[i * n + j] = acc;
            }
        x.packed = malloc(retort_int8_pack_b(x.b, n, k, NULL, NULL));
        retort_int8_pack_b(x.b, n, k, x.packed, NULL);
        double flop = 2.0 * m * n * k;
        double t_ours = time_it(run_ours, &x);
        int ok_ours = memcmp(x.c, ref, sizeof(int32_t) * m * n) == 0;
        double t_dnnl = 0, t_blas = 0;
        int ok_dnnl = 0;
        if (!ours_only) {
            // oneDNN: src m x k (ab), weights k x n given as B's n x k rows (ba), dst m x n; weights format chosen by oneDNN.
            dnnl_memory_desc_t src_md, w_user_md, w_any_md, dst_md;
            dnnl_dims_t sd = {m, k}, wd = {k, n}, dd = {m, n};
            CHECK(dnnl_memory_desc_init_by_tag(&src_md, 2, sd, dnnl_u8, dnnl_ab));
            CHECK(dnnl_memory_desc_init_by_tag(&w_user_md, 2, wd, dnnl_s8, dnnl_ba));
            CHECK(dnnl_memory_desc_init_by_tag(&w_any_md, 2, wd, dnnl_s8, dnnl_format_tag_any));
            CHECK(dnnl_memory_desc_init_by_tag(&dst_md, 2, dd, dnnl_s32, dnnl_ab));
            dnnl_matmul_desc_t desc;
            CHECK(dnnl_matmul_desc_init(&desc, &src_md, &w_any_md, NULL, &dst_md));
            dnnl_primitive_desc_t pd;
            CHECK(dnnl_primitive_desc_create(&pd, &desc, NULL, engine, NULL));
            const char *impl;
            CHECK(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl));
            const dnnl_memory_desc_t *w_md = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
            dnnl_memory_t src_m, w_user_m, w_m, dst_m;
            CHECK(dnnl_memory_create(&src_m, &src_md, engine, x.a));
            CHECK(dnnl_memory_create(&w_user_m, &w_user_md, engine, x.b));
            CHECK(dnnl_memory_create(&w_m, w_md, engine, DNNL_MEMORY_ALLOCATE));
            CHECK(dnnl_memory_create(&dst_m, &dst_md, engine, cd));
            CHECK(dnnl_stream_create(&x.stream, engine, dnnl_stream_default_flags));
            dnnl_primitive_desc_t rpd;
            CHECK(dnnl_reorder_primitive_desc_create(&rpd, &w_user_md, engine, w_md, engine, NULL));
            dnnl_primitive_t reorder;
            CHECK(dnnl_primitive_create(&reorder, rpd));
            dnnl_exec_arg_t rargs[2] = {{DNNL_ARG_FROM, w_user_m}, {DNNL_ARG_TO, w_m}};
            CHECK(dnnl_primitive_execute(reorder, x.stream, 2, rargs));
            CHECK(dnnl_stream_wait(x.stream));
            CHECK(dnnl_primitive_create(&x.mm, pd));
            x.args[0] = (dnnl_exec_arg_t){DNNL_ARG_SRC, src_m};
            x.args[1] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, w_m};
            x.args[2] = (dnnl_exec_arg_t){DNNL_ARG_DST, dst_m};
            t_dnnl = time_it(run_dnnl, &x);
            ok_dnnl = memcmp(cd, ref, sizeof(int32_t) * m * n) == 0;
            fprintf(stderr, "oneDNN impl for %d,%d,%d: %s\n", m, k, n, impl);
            t_blas = time_it(run_blas, &x);
            dnnl_primitive_destroy(reorder); dnnl_primitive_desc_destroy(rpd);
            dnnl_primitive_destroy(x.mm); dnnl_primitive_desc_destroy(pd); dnnl_stream_destroy(x.stream);
            dnnl_memory_destroy(src_m); dnnl_memory_destroy(w_user_m); dnnl_memory_destroy(w_m); dnnl_memory_destroy(dst_m);
        }
        char name[32];
        snprintf(name, sizeof name, "%d,%d,%d", m, k, n);
        printf("%-16s %10.1f %10.1f %10.1f   %s %s  (us/call: %.2f %.2f %.2f)\n", name, flop / t_ours * 1e-9,
               t_dnnl ? flop / t_dnnl * 1e-9 : 0, t_blas ? flop / t_blas * 1e-9 : 0, ok_ours ? "yes" : "NO",
               ours_only ? "-" : ok_dnnl ? "yes" : "NO", t_ours * 1e6, t_dnnl * 1e6, t_blas * 1e6);
        free(x.a); free(x.b); free(x.af); free(x.bf); free(x.cf); free(x.c); free(ref); free(cd); free(x.packed);
    }
    dnnl_engine_destroy(engine);
    return 0;
}
