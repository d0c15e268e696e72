"""bench/targets.py, which counts issue 22's targets over one set: six tables made by
bench/side_by_side.py itself from made-up rows (so the format is the one bench/compare prints),
with one miss planted for each kind of target: sgemm inside training at 94.96% of alone in one
round, an sgemm row at 0.999x, another while others took a core during Retort's two-thread run
(bounded by its one-thread rate), distill at two threads 1.55x its one-thread rate in one round; the
two misses that depend on the cache and the host each with the figures that bound them (the same
calls out of cache at 93.6% of warm; distill's GEMM 1.55x faster at two threads for 93% of its
step), which targets.py must compute.

    python3 Tests/CLI/bench_targets_test.py
"""

import json
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]


def rounds(threads, round_):
    """Retort's and PyTorch's rows for one round."""
    distill = 60_000.0 * (1.55 if threads == 2 and round_ == 2 else 1.7 if threads == 2 else 1.0)
    alone = 110.0
    inside = alone * (0.9496 if (threads, round_) == (1, 3) else 0.97)
    cold = 103.0 if (threads, round_) == (1, 3) else alone
    distill_gemm = 100.0 if threads == 1 else 150.0 if round_ == 2 else 190.0
    retort = [
        {"workload": "mlp-784-512-512-10/b128", "samples_per_s": 30_000.0 * threads, "gemm_gflops": inside,
         "gemm_alone_gflops": alone, "gemm_alone_out_of_cache_gflops": cold, "gemm_share": 0.9},
        {"workload": "distill-784/b128", "samples_per_s": distill, "gemm_gflops": distill_gemm,
         "gemm_alone_gflops": distill_gemm + 5, "gemm_alone_out_of_cache_gflops": distill_gemm + 2, "gemm_share": 0.93},
        {"workload": "sgemm/1024x1024x1024", "samples_per_s": 99.9 if (threads, round_) == (2, 1) else 110.0,
         "unit": "GFLOPS"},
        # At two threads in round 3 others took a core during Retort's run: 0.999x, bounded by one thread.
        {"workload": "sgemm/512x512x512", "samples_per_s": 110.0 * threads - (0.2 if (threads, round_) == (2, 3) else 0),
         "unit": "GFLOPS", "cores_others": 0.96 if (threads, round_) == (2, 3) else 0.0},
    ]
    torch = [
        {"workload": "mlp-784-512-512-10/b128", "samples_per_s": 20_000.0 * threads},
        {"workload": "distill-784/b128", "samples_per_s": 35_000.0},
        {"workload": "sgemm/1024x1024x1024", "samples_per_s": 100.0, "unit": "GFLOPS"},
        {"workload": "sgemm/512x512x512", "samples_per_s": 100.0 * threads + (20 if threads == 2 else 0), "unit": "GFLOPS"},
    ]
    return retort, torch


def main():
    with tempfile.TemporaryDirectory() as folder:
        folder = pathlib.Path(folder)
        for threads in (1, 2):
            for round_ in (1, 2, 3):
                paths = []
                for name, rows in zip(("retort", "torch"), rounds(threads, round_)):
                    path = folder / f"{name}.json"
                    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
                    paths.append(str(path))
                table = subprocess.run([sys.executable, str(ROOT / "bench" / "side_by_side.py"), *paths],
                                       capture_output=True, text=True, check=True, timeout=60).stdout
                (folder / f"t{threads}-r{round_}.txt").write_text(table)
        counted = subprocess.run([sys.executable, str(ROOT / "bench" / "targets.py"), str(folder)],
                                 capture_output=True, text=True, check=True, timeout=60).stdout
        table = subprocess.run([sys.executable, str(ROOT / "bench" / "targets.py"), str(folder), "--table"],
                               capture_output=True, text=True, check=True, timeout=60).stdout
    wanted = [
        "784-512-512-10 MLPs >= 1.0x: 6 of 6",
        "sgemm inside training >= 95%: 5 of 6; misses: 1 thread round 3 mlp-784-512-512-10/b128 94.9%",
        "distill >= 1.5x: 6 of 6",
        "every sgemm row >= 1.0x: 10 of 12; misses: 2 threads round 1 sgemm/1024x1024x1024 0.999x; "
        "2 threads round 3 sgemm/512x512x512 0.999x",
        "two threads >= 1.6x one thread: 5 of 6; misses: round 2 distill-784/b128 1.550x",
        "bounds from each miss's own round:",
        "  1 thread round 3 mlp-784-512-512-10/b128 94.9%: inside training at 101.4% of the same calls out of the "
        "core's cache, which ran at 93.6% of the warm replay: 95% out of reach in this round",
        # 1 / (0.93 / 1.55 + 0.07 / 2) = 1.5748
        "  round 2 distill-784/b128 1.550x: its GEMM reached at most 155.0 GFLOPS at two threads against 100.0 inside "
        "training at one thread (1.55x), 93% of the one-thread step: at most 1.575x with the rest twice as fast: "
        "1.6x out of reach in this round",
        # 110 at one thread times the 1.04 cores left, against PyTorch's 220 at two: 0.52.
        "  2 threads round 3 sgemm/512x512x512 0.999x (against PyTorch): others took 0.96 cores during Retort's run, "
        "leaving it 1.04; on one thread Retort ran 110.0 in round 3, so at most 114.4 against 220.0 here: "
        "at most 0.520x: 1.0x out of reach in this round",
    ]
    failed = [line for line in wanted if line not in counted.splitlines()]
    if "| distill-784/b128 | 1.71×, 1.71×, 1.71× | 2.91×, 2.65×, 2.91× |" not in table:
        failed.append(f"the --table row for distill, in:\n{table}")
    for line in failed:
        print(f"FAIL missing: {line}")
    print(f"{len(wanted) + 1 - len(failed)} passed, {len(failed)} failed")
    if failed:
        print(counted)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
