"""Measures again, side by side, each workload whose sides did not all run with the two CPUs placed alike.

A virtual machine's host moves its two vCPUs between sharing a cache and sitting far apart, and every
side's two-thread figure drops by a third or more while they are apart (docs/performance.md, "Where
the host puts the two CPUs"). bench/compare runs Retort's side, then PyTorch's, then onnxruntime's, so
one side of a row can run close and the other apart: its ratio then compares two machines. For each
such row (side_by_side.placements sees both placements) this runs the workload again on every side,
back to back, up to --tries times, and keeps the first try whose measurements all saw one placement,
close or apart alike: the choice looks only at the placement, never at the figures. A row no try pairs
keeps its first measurement and its "(moved)" mark. The kept rows get `measured_again` (the try that
paired them); the files are rewritten in place.

    python bench/same_placement.py --tries 3 --retort .build/release/retort --threads 2 \
        --onnx-dir DIR RETORT_JSON TORCH_JSON ORT_JSON -- [--seconds S] [--wait-together S]
"""

import argparse
import json
import pathlib
import subprocess
import sys

from side_by_side import placements

HERE = pathlib.Path(__file__).resolve().parent


def read_rows(path):
    """The file's JSON rows in order (an absent or empty file has none)."""
    file = pathlib.Path(path)
    if not file.exists():
        return []
    return [json.loads(line) for line in file.read_text().splitlines() if line.strip()]


def write_rows(path, rows):
    pathlib.Path(path).write_text("".join(json.dumps(row) + "\n" for row in rows))


def row_named(output, name):
    """The JSON row for exactly `name` in a side's output (--only matches names containing it)."""
    for line in output.splitlines():
        if line.strip().startswith("{"):
            row = json.loads(line)
            if row.get("workload") == name:
                return row
    return None


def run_side(command):
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stderr)
        raise SystemExit(f"bench/same_placement: {' '.join(command[:3])}... failed ({result.returncode})")
    return result.stdout


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=3, help="tries per row before keeping its first measurement")
    parser.add_argument("--retort", required=True, help="the retort binary")
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--onnx-dir", default=None, help="the models `retort bench --onnx` wrote, for onnxruntime")
    parser.add_argument("--torch-script", default=str(HERE / "torch_reference.py"), help=argparse.SUPPRESS)
    parser.add_argument("--ort-script", default=str(HERE / "onnxruntime_reference.py"), help=argparse.SUPPRESS)
    parser.add_argument("files", nargs=3, metavar="JSON", help="Retort's, PyTorch's and onnxruntime's rows")
    parser.add_argument("passed", nargs=argparse.REMAINDER, help="after --: --seconds and --wait-together")
    args = parser.parse_args(argv)
    if args.tries < 0:
        parser.error(f"--tries must be a whole number >= 0, not {args.tries}")
    passed = argparse.ArgumentParser(add_help=False)
    passed.add_argument("--seconds", default=None)
    passed.add_argument("--wait-together", default=None)
    known, _ = passed.parse_known_args([a for a in args.passed if a != "--"])
    timing = [flag for key, flag in (("seconds", "--seconds"), ("wait_together", "--wait-together"))
              for flag in ([flag, getattr(known, key)] if getattr(known, key) is not None else [])]

    sides = [read_rows(path) for path in args.files]
    by_name = [{row["workload"]: index for index, row in enumerate(rows)} for rows in sides]
    if args.threads < 2 or args.tries == 0:
        return
    python = sys.executable
    for name in list(by_name[0]):
        present = [side for side in range(3) if name in by_name[side]]
        if len(present) < 2 or len(placements(*(sides[s][by_name[s][name]] for s in present))) < 2:
            continue
        commands = {
            0: [args.retort, "bench", "--json", "--threads", str(args.threads), "--only", name, *timing],
            1: [python, args.torch_script, "--json", "--threads", str(args.threads),
                "--core-latency", args.retort, "--only", name, *timing],
            2: [python, args.ort_script, str(args.onnx_dir), "--json", "--threads",
                str(args.threads), "--core-latency", args.retort, "--only", name, *timing],
        }
        for attempt in range(1, args.tries + 1):
            again = {side: row_named(run_side(commands[side]), name) for side in present}
            if any(row is None for row in again.values()):
                raise SystemExit(f"bench/same_placement: a side gave no row for {name}")
            seen = placements(*again.values())
            print(f"{name}: try {attempt}, "
                  + ("the CPUs " + ("close" if seen == {True} else "apart") + " on every side" if len(seen) == 1
                     else "moved again"), file=sys.stderr)
            if len(seen) == 1:
                for side, row in again.items():
                    row["measured_again"] = attempt
                    sides[side][by_name[side][name]] = row
                break
    for path, rows in zip(args.files, sides):
        if rows:
            write_rows(path, rows)


if __name__ == "__main__":
    main()
