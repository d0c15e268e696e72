/* OpenBLAS against oneDNN, call by call, on the shapes Retort's workloads issue (training's
 * transposed products included) and on tiny ones, to place the size below which Retort keeps
 * OpenBLAS (BLAS.oneDNNMinimumWork); and oneDNN's matmul primitive (created once per shape, as a
 * cache of primitives would) beside its dnnl_sgemm; Retort uses it for products at least 512 wide
 * (MatmulPrimitives.swift):
 *   bench/gemm-shapes [THREADS]
 * Each figure is the best of 5 rounds of at least 50 ms; the three in the same round. */
#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

// oneDNN's matmul primitive for one shape, its memory objects pointing at a, b and c.
struct matmul {
    dnnl_primitive_t primitive;
    dnnl_memory_t a, b, c;
    dnnl_stream_t stream;
};

static int matmul_create(struct matmul *mm, dnnl_engine_t engine, int m, int n, int k, int ta, int tb, float *a,
                         float *b, float *c) {
    dnnl_memory_desc_t a_md, b_md, c_md;
    dnnl_dims_t a_dims = {m, k}, b_dims = {k, n}, c_dims = {m, n};
    dnnl_dims_t a_strides = {ta ? 1 : k, ta ? m : 1}, b_strides = {tb ? 1 : n, tb ? k : 1}, c_strides = {n, 1};
    dnnl_matmul_desc_t desc;
    dnnl_primitive_desc_t pd;
    if (dnnl_memory_desc_init_by_strides(&a_md, 2, a_dims, dnnl_f32, a_strides) != dnnl_success ||
        dnnl_memory_desc_init_by_strides(&b_md, 2, b_dims, dnnl_f32, b_strides) != dnnl_success ||
        dnnl_memory_desc_init_by_strides(&c_md, 2, c_dims, dnnl_f32, c_strides) != dnnl_success ||
        dnnl_matmul_desc_init(&desc, &a_md, &b_md, NULL, &c_md) != dnnl_success ||
        dnnl_primitive_desc_create(&pd, &desc, NULL, engine, NULL) != dnnl_success ||
        dnnl_primitive_create(&mm->primitive, pd) != dnnl_success ||
        dnnl_memory_create(&mm->a, &a_md, engine, a) != dnnl_success ||
        dnnl_memory_create(&mm->b, &b_md, engine, b) != dnnl_success ||
        dnnl_memory_create(&mm->c, &c_md, engine, c) != dnnl_success ||
        dnnl_stream_create(&mm->stream, engine, dnnl_stream_default_flags) != dnnl_success)
        return 0;
    dnnl_primitive_desc_destroy(pd);
    return 1;
}

static void run(int library, int m, int n, int k, int ta, int tb, const float *a, const float *b, float *c,
                struct matmul *mm) {
    if (library == 2) {
        dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, mm->a}, {DNNL_ARG_WEIGHTS, mm->b}, {DNNL_ARG_DST, mm->c}};
        dnnl_primitive_execute(mm->primitive, mm->stream, 3, args);
        dnnl_stream_wait(mm->stream);
    } else if (library == 0)
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, 1.0f, a,
                    ta ? m : k, b, tb ? k : n, 0.0f, c, n);
    else
        dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, 1.0f, a, ta ? m : k, b, tb ? k : n, 0.0f, c, n);
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    openblas_set_num_threads(threads);
    omp_set_num_threads(threads);
    /* m, n, k, transpose A, transpose B: attention's per-head products, mlp-64's layers, the GPT's
     * linear layers forward and backward, the CNN's convolutions, the 784-512-512-10 MLP's. */
    static const int shapes[][5] = {
        {16, 16, 16, 0, 1},     {16, 16, 16, 0, 0},    {16, 16, 16, 1, 0},      {64, 32, 32, 0, 0},
        {64, 64, 32, 1, 0},     {64, 32, 64, 0, 1},    {64, 288, 8, 0, 0},      {1024, 27, 64, 0, 1},
        {64, 27, 1024, 1, 0},   {1024, 192, 64, 0, 1}, {1024, 64, 192, 0, 0},   {64, 192, 1024, 1, 0},
        {1024, 256, 64, 0, 1},  {16, 3136, 25, 0, 0},  {32, 784, 400, 0, 0},    {32, 512, 784, 0, 1},
        {128, 512, 784, 0, 1},  {784, 512, 128, 1, 0}, {128, 784, 512, 0, 0},   {1024, 64, 64, 0, 0},
        {64, 64, 1024, 1, 0},   {1024, 64, 64, 0, 1},  {1024, 64, 256, 0, 0},   {1024, 64, 256, 0, 1},
        {64, 256, 1024, 1, 0},  {256, 64, 1024, 1, 0}, {192, 64, 1024, 1, 0}};
    size_t largest = 1 << 20;
    float *a = malloc(sizeof(float) * largest), *b = malloc(sizeof(float) * largest), *c = malloc(sizeof(float) * largest);
    for (size_t i = 0; i < largest; i++) a[i] = (float)(i % 7) / 7.0f, b[i] = (float)(i % 5) / 5.0f, c[i] = 0;
    printf("%d thread(s); OPENBLAS_CORETYPE=%s\n", threads, getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : "unset");
    dnnl_engine_t engine;
    if (dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success) return 1;
    printf("%-22s %12s %12s %8s %14s %12s %8s\n", "m x n x k (op)", "OpenBLAS us", "oneDNN us", "ratio", "multiply-adds",
           "matmul us", "vs sgemm");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2], ta = shapes[s][3], tb = shapes[s][4];
        double best[3] = {1e9, 1e9, 1e9};
        struct matmul mm;
        if (!matmul_create(&mm, engine, m, n, k, ta, tb, a, b, c)) return 1;
        for (int round = 0; round < 5; round++)
            for (int library = 0; library < 3; library++) {
                long calls = 0;
                double started = now(), elapsed;
                do {
                    for (int r = 0; r < 10; r++) run(library, m, n, k, ta, tb, a, b, c, &mm);
                    calls += 10;
                    elapsed = now() - started;
                } while (elapsed < 0.05);
                if (elapsed / calls < best[library]) best[library] = elapsed / calls;
            }
        char label[64];
        snprintf(label, sizeof label, "%dx%dx%d (%c%c)", m, n, k, ta ? 'T' : 'N', tb ? 'T' : 'N');
        printf("%-22s %12.2f %12.2f %7.2fx %14ld %12.2f %7.2fx\n", label, best[0] * 1e6, best[1] * 1e6, best[0] / best[1],
               (long)m * n * k, best[2] * 1e6, best[1] / best[2]);
        dnnl_primitive_destroy(mm.primitive);
        dnnl_memory_destroy(mm.a);
        dnnl_memory_destroy(mm.b);
        dnnl_memory_destroy(mm.c);
        dnnl_stream_destroy(mm.stream);
    }
    return 0;
}
