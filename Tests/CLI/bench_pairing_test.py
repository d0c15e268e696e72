"""bench/same_placement.py keeps a row's measurements only when every side saw the CPUs placed alike.

The sides are stand-ins (this file, run as retort, PyTorch's or onnxruntime's script) that print the
rows a plan gives them, call by call, so each case knows which placements each try sees.

    python3 Tests/CLI/bench_pairing_test.py
"""

import json
import os
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLOSE, APART = (40.0, 41.0), (165.0, 170.0)


def row(name, rate, placement, side):
    before, after = placement
    return {"workload": name, "samples_per_s": rate, "core_ns": before, "core_ns_after": after, "side": side}


def stand_in(side, folder, argv):
    """Prints the next planned output for `side` (a list of rows per call), counts the call and keeps
    the arguments it was given."""
    plan = json.loads((folder / "plan.json").read_text())
    plan.setdefault("argv", {}).setdefault(side, []).append(argv)
    calls = plan.setdefault("calls", {}).setdefault(side, 0)
    outputs = plan[side]
    if calls >= len(outputs):
        sys.exit(f"{side} called {calls + 1} times; the plan has {len(outputs)}")
    for line in outputs[calls]:
        print(json.dumps(line))
    plan["calls"][side] = calls + 1
    (folder / "plan.json").write_text(json.dumps(plan))


def run_case(title, first, again, tries=3, threads=2):
    """Runs same_placement.py on `first` (rows per side) with `again` (outputs per side, call by call);
    returns (rows per side afterwards, calls per side)."""
    with tempfile.TemporaryDirectory() as name:
        folder = pathlib.Path(name)
        (folder / "plan.json").write_text(json.dumps(again))
        me = pathlib.Path(__file__).resolve()
        retort = folder / "retort"
        retort.write_text(f"#!/bin/sh\nexec {sys.executable} {me} --stand-in retort {folder} \"$@\"\n")
        retort.chmod(0o755)
        for side in ("torch", "ort"):
            (folder / f"{side}.py").write_text(
                f"import runpy, sys\nsys.argv = [{str(me)!r}, '--stand-in', {side!r}, {str(folder)!r}, *sys.argv[1:]]\n"
                f"runpy.run_path({str(me)!r}, run_name='__main__')\n")
        files = []
        for side in ("retort", "torch", "ort"):
            path = folder / f"{side}.json"
            path.write_text("".join(json.dumps(r) + "\n" for r in first.get(side, [])))
            files.append(str(path))
        result = subprocess.run(
            [sys.executable, str(ROOT / "bench" / "same_placement.py"), "--tries", str(tries), "--retort", str(retort),
             "--threads", str(threads), "--onnx-dir", str(folder), "--torch-script", str(folder / "torch.py"),
             "--ort-script", str(folder / "ort.py"), *files, "--", "--seconds", "2"],
            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "bench")})
        if result.returncode != 0:
            raise AssertionError(f"{title}: same_placement.py failed:\n{result.stderr}")
        after = {side: [json.loads(l) for l in (folder / f"{side}.json").read_text().splitlines() if l.strip()]
                 for side in ("retort", "torch", "ort")}
        plan = json.loads((folder / "plan.json").read_text())
        run_case.argv = plan.get("argv", {})
        return after, plan.get("calls", {})


failures = []


def value(args, flag):
    """The argument after `flag` in `args`, or None."""
    return args[args.index(flag) + 1] if flag in args[:-1] else None


def expect(title, condition, detail=""):
    print(("ok   " if condition else "FAIL ") + title + (f": {detail}" if detail and not condition else ""))
    if not condition:
        failures.append(title)


def main():
    gpt, mlp = "gpt-names-4x64/b64", "mlp-784-512-512-10/b128"
    first = {"retort": [row(mlp, 100, CLOSE, "retort"), row(gpt, 7000, CLOSE, "retort")],
             "torch": [row(mlp, 50, CLOSE, "torch"), row(gpt, 2600, APART, "torch")]}
    # The gpt's sides differ; the first try moves again, the second sees both apart. The mlp's agree.
    # The stand-ins print the generation workload too, as --only's substring match would.
    again = {"retort": [[row("generate-" + gpt, 1, APART, "retort"), row(gpt, 4500, CLOSE, "retort")],
                        [row(gpt, 4600, APART, "retort")]],
             "torch": [[row(gpt, 2700, APART, "torch")], [row(gpt, 2650, APART, "torch")]]}
    after, calls = run_case("paired on the second try", first, again)
    expect("the row whose sides agreed is not measured again", after["retort"][0] == first["retort"][0]
           and after["torch"][0] == first["torch"][0])
    expect("each side ran the moved row twice", calls == {"retort": 2, "torch": 2}, calls)
    expect("the second try's rows are kept on both sides (both apart)",
           after["retort"][1]["samples_per_s"] == 4600 and after["torch"][1]["samples_per_s"] == 2650,
           after)
    expect("the kept rows say which try paired them",
           after["retort"][1].get("measured_again") == 2 and after["torch"][1].get("measured_again") == 2)
    given = run_case.argv
    expect("each side is asked for the one workload, at the thread count and seconds given",
           all(value(args, "--only") == gpt and value(args, "--threads") == "2" and value(args, "--seconds") == "2"
               for side in ("retort", "torch") for args in given[side]),
           given)
    expect("the order of rows is kept", [r["workload"] for r in after["retort"]] == [mlp, gpt])

    # No try pairs: the first measurements stay, unmarked; the tries stop at --tries.
    moved = {"retort": [[row(gpt, 1, CLOSE, "retort")]] * 2, "torch": [[row(gpt, 1, APART, "torch")]] * 2}
    after, calls = run_case("never paired", first, moved, tries=2)
    expect("a row no try pairs keeps its first measurements", after["retort"] == first["retort"]
           and after["torch"] == first["torch"], after)
    expect("the tries stop at --tries", calls == {"retort": 2, "torch": 2}, calls)

    # A side that moved within its own run (close before, apart after) is not a pairing.
    within = {"retort": [[row(gpt, 1, (40.0, 160.0), "retort")], [row(gpt, 7100, CLOSE, "retort")]],
              "torch": [[row(gpt, 1, (40.0, 160.0), "torch")], [row(gpt, 3700, CLOSE, "torch")]]}
    after, _ = run_case("moved within a run", first, within)
    expect("a try whose sides moved during their runs is not kept",
           after["retort"][1]["samples_per_s"] == 7100 and after["retort"][1]["measured_again"] == 2, after)

    # Three sides: onnxruntime's row is measured again with the others.
    infer = "infer-cnn-28x28/b64/f32"
    three = {"retort": [row(infer, 90000, CLOSE, "retort")], "torch": [row(infer, 16000, CLOSE, "torch")],
             "ort": [row(infer, 60000, APART, "ort")]}
    both = {side: [[row(infer, rate, CLOSE, side)]] for side, rate in
            (("retort", 91000), ("torch", 16500), ("ort", 95000))}
    after, calls = run_case("three sides", three, both)
    expect("onnxruntime's row is measured again beside the others",
           after["ort"][0]["samples_per_s"] == 95000 and calls == {"retort": 1, "torch": 1, "ort": 1}, calls)

    # One thread, or --tries 0: nothing is run again.
    after, calls = run_case("one thread", first, {}, threads=1)
    expect("one thread runs nothing again", calls == {} and after["torch"] == first["torch"], calls)
    after, calls = run_case("no tries", first, {}, tries=0)
    expect("--tries 0 runs nothing again", calls == {} and after["torch"] == first["torch"], calls)

    if failures:
        sys.exit(f"{len(failures)} bench pairing check(s) failed")
    print("bench pairing: all checks passed")


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "--stand-in":
        stand_in(sys.argv[2], pathlib.Path(sys.argv[3]), sys.argv[4:])
    else:
        main()
