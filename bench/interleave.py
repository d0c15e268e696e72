"""Runs two benchmark processes side by side, workload by workload, each started once with --serve:
the first side's workloads in its order, then any only the second has, each run on one side and
then on the other where both have it (the first side first for the first workload, then the other
first, and so on), each side's JSON rows written to its own file. A row's two measurements are then
seconds apart rather than a whole run apart, so they see the same machine more often (this VM's
host moves its vCPUs every few seconds to every minute or so), while each process keeps the state
its earlier workloads left, as in a run of its own.

    python3 bench/interleave.py FIRST.json SECOND.json -- FIRST COMMAND... -- SECOND COMMAND...

bench/compare --interleave runs it with `retort bench --json --serve` and
`bench/torch_reference.py --json --serve`.
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
    """FIRST.json SECOND.json -- FIRST COMMAND... -- SECOND COMMAND... as its four parts."""
    if len(argv) < 6 or argv[2] != "--" or "--" not in argv[4:-1]:
        sys.exit(__doc__.split("\n\n")[1])
    at = argv.index("--", 4)
    return argv[0], argv[1], argv[3:at], argv[at + 1:]


def main(argv):
    first_path, second_path, first_command, second_command = split(argv)
    with open(first_path, "w") as first_out, open(second_path, "w") as second_out:
        first = Side(first_command, first_out)
        second = Side(second_command, second_out)
        names = first.names + [n for n in second.names if n not in first.names]
        for i, name in enumerate(names):
            for side in (first, second) if i % 2 == 0 else (second, first):
                if name in side.names:
                    side.run(name)
        first.close()
        second.close()


if __name__ == "__main__":
    main(sys.argv[1:])
