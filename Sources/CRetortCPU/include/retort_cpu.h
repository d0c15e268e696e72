#ifndef RETORT_CPU_H
#define RETORT_CPU_H

/// The CPUs this process may run on, lowest first, at most `capacity` of them into `cpus`; returns
/// how many (0 when Linux does not say).
int retort_allowed_cpus(int *cpus, int capacity);
/// Nanoseconds a cache line takes to cross between CPUs `first` and `second`: the calling thread,
/// pinned to `first`, and a thread of its own on `second` hand a counter back and forth `trips`
/// times (after 256 untimed ones); half a trip's mean time. The calling thread's CPUs are restored
/// before it returns. -1 when the CPUs are the same or either cannot be used.
double retort_core_latency_ns(int first, int second, long trips);
#endif
