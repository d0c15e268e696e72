"""Runs two or more benchmark processes side by side, workload by workload, each started once with
--serve (in the order given, each after the one before has listed its workloads): the first side's
workloads in its order, then any only a later side has, each run on every side that has it in turn
(the sides in the order given for the first workload, then rotated by one for the next, and so on,
so with two sides they alternate which goes first), each side's JSON rows written to its own file.
A row's measurements are then seconds apart rather than a whole run apart, so they see the same
machine more often (this VM's host moves its vCPUs every few seconds to every minute or so), while
each process keeps the state its earlier workloads left, as in a run of its own.

    python3 bench/interleave.py FIRST.json SECOND.json [MORE.json...] -- FIRST COMMAND... -- SECOND COMMAND... [-- MORE...]

bench/compare --interleave runs it with `retort bench --json --serve`,
`bench/torch_reference.py --json --serve` and, when onnxruntime is there,
`bench/onnxruntime_reference.py --json --serve` (which reads the models retort wrote before listing).
"""

import json
import subprocess
import sys


class Side:
    """One serving process: its command, the names it selected, and the file its rows go to."""

    def __init__(self, command, out):
        self.command, self.out = command, out
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        first = self.process.stdout.readline()
        if not first:
            self.fail(f"ended (exit status {self.process.wait()}) before listing its workloads")
        self.names = self.parse(first, list, "the list of its workloads")

    def parse(self, line, kind, what):
        """The JSON value on `line`, which must be a `kind` (a side started without --serve or
        --json prints something else)."""
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, kind):
            self.fail(f"printed {line.strip()!r} where {what} was expected (is it running with --json --serve?)")
        return value

    def fail(self, what):
        self.process.kill()
        sys.exit(f"interleave: {' '.join(self.command[:2])} {what}")

    def run(self, name):
        """Asks for one workload and copies its row to the side's file."""
        self.process.stdin.write(name + "\n")
        self.process.stdin.flush()
        row = self.process.stdout.readline()
        if not row:
            self.fail(f"ended (exit status {self.process.wait()}) before its row for {name}")
        if self.parse(row, dict, f"the JSON row for {name}").get("workload") != name:
            self.fail(f"answered {name} with {row.strip()!r}")
        self.out.write(row)
        self.out.flush()

    def close(self):
        self.process.stdin.close()
        if self.process.wait() != 0:
            sys.exit(f"interleave: {' '.join(self.command[:2])} ended with exit status {self.process.returncode}")


def split(argv):
    """OUT.json... -- COMMAND... -- COMMAND... as (the output paths, the commands), one command per path."""
    if "--" not in argv:
        sys.exit(__doc__.split("\n\n")[1])
    at = argv.index("--")
    paths, commands, command = argv[:at], [], None
    for word in argv[at:]:
        if word == "--":
            command = []
            commands.append(command)
        else:
            command.append(word)
    if len(paths) < 2 or len(commands) != len(paths) or not all(commands):
        sys.exit(__doc__.split("\n\n")[1])
    return paths, commands


def main(argv):
    paths, commands = split(argv)
    outs = [open(path, "w") for path in paths]
    try:
        # Each side starts once the one before has listed its workloads (retort writes the models
        # onnxruntime's side reads before it lists).
        sides = [Side(command, out) for command, out in zip(commands, outs)]
        names = []
        for side in sides:
            names += [n for n in side.names if n not in names]
        for i, name in enumerate(names):
            turn = i % len(sides)
            for side in sides[turn:] + sides[:turn]:
                if name in side.names:
                    side.run(name)
        for side in sides:
            side.close()
    finally:
        for out in outs:
            out.close()


if __name__ == "__main__":
    main(sys.argv[1:])
