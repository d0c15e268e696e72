"""How far apart the first two CPUs are now, as `retort info --core-latency` measures it (nanoseconds a
cache line takes to cross), for the reference scripts' rows: a virtual machine's host can move its vCPUs
apart while a run goes on, and two-thread workloads slow down then (docs/performance.md)."""

import subprocess
import time

import cpu_time

# Under this the two CPUs likely share a cache (CoreDistance.sharedCacheBound in CPU.swift).
SHARED_CACHE_BOUND_NS = 100.0


def core_ns(retort):
    """The crossing time in ns, or None without a retort binary, with one CPU, or if the probe fails."""
    if not retort:
        return None
    try:
        out = subprocess.run([retort, "info", "--core-latency"], capture_output=True, text=True, timeout=30)
        return round(float(out.stdout.strip()), 1) if out.returncode == 0 and out.stdout.strip() else None
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None


def add_argument(parser):
    parser.add_argument("--core-latency", metavar="RETORT", default=None,
                        help="record how far apart the first two CPUs are before and after each workload "
                             "(core_ns, core_ns_after), measured by this retort binary; with more than one thread")
    parser.add_argument("--wait-together", metavar="SECONDS", type=float, default=0.0,
                        help="with --core-latency and more than one thread, wait up to SECONDS before each "
                             "workload for the two CPUs to share a cache, as `retort bench --wait-together` does "
                             "(waited_s in the row)")


def check_arguments(parser, args):
    """Refuses a --wait-together that could not wait: negative, or without --core-latency to measure with."""
    if args.wait_together < 0:
        parser.error(f"--wait-together must be a number of seconds >= 0, not {args.wait_together:g}")
    if args.wait_together > 0 and not args.core_latency:
        parser.error("--wait-together needs --core-latency RETORT, the retort binary that measures the CPUs")


def wait_for_shared_cache(retort, seconds):
    """Measures until the CPUs are under the bound or `seconds` have gone by; returns (last ns, seconds waited)."""
    start = time.perf_counter()
    ns = core_ns(retort)
    waited = 0.0
    while ns is not None and ns >= SHARED_CACHE_BOUND_NS and waited < seconds:
        time.sleep(0.05)
        ns = core_ns(retort)
        waited = time.perf_counter() - start
    return ns, waited


def around(args, threads, run):
    """Calls run() between two measurements when asked and threads > 1; returns (run's result, extra row
    fields): those, and the cores this process and the rest of the machine kept busy during run() (cpu_time)."""
    wanted = args.core_latency and (threads or 0) > 1
    before, waited = wait_for_shared_cache(args.core_latency, args.wait_together) if wanted else (None, 0.0)
    start = cpu_time.reading()
    result = run()
    extra = cpu_time.cores(start)
    after = core_ns(args.core_latency) if wanted else None
    if before is not None:
        extra["core_ns"] = before
    if after is not None:
        extra["core_ns_after"] = after
    if waited > 0:
        extra["waited_s"] = round(waited, 2)
    return result, extra
