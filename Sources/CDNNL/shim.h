// oneDNN (Debian's libdnnl-dev), for its sgemm only; called from RetortTensor/OneDNN.swift.
#include <oneapi/dnnl/dnnl.h>

// Debian builds oneDNN on OpenMP (libgomp), whose thread count is its own: these two functions of
// the OpenMP runtime set and read it. Declared here because omp.h lives in GCC's private folder.
void omp_set_num_threads(int count);
int omp_get_max_threads(void);
