"""Print Retort's and PyTorch's benchmark JSON lines as one table with their ratio and peak memory
(each process's peak resident MB while the workload ran, its runtime's baseline included), and, with
more than one thread, how far apart the first two CPUs were before and after each side's run, and the cores
other processes (and the host) took during a side's run, from a quarter of one."""

import json
import math
import sys

from core_latency import SHARED_CACHE_BOUND_NS


# From how many cores the rest of the machine took during a side's run the table says so (as `retort bench`).
OTHERS_SHOWN = 0.25


def rows(path):
    """The workloads' JSON lines in `path` by name; a line that is not one ends the run with its place."""
    found = {}
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                found[row["workload"]] = row
            except (ValueError, KeyError, TypeError):
                sys.exit(f"side_by_side.py: {path} line {number} is not a workload's JSON row: {line.strip()[:80]}")
    return found


def cut(value, places):
    """`value` to `places` decimals, cut rather than rounded, so a figure just under a target (94.96%
    of alone, 1.4997x) never prints as reaching it (95.0%, 1.500x)."""
    if math.isnan(value):
        return f"{value}"
    scale = 10 ** places
    return f"{math.floor(value * scale + 1e-9) / scale:.{places}f}"


def rate(row):
    return row.get("samples_per_s") or row.get("gflops") or 0.0


def apart(row):
    """The row's core_ns before and after ("45-46"), or None when it has none."""
    if not row or "core_ns" not in row:
        return None
    waited = f" (waited {row['waited_s']:.1f} s)" if row.get("waited_s") else ""
    return f"{row['core_ns']:.0f}-{row.get('core_ns_after', row['core_ns']):.0f}{waited}"


def placements(*rows):
    """The set of placements (True: a shared cache) the rows' measurements saw."""
    return {ns < SHARED_CACHE_BOUND_NS for r in rows if r for key in ("core_ns", "core_ns_after")
            if (ns := r.get(key)) is not None}


def main(retort_path, torch_path, ort_path=None):
    retort, torch = rows(retort_path), rows(torch_path)
    ort = rows(ort_path) if ort_path else {}
    print(f"{'workload':<36} {'unit':<10} {'retort':>12} {'pytorch':>12} {'ratio':>8}   {'peak MB':>15}   "
          "retort sgemm in training vs the same calls alone (and alone with their operands out of the core's cache); "
          "onnxruntime on the same model; "
          "with 2+ threads, how far apart the first two CPUs were before-after each side's run")
    moved = False
    for name, r in retort.items():
        t = torch.get(name)
        unit = r.get("unit", "samples/s") if "samples_per_s" in r else "GFLOPS"
        theirs = rate(t) if t else float("nan")
        ratio = rate(r) / theirs if t and theirs else float("nan")
        inside = ""
        if "gemm_gflops" in r:
            alone = r["gemm_alone_gflops"]
            inside = (f"{r['gemm_gflops']:.1f} vs {alone:.1f} GFLOPS ({cut(100 * r['gemm_gflops'] / alone, 1)}%), "
                      f"{100 * r['gemm_share']:.0f}% of step time")
            # The same calls with their operands out of the core's cache, as training leaves them.
            if cold := r.get("gemm_alone_out_of_cache_gflops"):
                inside += f"; vs {cold:.1f} out of cache ({cut(100 * r['gemm_gflops'] / cold, 1)}%)"
        memory = ""
        if "peak_rss_mb" in r and t and "peak_rss_mb" in t:
            memory = f"{r['peak_rss_mb']:.0f} vs {t['peak_rss_mb']:.0f}"
        if name in ort:
            # onnxruntime on the same exported model: Retort's rate against it.
            inside = f"onnxruntime {rate(ort[name]):,.1f} samples/s ({cut(rate(r) / rate(ort[name]), 3)}x)"
        cores = ""
        if apart(r):
            others = [(label, row) for label, row in (("pytorch", t), ("onnxruntime", ort.get(name))) if row]
            cores = f"   CPUs ns apart: retort {apart(r)}" + "".join(
                f", {label} {apart(row) or '?'}" for label, row in others)
            if len(placements(r, *(row for _, row in others))) > 1:
                cores += " (moved)"
                moved = True
        # Other processes, or the host, took cores while a side ran: that side's figure is the machine's too.
        busy = [f"{row['cores_others']:.2f} in {label}'s" for label, row in
                (("retort", r), ("pytorch", t), ("onnxruntime", ort.get(name)))
                if row and row.get("cores_others", 0) >= OTHERS_SHOWN]
        if busy:
            cores += f"   others took cores: {', '.join(busy)} run"
        if r.get("threads_running", r.get("threads")) != r.get("threads"):
            # Other processes kept cores busy: Retort ran on the cores they left (Contention).
            cores += f"   retort on {r['threads_running']} of {r['threads']} threads (cores busy)"
        print(f"{name:<36} {unit:<10} {rate(r):>12,.1f} {theirs:>12,.1f} {cut(ratio, 3):>7}x   {memory:>15}   "
              f"{inside}{cores}")
    if moved:
        print(f"(moved): the two CPUs were {SHARED_CACHE_BOUND_NS:.0f} ns or more apart in some measurements of "
              "that row and closer in others: the host moved the vCPUs, so the sides did not run on the same machine.")


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4) or sys.argv[1] in ("-h", "--help"):
        sys.exit("usage: python3 bench/side_by_side.py RETORT.json TORCH.json [ONNXRUNTIME.json]\n"
                 "(bench/compare runs both sides and calls this with their JSON lines)")
    main(*sys.argv[1:4])
