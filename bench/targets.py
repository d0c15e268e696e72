"""Issue 22's targets counted over one set of bench/compare tables (bench/set writes them).

    python3 bench/targets.py FOLDER            the targets: cells met of cells, and each miss
    python3 bench/targets.py FOLDER --table    the README's speed table: each cell the three
                                               rounds' ratios cut to two places, ‡ where the
                                               host moved the CPUs during the row

After the counts, each miss of the two targets that depend on the core's cache and on the host
gets the bound its round's own figures give:
- sgemm inside training at 95% of the same calls alone: the same calls replayed with their
  operands out of the core's cache (as a step whose data outgrows that cache leaves them) reach
  out/warm of the warm replay; below 95% the target is out of reach in that round.
- a ratio target at two threads (or two threads at 1.6x one) where other processes or the host took
  half a core or more during Retort's run (bench/side_by_side.py's "others took cores"), on the
  two-CPU machines the sets run on: Retort had 2 less those cores, so its one-thread rate in the
  same round times the cores left, over the reference's rate, bounds the ratio (two threads at most
  as fast as their cores), and the cores left bound the speed-up over one thread.
- two threads at 1.6x one thread: with the step's GEMM at the best rate its calls reached at two
  threads in the round (inside training, alone, alone out of cache) against the rate inside
  training at one thread, and the rest of the step twice as fast, the step can reach at most
  1 / (share / gain + (1 - share) / 2), share being the GEMM's part of the one-thread step.

FOLDER holds t1-r1.txt ... t1-r3.txt (one thread) and t2-r1.txt ... t2-r3.txt (two threads), each
one bench/compare output. A two-thread cell pairs round N with the one-thread round N.
"""
import math
import os
import re
import sys

ROW = re.compile(r"(\S+)\s+(samples/s|GFLOPS|tokens/s)\s+([\d,.]+)\s+([\d,.]+|nan)\s+([\d.]+|nan)x\s*(.*)$")
MLPS = ["mlp-784-512-512-10/b32", "mlp-784-512-512-10/b128", "mlp-784-512-512-10/b512"]
SCALING = ["mlp-784-512-512-10/b128", "mlp-784-512-512-10/b512", "cnn-cifar-32x32/b128", "distill-784/b128"]
# From how many cores taken by others during Retort's two-thread run a miss is bounded by one thread's rate.
OTHERS_BOUND = 0.5
# Training workloads by name prefix: the least ratio over PyTorch each must reach.
RATIOS = [("mlp-64-32-10", "mlp-64 >= 5x", 5.0), ("cnn-28x28", "cnn-28x28 >= 1.5x", 1.5),
          ("distill-784", "distill >= 1.5x", 1.5), ("gpt-names", "gpt training >= 1.5x", 1.5),
          ("cnn-cifar", "cnn-cifar >= 1.2x", 1.2)]


def rows(path):
    """Each workload's row of one bench/compare table."""
    out = {}
    for line in open(path, encoding="utf-8"):
        m = ROW.match(line)
        if not m:
            continue
        name, _, retort, theirs, ratio, rest = m.groups()
        row = {"retort": float(retort.replace(",", "")), "pytorch": float(theirs.replace(",", "")),
               "ratio": float(ratio), "moved": "(moved)" in rest}
        if busy := re.search(r"others took cores: (.*) run", rest):
            row["others"] = {side: float(cores) for cores, side in re.findall(r"([\d.]+) in (\w+)'s", busy.group(1))}
        if inside := re.search(r"GFLOPS \(([\d.]+)%\)", rest):
            row["inside"] = float(inside.group(1))
        if gemm := re.search(r"([\d.]+) vs ([\d.]+) GFLOPS \([\d.]+%\), (\d+)% of step time", rest):
            row["gemm"] = float(gemm.group(1))
            row["warm"] = float(gemm.group(2))
            row["share"] = float(gemm.group(3)) / 100
        if cold := re.search(r"vs ([\d.]+) out of cache", rest):
            row["cold"] = float(cold.group(1))
        if ort := re.search(r"onnxruntime ([\d,.]+) samples/s \(([\d.]+)x\)", rest):
            row["ort_rate"] = float(ort.group(1).replace(",", ""))
            row["ort"] = float(ort.group(2))
        out[name] = row
    return out


def load(folder):
    return {t: [rows(os.path.join(folder, f"t{t}-r{r}.txt")) for r in (1, 2, 3)] for t in (1, 2)}


def checks(sets):
    """(target, met, where) for every cell of the set."""
    found = []
    for t in (1, 2):
        for r, table in enumerate(sets[t], 1):
            for name, row in table.items():
                where = f"{t} thread{'s' if t > 1 else ''} round {r} {name}" + (" (moved)" if row["moved"] else "")
                for prefix, label, least in RATIOS:
                    if name.startswith(prefix):
                        found.append((label, row["ratio"] >= least, f"{where} {row['ratio']}x"))
                if name in MLPS:
                    found.append(("784-512-512-10 MLPs >= 1.0x", row["ratio"] >= 1.0, f"{where} {row['ratio']}x"))
                    if "inside" in row:
                        found.append(("sgemm inside training >= 95%", row["inside"] >= 95, f"{where} {row['inside']}%"))
                if name.startswith("sgemm/"):
                    found.append(("every sgemm row >= 1.0x", row["ratio"] >= 1.0, f"{where} {row['ratio']}x"))
                if name.startswith("infer-") and name.endswith("/int8"):
                    found.append(("int8 >= PyTorch's int8", row["ratio"] >= 1.0, f"{where} {row['ratio']}x"))
                    if f32 := table.get(name[: -len("int8")] + "f32"):
                        own = row["retort"] / f32["retort"]
                        found.append(("int8 >= Retort's own float", own >= 1.0, f"{where} {own:.3f}x"))
                if "ort" in row:
                    found.append(("within 1.25x of onnxruntime's latency", row["ort"] >= 0.8, f"{where} {row['ort']}x"))
    for r in range(3):
        for name in SCALING:
            one, two = sets[1][r].get(name), sets[2][r].get(name)
            if one and two:
                k = two["retort"] / one["retort"]
                found.append(("two threads >= 1.6x one thread", k >= 1.6,
                              f"round {r + 1} {name} {k:.3f}x" + (" (moved)" if two["moved"] else "")))
    return found


def cut(x):
    """x cut, not rounded, to one place: 94.96 is 94.9, not 95.0."""
    return f"{math.floor(x * 10) / 10:.1f}"


def bounds(sets):
    """One line per miss of sgemm-inside or two-thread scaling: the bound its round's figures give."""
    lines = []
    for t in (1, 2):
        for r, table in enumerate(sets[t], 1):
            for name in MLPS:
                row = table.get(name)
                if not row or row.get("inside", 100) >= 95:
                    continue
                where = f"{t} thread{'s' if t > 1 else ''} round {r} {name} {row['inside']}%"
                if "cold" not in row or "warm" not in row:
                    lines.append(f"{where}: no out-of-cache replay in the table, no bound")
                    continue
                reach = 100 * row["cold"] / row["warm"]
                verdict = "95% out of reach in this round" if reach < 95 else "not bounded below 95%"
                lines.append(f"{where}: inside training at {cut(100 * row['gemm'] / row['cold'])}% of the same calls out "
                             f"of the core's cache, which ran at {cut(reach)}% of the warm replay: {verdict}")
    for r in range(3):
        for name in SCALING:
            one, two = sets[1][r].get(name), sets[2][r].get(name)
            if not one or not two or two["retort"] / one["retort"] >= 1.6:
                continue
            where = f"round {r + 1} {name} {two['retort'] / one['retort']:.3f}x"
            if "gemm" not in one or "gemm" not in two:
                lines.append(f"{where}: no GEMM figures in the table, no bound")
                continue
            best = max(two["gemm"], two["warm"], two.get("cold", 0))
            gain = best / one["gemm"]
            most = 1 / (one["share"] / gain + (1 - one["share"]) / 2)
            verdict = "1.6x out of reach in this round" if most < 1.6 else "not bounded below 1.6x"
            lines.append(f"{where}: its GEMM reached at most {best:.1f} GFLOPS at two threads against {one['gemm']:.1f} "
                         f"inside training at one thread ({gain:.2f}x), {100 * one['share']:.0f}% of the one-thread step: "
                         f"at most {most:.3f}x with the rest twice as fast: {verdict}")
    lines += busy_bounds(sets)
    return ["bounds from each miss's own round:"] + ["  " + line for line in lines] if lines else []


def busy_bounds(sets):
    """One line per two-thread miss of a ratio target in a row where other processes (or the host) took at
    least half a core during Retort's run, on a machine of two CPUs: Retort had the cores left, so its
    one-thread rate in the same round times those bounds its rate, and those bound its speed-up."""
    lines = []
    for r, table in enumerate(sets[2], 1):
        for name, row in table.items():
            others = row.get("others", {}).get("retort", 0)
            if others < OTHERS_BOUND:
                continue
            one = sets[1][r - 1].get(name)
            for label, least, theirs, ratio in ratio_targets(name, row):
                if ratio >= least:
                    continue
                where = f"2 threads round {r} {name} {ratio}x ({label})"
                if not one:
                    lines.append(f"{where}: others took {others:.2f} cores during Retort's run; no one-thread row, no bound")
                    continue
                left = 2 - others
                most = one["retort"] * left / theirs
                verdict = f"{least}x out of reach in this round" if most < least else f"not bounded below {least}x"
                lines.append(f"{where}: others took {others:.2f} cores during Retort's run, leaving it {left:.2f}; on one "
                             f"thread Retort ran {one['retort']:,.1f} in round {r}, so at most {one['retort'] * left:,.1f} "
                             f"against {theirs:,.1f} here: at most {most:.3f}x: {verdict}")
        for name in SCALING:
            one, two = sets[1][r - 1].get(name), table.get(name)
            if not one or not two or two["retort"] / one["retort"] >= 1.6:
                continue
            others = two.get("others", {}).get("retort", 0)
            if others >= OTHERS_BOUND:
                most = 2 - others
                verdict = "1.6x out of reach in this round" if most < 1.6 else "not bounded below 1.6x"
                lines.append(f"round {r} {name} {two['retort'] / one['retort']:.3f}x: others took {others:.2f} cores "
                             f"during the two-thread run, leaving {most:.2f}: at most {most:.2f}x: {verdict}")
    return lines


def ratio_targets(name, row):
    """(target, least, the reference's rate, Retort's ratio) for each target against a reference the row has."""
    found = [(label, least, row["pytorch"], row["ratio"]) for prefix, label, least in RATIOS if name.startswith(prefix)]
    if name in MLPS or name.startswith("sgemm/") or (name.startswith("infer-") and name.endswith("/int8")):
        found.append(("against PyTorch", 1.0, row["pytorch"], row["ratio"]))
    if "ort" in row:
        found.append(("against onnxruntime", 0.8, row["ort_rate"], row["ort"]))
    return found


def summary(found):
    counts = {}
    for label, met, where in found:
        entry = counts.setdefault(label, [0, 0, []])
        entry[1] += 1
        if met:
            entry[0] += 1
        else:
            entry[2].append(where)
    return [f"{label}: {met} of {total}" + (f"; misses: {'; '.join(misses)}" if misses else "")
            for label, (met, total, misses) in counts.items()]


def table(sets):
    def cell(t, name):
        return ", ".join(f"{math.floor(rs[name]['ratio'] * 100) / 100:.2f}×" + ("‡" if rs[name]["moved"] else "")
                         for rs in sets[t])
    lines = ["| workload | 1 thread | 2 threads |", "|---|---|---|"]
    return lines + [f"| {name} | {cell(1, name)} | {cell(2, name)} |" for name in sets[1][0]]


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3) or sys.argv[1] in ("-h", "--help"):
        sys.exit(__doc__)
    loaded = load(sys.argv[1])
    print("\n".join(table(loaded) if sys.argv[2:] == ["--table"] else summary(checks(loaded)) + bounds(loaded)))
