// Times the C loops of small attention heads (retort_attention_head and its backward) over one
// layer of the gpt on names: 64 sequences of 16 positions, 4 heads of 16 features, causal, the
// queries, keys and values read from the fused projection's rows as Attention.heads reads them.
// Prints microseconds per layer, the median of 101 repetitions, with the caches as the previous
// repetition left them ("hot") and after 16 MB of other data passed through them ("flushed").
// Built and run by bench/attention-heads.
#include "retort_math.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { N = 64, T = 16, HEADS = 4, SIZE = 16, INNER = HEADS * SIZE, REPEATS = 101, FLUSH = 16 << 20 };

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}
static int compare(const void *x, const void *y) {
    const double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}
static float *filled(long count, unsigned seed) {
    float *p = malloc(sizeof(float) * count);
    srand(seed);
    for (long i = 0; i < count; i++) p[i] = (float)rand() / RAND_MAX - 0.5f;
    return p;
}

int main(void) {
    float *qkv = filled(N * T * 3 * INNER, 1), *go = filled(N * T * INNER, 2);
    float *out = filled(N * T * INNER, 3), *p = filled(N * HEADS * T * T, 4), *grad = filled(N * T * 3 * INNER, 5);
    float scratch[T * SIZE + T * T];
    volatile char *flush = calloc(FLUSH, 1);
    double forward[2][REPEATS], backward[2][REPEATS];
    for (int flushed = 0; flushed < 2; flushed++)
        for (int r = 0; r < REPEATS; r++) {
            if (flushed)
                for (long i = 0; i < FLUSH; i += 64) flush[i]++;
            double start = now();
            for (long pair = 0; pair < N * HEADS; pair++) {
                const float *rows = qkv + pair / HEADS * T * 3 * INNER + pair % HEADS * SIZE;
                retort_attention_head(rows, rows + INNER, rows + 2 * INNER, 3 * INNER, T, SIZE, 0.25f, 1,
                                      p + pair * T * T, out + pair / HEADS * T * INNER + pair % HEADS * SIZE, INNER,
                                      scratch);
            }
            forward[flushed][r] = now() - start;
            if (flushed)
                for (long i = 0; i < FLUSH; i += 64) flush[i]++;
            start = now();
            for (long pair = 0; pair < N * HEADS; pair++) {
                const long at = pair / HEADS * T * 3 * INNER + pair % HEADS * SIZE;
                retort_attention_head_backward(qkv + at, qkv + at + INNER, qkv + at + 2 * INNER, 3 * INNER,
                                               p + pair * T * T, go + pair / HEADS * T * INNER + pair % HEADS * SIZE,
                                               INNER, T, SIZE, 0.25f, grad + at, grad + at + INNER,
                                               grad + at + 2 * INNER, scratch);
            }
            backward[flushed][r] = now() - start;
        }
    for (int flushed = 0; flushed < 2; flushed++) {
        qsort(forward[flushed], REPEATS, sizeof(double), compare);
        qsort(backward[flushed], REPEATS, sizeof(double), compare);
        printf("%-8s forward %6.1f us  backward %6.1f us per layer (%d heads of %dx%d)\n", flushed ? "flushed" : "hot",
               forward[flushed][REPEATS / 2] * 1e6, backward[flushed][REPEATS / 2] * 1e6, N * HEADS, T, SIZE);
    }
    return 0;
}
