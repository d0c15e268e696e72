"""bench/interleave.py (bench/compare --interleave) with stand-in sides, and `retort bench --serve`:
the workloads go to both sides in turn (the first side first, then the second first, and so on),
a workload only one side has goes to that side alone, each side's rows land in its own file in
order, and a side that dies, answers for another workload or exits non-zero stops the run with a
message that names it; with three sides the order rotates by one each workload. Then the real
`retort bench --serve` behind it, and, when this Python has onnxruntime (scripts/test runs it with
the test venv's), bench/onnxruntime_reference.py --serve as a third side on the models retort wrote.

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


def row(line):
    """A side's row as written to its file (text that is not JSON kept as it is, for the message)."""
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        return line


def interleave(folder, *names_per_side, **env):
    """Runs interleave.py over stand-in sides a, b, ... serving the names given for each."""
    script = folder / "side.py"
    script.write_text(STAND_IN)
    log = folder / "log"
    log.write_text("")
    sides = "abcdefgh"[:len(names_per_side)]
    outs = [folder / f"{side}.json" for side in sides]
    commands = []
    for side, names in zip(sides, names_per_side):
        commands += ["--", sys.executable, str(script), side, ",".join(names)]
    result = subprocess.run([sys.executable, str(INTERLEAVE), *map(str, outs), *commands],
                            capture_output=True, text=True, env={**os.environ, "LOG": str(log), **env}, timeout=60)
    rows = [[row(line) for line in path.read_text().splitlines()] if path.exists() else [] for path in outs]
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

    every = ["w1", "w2", "w3", "w4"]
    result, log, rows = interleave(folder, every, every, ["w2", "w3"])
    check(result.returncode == 0, f"three sides: exit {result.returncode}, {result.stderr}")
    check(log == ["a w1", "b w1", "b w2", "c w2", "a w2", "c w3", "a w3", "b w3", "a w4", "b w4"],
          f"with three sides the order rotates by one each workload, a side without the workload left out: {log}")
    check([[r["workload"] for r in side] for side in rows] == [every, every, ["w2", "w3"]],
          f"each of three sides' rows in its own file, in order: {rows}")

    for argv in (["a.json", "--", "x"], ["a.json", "b.json", "--", "x", "--", "y", "--", "z"],
                 ["a.json", "b.json", "--", "x", "--"]):
        usage = subprocess.run([sys.executable, str(INTERLEAVE), *argv], capture_output=True, text=True, timeout=60)
        check(usage.returncode != 0 and "interleave.py FIRST.json SECOND.json" in usage.stderr,
              f"one output file per command, at least two, none empty, or the usage: {argv}, {usage.stderr!r}")

    result, log, _ = interleave(folder, ["w1", "w2"], ["w1", "w2"], DIE_AT="w2")
    check(result.returncode != 0 and "before its row for w2" in result.stderr and "exit status 3" in result.stderr,
          f"a side that dies stops the run, naming the workload: {result.returncode}, {result.stderr!r}")

    # A side that misbehaves at once stops the run with what it did: (its switch, the words, what it did).
    for env, words, what in [
        ({"SILENT": "1"}, "before listing its workloads", "ends before listing its workloads"),
        ({"UNSERVED": "1"}, "where the list of its workloads was expected", "prints a row where its list belongs"),
        ({"TEXT_AT": "w1"}, "where the JSON row for w1 was expected", "answers with a row that is not JSON"),
        ({"LIE_AT": "w1"}, "answered w1 with", "answers with a row for another workload"),
    ]:
        result, _, _ = interleave(folder, ["w1"], ["w1"], **env)
        check(result.returncode != 0 and words in result.stderr,
              f"a side that {what} stops the run: {result.returncode}, {result.stderr!r}")


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


def onnxruntime_serve_tests(retort, folder):
    """onnxruntime's reference as a third side, on the models retort writes before it lists."""
    models = folder / "models"
    names = ["infer-mlp-784-512-512-10/b1/f32", "infer-mlp-784-512-512-10/b1/int8"]
    retort_side = [retort, "bench", "--json", "--serve", "--threads", "1", "--seconds", "0.05",
                   "--onnx", str(models), "--only", "infer-mlp-784-512-512-10/b1/", "--only", "mlp-64"]
    ort_side = [sys.executable, str(ROOT / "bench" / "onnxruntime_reference.py"), str(models), "--json", "--serve",
                "--threads", "1", "--seconds", "0.05", "--only", "infer-mlp-784-512-512-10/b1/", "--only", "mlp-64"]
    script = folder / "side.py"
    script.write_text(STAND_IN)
    outs = [folder / "retort.json", folder / "stand-in.json", folder / "ort.json"]
    result = subprocess.run(
        [sys.executable, str(INTERLEAVE), *map(str, outs), "--", *retort_side,
         "--", sys.executable, str(script), "b", "mlp-64-32-10/b64", "--", *ort_side],
        capture_output=True, text=True, env={**os.environ, "LOG": str(folder / "log")}, timeout=300)
    check(result.returncode == 0, f"interleave with retort and onnxruntime: exit {result.returncode}, {result.stderr}")
    if result.returncode != 0:
        return
    ort_rows = [json.loads(line) for line in outs[2].read_text().splitlines()]
    check([r["workload"] for r in ort_rows] == names and all(r["samples_per_s"] > 0 for r in ort_rows),
          f"onnxruntime's side ran the two models retort wrote, in order: {ort_rows}")
    retort_rows = [json.loads(line)["workload"] for line in outs[0].read_text().splitlines()]
    check(retort_rows == ["mlp-64-32-10/b64", *names], f"retort's rows: {retort_rows}")

    # bench/compare --interleave --only gpt: retort writes no model, onnxruntime's side serves none.
    (folder / "no-models").mkdir()
    for argv in ([*ort_side[:2], str(folder / "no-models"), *ort_side[3:]], [*ort_side[:-4], "--only", "no-such"]):
        empty = subprocess.run(argv, input="", capture_output=True, text=True, timeout=120)
        check(empty.returncode == 0 and empty.stdout.strip() == "[]",
              f"onnxruntime --serve with no model selected lists none: {empty.returncode}, {empty.stdout!r}, "
              f"{empty.stderr!r}")
    # Run directly (not serving), a selection that matches none of the models is an error, as in
    # PyTorch's reference, rather than a run that prints nothing.
    direct = [arg for arg in ort_side if arg != "--serve"][:-4] + ["--only", "no-such"]
    none = subprocess.run(direct, capture_output=True, text=True, timeout=120)
    check(none.returncode != 0 and "no model in" in none.stderr and "matches --only (no-such)" in none.stderr
          and names[0] in none.stderr, f"onnxruntime run directly, --only matching none: {none.returncode}, "
          f"{none.stdout!r}, {none.stderr!r}")
    wrong = subprocess.run(ort_side, input="infer-cnn-28x28/b64/f32\n", capture_output=True, text=True, timeout=120)
    check(wrong.returncode != 0 and "'infer-cnn-28x28/b64/f32' is not one of the selected workloads" in wrong.stderr,
          f"onnxruntime --serve refuses a model not selected, naming it: {wrong.returncode}, {wrong.stderr!r}")


def main():
    with tempfile.TemporaryDirectory() as folder:
        stand_in_tests(pathlib.Path(folder))
        if len(sys.argv) > 1:
            retort_serve_tests(sys.argv[1], pathlib.Path(folder))
            try:
                import onnxruntime  # noqa: F401
            except ImportError:
                print("onnxruntime's side not checked: this Python has no onnxruntime (scripts/test uses the venv's)")
            else:
                onnxruntime_serve_tests(sys.argv[1], pathlib.Path(folder))
    if failures:
        sys.exit(f"{len(failures)} interleave check(s) failed")
    print("bench/interleave.py and retort bench --serve: all checks passed")


if __name__ == "__main__":
    main()
