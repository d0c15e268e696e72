"""How far apart the first two CPUs are now, as `retort info --core-latency` measures it (nanoseconds a
cache line takes to cross), for the reference scripts' rows: a virtual machine's host can move its vCPUs
apart while a run goes on, and two-thread workloads slow down then (docs/performance.md)."""

import subprocess


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


def around(args, threads, run):
    """Calls run() between two measurements when asked and threads > 1; returns (run's result, extra row fields)."""
    wanted = args.core_latency and (threads or 0) > 1
    before = core_ns(args.core_latency) if wanted else None
    result = run()
    after = core_ns(args.core_latency) if wanted else None
    extra = {}
    if before is not None:
        extra["core_ns"] = before
    if after is not None:
        extra["core_ns_after"] = after
    return result, extra
