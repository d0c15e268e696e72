"""The `--serve` side of the reference scripts, as `retort bench --serve` does it (bench/interleave.py
drives them): print the selected workloads' names as one JSON array, then run each when its name
arrives on standard input, one a line, until the input ends."""

import json
import sys


def add_argument(parser, selection="the selected workloads' names"):
    parser.add_argument("--serve", action="store_true",
                        help=f"print {selection} as one JSON array, then run each when its name arrives on "
                             "standard input, one a line, until the input ends (as `retort bench --serve`; "
                             "bench/compare --interleave)")


def announce(names):
    """The first line a serving side prints: the names it will run."""
    print(json.dumps(list(names)))


def serve(names, run):
    """Calls run(name) for each name read from standard input, skipping blank lines; a name not in
    `names` ends the process with an error that names it."""
    for line in sys.stdin:
        name = line.strip()
        if not name:
            continue
        if name not in names:
            sys.exit(f"--serve: {name!r} is not one of the selected workloads")
        run(name)
