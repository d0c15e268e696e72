/* The sgemm candidates of issue 22 on the bench's shapes, one library per build of this file:
 *   bench/gemm-candidates [THREADS]   (builds it three times, runs each in turn)
 * C = A·B, row-major, A [m, k], B [k, n]; GFLOPS is the best of 5 rounds of ~0.3 s each. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#if defined(USE_DNNL)
#include <dnnl.h>
static const char *library = "oneDNN dnnl_sgemm";
static void gemm(int m, int n, int k, const float *a, const float *b, float *c) {
    dnnl_sgemm('N', 'N', m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
}
#else
enum { RowMajor = 101, NoTrans = 111 };
void cblas_sgemm(int, int, int, int, int, int, float, const float *, int, const float *, int, float, float *, int);
#if defined(USE_BLIS)
static const char *library = "BLIS cblas_sgemm";
#else
static const char *library = "OpenBLAS cblas_sgemm";
#endif
static void gemm(int m, int n, int k, const float *a, const float *b, float *c) {
    cblas_sgemm(RowMajor, NoTrans, NoTrans, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
}
#endif

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(void) {
    static const int shapes[][3] = {{128, 784, 512}, {128, 512, 512}, {32, 784, 512}, {512, 512, 512}, {1024, 1024, 1024}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int m = shapes[s][0], k = shapes[s][1], n = shapes[s][2];
        float *a = malloc(sizeof(float) * m * k), *b = malloc(sizeof(float) * k * n), *c = malloc(sizeof(float) * m * n);
        for (int i = 0; i < m * k; i++) a[i] = (float)(i % 7) / 7.0f;
        for (int i = 0; i < k * n; i++) b[i] = (float)(i % 5) / 5.0f;
        gemm(m, n, k, a, b, c);
        double best = 0;
        for (int round = 0; round < 5; round++) {
            int calls = 0;
            double start = now(), elapsed;
            do {
                gemm(m, n, k, a, b, c);
                calls++;
            } while ((elapsed = now() - start) < 0.3);
            double gflops = 2.0 * m * n * k * calls / elapsed / 1e9;
            if (gflops > best) best = gflops;
        }
        printf("%-22s sgemm/%dx%dx%d  %7.1f GFLOPS\n", library, m, k, n, best);
        free(a), free(b), free(c);
    }
    return 0;
}
