// oneDNN (Debian's libdnnl-dev), for its sgemm only; called from RetortTensor/OneDNN.swift.
#include <oneapi/dnnl/dnnl.h>

// Debian builds oneDNN on OpenMP (libgomp), whose thread count is its own: these two functions of
// the OpenMP runtime set and read it. Declared here because omp.h lives in GCC's private folder.
void omp_set_num_threads(int count);
int omp_get_max_threads(void);

// The entry point a compiler emits for `#pragma omp parallel`: runs fn(data) on num_threads threads
// of the same pool oneDNN's GEMM uses, the caller among them. With the two below, Retort's own loops
// share that pool (RetortTensor/Parallel.swift through OneDNN.swift).
void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);
int omp_get_thread_num(void);
int omp_get_num_threads(void);
// How many parallel regions enclose the caller (0 outside any): see OneDNN.Matmul.
int omp_get_level(void);
