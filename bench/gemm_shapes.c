/* OpenBLAS against oneDNN, call by call, on the shapes Retort's workloads issue (training's
 * transposed products included) and on tiny ones, to place the size below which Retort keeps
 * OpenBLAS (BLAS.oneDNNMinimumWork):
 *   bench/gemm-shapes [THREADS]
 * Each figure is the best of 5 rounds of at least 50 ms; both libraries in the same round. */
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

static void run(int library, int m, int n, int k, int ta, int tb, const float *a, const float *b, float *c) {
    if (library == 0)
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
        {128, 512, 784, 0, 1},  {784, 512, 128, 1, 0}, {128, 784, 512, 0, 0}};
    size_t largest = 1 << 20;
    float *a = malloc(sizeof(float) * largest), *b = malloc(sizeof(float) * largest), *c = malloc(sizeof(float) * largest);
    for (size_t i = 0; i < largest; i++) a[i] = (float)(i % 7) / 7.0f, b[i] = (float)(i % 5) / 5.0f, c[i] = 0;
    printf("%d thread(s); OPENBLAS_CORETYPE=%s\n", threads, getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : "unset");
    printf("%-22s %12s %12s %8s %14s\n", "m x n x k (op)", "OpenBLAS us", "oneDNN us", "ratio", "multiply-adds");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2], ta = shapes[s][3], tb = shapes[s][4];
        double best[2] = {1e9, 1e9};
        for (int round = 0; round < 5; round++)
            for (int library = 0; library < 2; library++) {
                long calls = 0;
                double started = now(), elapsed;
                do {
                    for (int r = 0; r < 10; r++) run(library, m, n, k, ta, tb, a, b, c);
                    calls += 10;
                    elapsed = now() - started;
                } while (elapsed < 0.05);
                if (elapsed / calls < best[library]) best[library] = elapsed / calls;
            }
        char label[64];
        snprintf(label, sizeof label, "%dx%dx%d (%c%c)", m, n, k, ta ? 'T' : 'N', tb ? 'T' : 'N');
        printf("%-22s %12.2f %12.2f %7.2fx %14ld\n", label, best[0] * 1e6, best[1] * 1e6, best[0] / best[1], (long)m * n * k);
    }
    return 0;
}
