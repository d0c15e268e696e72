"""The cores a process kept busy while a workload ran, and those the rest of the machine took meanwhile
(other processes, and time a virtual machine's host stole), as `retort bench` records them (cores_own,
cores_others): a row slowed by another tenant says so, on every side."""

import os
import time


def _machine():
    """(busy, stolen) seconds of every CPU since boot, from /proc/stat's first line, or None."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if len(fields) < 9 or fields[0] != "cpu":
        return None
    ticks = [float(x) for x in fields[1:9]]
    hz = os.sysconf("SC_CLK_TCK")
    # user, nice, system, irq, softirq are busy; idle and I/O wait are not; steal is the host's.
    return (ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6]) / hz, ticks[7] / hz


def reading():
    """Now's wall clock, machine busy and stolen seconds, and this process's CPU seconds; None without /proc."""
    machine = _machine()
    if machine is None:
        return None
    times = os.times()
    return time.perf_counter(), machine[0], machine[1], times.user + times.system


def cores(start):
    """{"cores_own": ..., "cores_others": ...} on average since `start` (a reading), or {} without one."""
    now = reading()
    if start is None or now is None or now[0] <= start[0]:
        return {}
    seconds = now[0] - start[0]
    own = now[3] - start[3]
    others = max(0.0, (now[1] - start[1]) + (now[2] - start[2]) - own)
    return {"cores_own": round(own / seconds, 2), "cores_others": round(others / seconds, 2)}
