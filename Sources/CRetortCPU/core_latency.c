// How long a cache line takes to cross from one CPU to another: two threads, each pinned to its
// CPU, hand a counter back and forth. On a virtual machine the host decides where the two vCPUs
// sit; on the 2-vCPU Zen 4 the benchmarks run on, the figure is about 30 to 45 ns while they share
// an L3 and about 150 to 175 ns while they sit on different chiplets, and every workload whose threads hand
// data to each other runs at up to half speed in the second state (docs/performance.md).
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "retort_cpu.h"

// The line the two threads hand back and forth, alone in its 128 bytes (lines are fetched in pairs).
typedef struct {
    _Alignas(128) _Atomic long turn;
    char padding[128 - sizeof(long)];
} shared_line;

typedef struct {
    shared_line *line;
    int cpu;
    long trips;
} responder;

static int pin_to(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

// The second thread: waits for each odd turn and answers with the next even one.
static void *respond(void *argument) {
    // Copied out first: the caller's stack around `argument` is written while the trips run.
    const responder r = *(const responder *)argument;
    const int pinned = pin_to(r.cpu);
    atomic_store_explicit(&r.line->turn, pinned ? 0 : -1, memory_order_release);
    if (!pinned) return NULL;
    for (long i = 0; i < r.trips; i++) {
        while (atomic_load_explicit(&r.line->turn, memory_order_acquire) != 2 * i + 1) {
        }
        atomic_store_explicit(&r.line->turn, 2 * i + 2, memory_order_release);
    }
    return NULL;
}

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

int retort_allowed_cpus(int *cpus, int capacity) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 0;
    int count = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && count < capacity; cpu++)
        if (CPU_ISSET(cpu, &set)) cpus[count++] = cpu;
    return count;
}

double retort_core_latency_ns(int first, int second, long trips) {
    if (first == second || first < 0 || second < 0 || first >= CPU_SETSIZE || second >= CPU_SETSIZE || trips < 1)
        return -1;
    cpu_set_t saved;
    if (pthread_getaffinity_np(pthread_self(), sizeof saved, &saved) != 0) return -1;
    if (!pin_to(first)) return -1;
    // On the heap: on this thread's stack it measured about 10 ns more per crossing here.
    shared_line *line = aligned_alloc(_Alignof(shared_line), sizeof(shared_line));
    if (!line) {
        pthread_setaffinity_np(pthread_self(), sizeof saved, &saved);
        return -1;
    }
    atomic_store(&line->turn, -2);
    // A few hundred trips first, so both threads are running and the line is warm before timing.
    const long warm = 256;
    const responder r = {line, second, warm + trips};
    pthread_t thread;
    double result = -1;
    if (pthread_create(&thread, NULL, respond, (void *)&r) == 0) {
        long state;
        while ((state = atomic_load_explicit(&line->turn, memory_order_acquire)) == -2) {
        }
        if (state == 0) {
            double start = 0;
            for (long i = 0; i < warm + trips; i++) {
                if (i == warm) start = now_ns();
                atomic_store_explicit(&line->turn, 2 * i + 1, memory_order_release);
                while (atomic_load_explicit(&line->turn, memory_order_acquire) != 2 * i + 2) {
                }
            }
            // Two crossings a trip.
            result = (now_ns() - start) / (2.0 * (double)trips);
        }
        pthread_join(thread, NULL);
    }
    free(line);
    pthread_setaffinity_np(pthread_self(), sizeof saved, &saved);
    return result;
}
