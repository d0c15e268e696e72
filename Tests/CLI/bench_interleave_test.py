"""bench/interleave.py (bench/compare --interleave) with stand-in sides, and `retort bench --serve`:
the workloads go to both sides in turn (the first side first, then the second first, and so on),
a workload only one side has goes to that side alone, each side's rows land in its own file in
order, and a side that dies, answers for another workload or exits non-zero stops the run with a
message that names it. Then the real `retort bench --serve` behind it.

    python3 Tests/CLI/bench_interleave_test.py .build/debug/retort
"""

import json
import os
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
INTERLEAVE = ROOT / "bench" / "interleave.py"

# A stand-in side: serves NAMES, logs "SIDE NAME" to LOG for each request; with DIE_AT it exits
# with status 3 on that name, with LIE_AT it answers for another workload, with TEXT_AT it answers
# with a line of text, with SILENT it exits with status 2 before listing its names, and with
# UNSERVED it prints a row where the list belongs (as a side without --serve would).
STAND_IN = """
import json, os, sys
side, names = sys.argv[1], sys.argv[2].split(",")
if os.environ.get("SILENT"):
    sys.exit(2)
if os.environ.get("UNSERVED"):
    print(json.dumps({"workload": names[0]}), flush=True)
    sys.exit(0)
print(json.dumps(names), flush=True)
for line in sys.stdin:
    name = line.strip()
    with open(os.environ["LOG"], "a") as log:
        log.write(f"{side} {name}\\n")
    if name == os.environ.get("DIE_AT"):
        sys.exit(3)
    if name == os.environ.get("TEXT_AT"):
        print(f"{name} 123.4 samples/s", flush=True)
        continue
    answer = "someone-else" if name == os.environ.get("LIE_AT") else name
    print(json.dumps({"workload": answer, "side": side}), flush=True)
"""

failures = []


def check(condition, what):
    if not condition:
        failures.append(what)
        print(f"FAIL: {what}")


def interleave(folder, first_names, second_names, **env):
    script = folder / "side.py"
    script.write_text(STAND_IN)
    log = folder / "log"
    log.write_text("")
    first, second = folder / "first.json", folder / "second.json"
    result = subprocess.run(
        [sys.executable, str(INTERLEAVE), str(first), str(second),
         "--", sys.executable, str(script), "a", ",".join(first_names),
         "--", sys.executable, str(script), "b", ",".join(second_names)],
        capture_output=True, text=True, env={**os.environ, "LOG": str(log), **env}, timeout=60)
    rows = [[json.loads(line) for line in path.read_text().splitlines()] for path in (first, second)]
    return result, log.read_text().split("\n")[:-1], rows


def stand_in_tests(folder):
    result, log, (first, second) = interleave(folder, ["w1", "w2", "w3"], ["w1", "w2", "w3"])
    check(result.returncode == 0, f"three shared workloads: exit {result.returncode}, {result.stderr}")
    check(log == ["a w1", "b w1", "b w2", "a w2", "a w3", "b w3"], f"turns alternate who goes first: {log}")
    check([r["workload"] for r in first] == ["w1", "w2", "w3"] and {r["side"] for r in first} == {"a"},
          f"the first side's rows in its file, in order: {first}")
    check([r["workload"] for r in second] == ["w1", "w2", "w3"] and {r["side"] for r in second} == {"b"},
          f"the second side's rows in its file, in order: {second}")

    result, log, (first, second) = interleave(folder, ["w1", "w2"], ["w3", "w2"])
    check(result.returncode == 0, f"partly shared: exit {result.returncode}, {result.stderr}")
    check(log == ["a w1", "b w2", "a w2", "b w3"], f"a workload one side lacks goes to the other alone: {log}")

    result, log, _ = interleave(folder, ["w1", "w2"], ["w1", "w2"], DIE_AT="w2")
    check(result.returncode != 0 and "before its row for w2" in result.stderr and "exit status 3" in result.stderr,
          f"a side that dies stops the run, naming the workload: {result.returncode}, {result.stderr!r}")

    result, _, _ = interleave(folder, ["w1"], ["w1"], SILENT="1")
    check(result.returncode != 0 and "before listing its workloads" in result.stderr,
          f"a side that ends before listing its workloads stops the run: {result.returncode}, {result.stderr!r}")

    result, _, _ = interleave(folder, ["w1"], ["w1"], UNSERVED="1")
    check(result.returncode != 0 and "where the list of its workloads was expected" in result.stderr,
          f"a side that prints a row where its list belongs stops the run: {result.returncode}, {result.stderr!r}")

    result, _, _ = interleave(folder, ["w1"], ["w1"], TEXT_AT="w1")
    check(result.returncode != 0 and "where the JSON row for w1 was expected" in result.stderr,
          f"a row that is not JSON stops the run, naming the workload: {result.returncode}, {result.stderr!r}")

    result, _, _ = interleave(folder, ["w1"], ["w1"], LIE_AT="w1")
    check(result.returncode != 0 and "answered w1 with" in result.stderr,
          f"a row for another workload stops the run: {result.returncode}, {result.stderr!r}")


def retort_serve_tests(retort, folder):
    command = [retort, "bench", "--json", "--serve", "--threads", "1", "--seconds", "0.05", "--only", "mlp-64"]
    served = subprocess.run(command, input="mlp-64-32-10/b64\n", capture_output=True, text=True, timeout=120)
    lines = served.stdout.splitlines()
    check(served.returncode == 0 and len(lines) == 2, f"retort bench --serve: {served.returncode}, {served.stdout!r}")
    if len(lines) == 2:
        check(json.loads(lines[0]) == ["mlp-64-32-10/b64"], f"--serve first lists the selected workloads: {lines[0]}")
        row = json.loads(lines[1])
        check(row.get("workload") == "mlp-64-32-10/b64" and row.get("samples_per_s", 0) > 0,
              f"then the row of the workload asked for: {lines[1]}")
    blank = subprocess.run(command, input="\nmlp-64-32-10/b64\n\n", capture_output=True, text=True, timeout=120)
    check(blank.returncode == 0 and len(blank.stdout.splitlines()) == 2,
          f"--serve skips blank lines: {blank.returncode}, {blank.stdout!r}, {blank.stderr!r}")
    wrong = subprocess.run(command, input="gpt-names-4x64/b64\n", capture_output=True, text=True, timeout=120)
    check(wrong.returncode != 0 and "'gpt-names-4x64/b64' is not one of the selected workloads" in wrong.stderr,
          f"a workload not selected is an error that names it: {wrong.returncode}, {wrong.stderr!r}")

    # Behind bench/interleave.py, beside a stand-in second side.
    script = folder / "side.py"
    script.write_text(STAND_IN)
    first, second = folder / "first.json", folder / "second.json"
    result = subprocess.run(
        [sys.executable, str(INTERLEAVE), str(first), str(second), "--", *command,
         "--", sys.executable, str(script), "b", "mlp-64-32-10/b64"],
        capture_output=True, text=True, env={**os.environ, "LOG": str(folder / "log")}, timeout=120)
    check(result.returncode == 0, f"interleave with retort: exit {result.returncode}, {result.stderr}")
    rows = first.read_text().splitlines()
    check(len(rows) == 1 and json.loads(rows[0]).get("workload") == "mlp-64-32-10/b64",
          f"retort's row in its file: {rows}")


def main():
    with tempfile.TemporaryDirectory() as folder:
        stand_in_tests(pathlib.Path(folder))
        if len(sys.argv) > 1:
            retort_serve_tests(sys.argv[1], pathlib.Path(folder))
    if failures:
        sys.exit(f"{len(failures)} interleave check(s) failed")
    print("bench/interleave.py and retort bench --serve: all checks passed")


if __name__ == "__main__":
    main()
