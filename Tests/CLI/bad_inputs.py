"""A corpus of bad programs, family by family, each run by the real binary: none may crash or hang.

    python3 Tests/CLI/bad_inputs.py .build/debug/retort

Every program must end with exit status 0 (it ran), 65 (a syntax error), 66 (an unreadable file)
or 70 (a runtime error) within the time limit, and a failure must print a diagnostic with a place.
A program still running then (2^199 loop iterations, a trillion epochs) gets SIGINT, as Ctrl-C, and
must stop with status 130 within 10 s. A crash (a signal, or a Swift runtime trap) or a hang (no
stop after the interrupt) fails the run. The corpus is generated here
from families of faults (sizes, nesting, plots, files, recursion, numbers that stop training,
argument mistakes, many errors), so it grows by adding a template, not by committing files.
"""

import itertools
import os
import signal
import subprocess
import sys
import tempfile
import time

RETORT = sys.argv[1] if len(sys.argv) > 1 else ".build/debug/retort"
LIMIT = 10  # seconds one program may take before it is interrupted
ALLOWED = {0, 65, 66, 70}

SIZES = ["2147483648", "1e9", "1/0", "-1/0", "0/0", "-2", "-1", "1e300", "2.5", "0", "1e15", "9007199254740993"]
SHAPE_BUILDERS = ["zeros({})", "ones({})", "randn({})", "rand({})", "eye({})", "linear({}, 3)", "linear(3, {})",
                  "conv2d(1, {}, 3)", "conv2d(1, 2, {})", "batch_norm({})", "layer_norm({})", "mlp([2, {}, 3])",
                  "blobs(n: {})", "moons(n: {})", "spirals(n: {})", "one_hot([0, 1], {})", "arange(0, {})",
                  "max_pool({})", "dropout({})", "round(1.5, digits: {})", "split(blobs(n: 10), {})"]


def sizes():
    for builder, size in itertools.product(SHAPE_BUILDERS, SIZES):
        arg = f"[{size}]" if builder.startswith(("zeros", "ones", "randn", "rand(")) else size
        yield "sizes", builder.format(arg)
    for a, b in [("[32, 1e9]", "[1e9, 32]"), ("[100000, 1]", "[1, 100000]"), ("[4, 1/0]", "[2]")]:
        yield "sizes", f"ones({a}) @ ones({b})"
        yield "sizes", f"ones({a}) + ones({b})"
    yield "sizes", "reshape(ones([4]), [1e9, -1])"
    yield "sizes", "min(3, 1/0)"
    yield "sizes", "tensor([[1, 2], [3]])"


def nesting():
    for n in [199, 201, 1000, 5000, 20000]:
        for open_, close in [("(", ")"), ("[", "]"), ("{", "}")]:
            yield "nesting", open_ * n + "1" + close * n
            yield "nesting", open_ * n
        yield "nesting", "-" * n + "1"
        yield "nesting", "1" + " + 1" * n
        yield "nesting", "f" + "(f" * n + ")" * n
        yield "nesting", "for i in 0..1 {" * n + "1" + "}" * n
        yield "nesting", "not " * n + "true"
    yield "nesting", "1" + "+1" * 200000


def plots():
    bad = ["tensor([1, 0/0, 3])", "tensor([1/0, -1/0])", "rand([])", "zeros([0])", "zeros([3, 0])", "tensor([0/0])",
           "zeros([0, 8, 8])", "tensor([[0/0, 1], [2, 3]])", "[]", "none", "\"text\""]
    for kind, value in itertools.product(["bars", "images", "heatmap", "histogram", "plot", "scatter"], bad):
        yield "plots", f"{kind}({value})"
        yield "plots", f"save({kind}({value}), \"{{tmp}}/p.png\")"
    yield "plots", "save(plot(tensor([1, 2]), log: true), \"{tmp}/p.svg\")"
    yield "plots", "confusion(mlp([2, 3]), blobs(n: 0))"


def recursion():
    yield "recursion", "fn f(n) = f(n + 1)\nf(0)"
    yield "recursion", "fn f(n) = if n == 0 { 0 } else { f(n - 1) + f(n - 1) }\nf(16)"
    yield "recursion", "fn f(x) = g(x)\nfn g(x) = f(x)\nf(1)"
    yield "recursion", "let xs = []\nfor i in 0..<100000 { xs = append(xs, i) }\nlen(xs)"
    yield "recursion", "for i in 1..3000000000 { break }"
    yield "recursion", "list(0..<3000000000)"
    yield "recursion", "let s = \"a\"\nfor i in 0..<22 { s = s + s }\nlen(s)"


def training():
    data = "let data = blobs(n: 40, seed: 1)\nlet m = mlp([2, 8, 3])\nlet t = mlp([2, 8, 3])\n"
    calls = ["fit(m, data, opt: sgd(lr: 1e30))", "fit(m, data, opt: adam(lr: -1))", "distill(m, from: t, on: data, T: 0)",
             "fit(m, dataset(data.x / 0, data.y))", "fit(m, data, epochs: 0)", "fit(m, data, batch: 0)",
             "fit(m, data, epochs: 1e12)", "fit(m, data, epochs: 1/0)", "fit(m, data, epoch: 3)",
             "distill(m, from: m, on: data)", "distill(m, from: [t, t], weights: [1, -1], on: data)",
             "distill(m, from: [], on: data)", "fit(m, data, clip: -1)", "fit(m, data, clip: 0/0)",
             "fit(m, data, loss: fn(s, y) = s)", "fit(m, data, loss: fn(s, y) = log(0 * sum(s)))",
             "fit(m, data, opt: adam(lr: fn(p) = 1/0))", "fit(freeze(m), data)", "fit(m, blobs(n: 40, classes: 7))",
             "fit(mlp([3, 2]), data)", "step(adam(), 3)", "backward(tensor([1, 2]))", "grad(sum(m(data.x)), data.x)",
             "fit(m, data, checkpoint: \"/dev/null/x\")", "fit(m, data, resume: true)",
             "load(\"/dev/zero\", into: m)", "save(m, \"/nonexistent/dir/m.safetensors\")",
             "quantize(m, calibrate: data)", "quantize(m, calibrate: blobs(n: 0))", "convert(qat(m))",
             "prune(m, 0.5, structure: \"channels\", by: \"sensitivity\", data: blobs(n: 0))",
             "load(\"/dev/zero\", like: m)", "subset(data, data.x)"]
    for call in calls:
        yield "training", data + call


def files():
    yield "files", "csv(\"/dev/zero\")"
    yield "files", "npy(\"{tmp}/fifo\")"
    yield "files", "csv(\"{tmp}\")"
    yield "files", "idx(\"{tmp}/bad.idx\", \"{tmp}/bad.idx\")"
    yield "files", "npy(\"{tmp}/header.npy\")"
    yield "files", "csv(\"{tmp}/bomb.csv.gz\")"
    yield "files", "load(\"{tmp}/bad.safetensors\", into: mlp([2, 3]))"
    yield "files", "csv(\"{tmp}/nul.csv\")"


def arguments():
    for builtin in ["softmax", "linear", "fit", "distill", "kd", "mlp", "split", "save", "load", "plot", "images", "help",
                    "clone", "summary", "features", "concat", "stack", "one_hot", "cross_entropy", "kl_div", "adam",
                    "quantize", "qat", "convert", "prune", "sparsity", "subset"]:
        for args in ["", "1", "\"x\"", "none", "[]", "1, 2, 3, 4, 5, 6, 7", "x: 1", "1/0", "fn(x) = x", "[[1], [2, 3]]"]:
            yield "arguments", f"{builtin}({args})"


def syntax():
    yield "syntax", "let = 1\n" * 10000
    yield "syntax", "\u00a7" * 10000
    yield "syntax", "\"unterminated"
    yield "syntax", "let x = \x00 + 1"
    yield "syntax", "fn (" * 100
    yield "syntax", ")" * 1000
    yield "syntax", "let " + "a" * 100000 + " = 1"


FAMILIES = [sizes, nesting, plots, recursion, training, files, arguments, syntax]


def prepare(tmp):
    os.mkfifo(os.path.join(tmp, "fifo"))
    with open(os.path.join(tmp, "bad.idx"), "wb") as f:
        f.write(b"\x00\x00\x08\x03" + b"\xff" * 12)
    with open(os.path.join(tmp, "header.npy"), "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + (60000).to_bytes(2, "little") + b"{" + b"\x00" * 59999)
    import gzip
    with open(os.path.join(tmp, "bomb.csv.gz"), "wb") as f:
        f.write(gzip.compress(b"1,2\n" + b"0" * (96 << 20), 9))
    with open(os.path.join(tmp, "bad.safetensors"), "wb") as f:
        f.write((10 ** 12).to_bytes(8, "little") + b"{}")
    with open(os.path.join(tmp, "nul.csv"), "wb") as f:
        f.write(b"a,b\n\x00\x00,1\n")


def main():
    tmp = tempfile.mkdtemp(prefix="retort-bad-")
    prepare(tmp)
    env = dict(os.environ, NO_COLOR="1", RETORT_MAX_TENSOR_BYTES=str(256 << 20))
    counts = {}
    interrupted = {}
    failures = []
    started = time.time()
    for family in FAMILIES:
        for name, program in family():
            path = os.path.join(tmp, "program.rt")
            with open(path, "w", encoding="utf-8") as f:
                f.write(program.replace("{tmp}", tmp))
            process = subprocess.Popen([RETORT, "run", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
            allowed = ALLOWED
            try:
                stdout, stderr = process.communicate(timeout=LIMIT)
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGINT)
                allowed = {130}
                interrupted[name] = interrupted.get(name, 0) + 1
                try:
                    stdout, stderr = process.communicate(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.communicate()
                    failures.append((name, program, "hang: running after %d s and an interrupt" % LIMIT))
                    continue
            out = stdout.decode("utf-8", "replace") + stderr.decode("utf-8", "replace")
            counts[name] = counts.get(name, 0) + 1
            if process.returncode not in allowed or "Fatal error" in out or "crashed" in out:
                failures.append((name, program, "exit %d: %s" % (process.returncode, out[-600:])))
            elif process.returncode in (65, 70) and "Error:" not in out:
                failures.append((name, program, "exit %d without a diagnostic: %s" % (process.returncode, out[-300:])))
    total = sum(counts.values())
    for name, program, why in failures:
        shown = program if len(program) < 300 else program[:300] + "..."
        print(f"FAIL [{name}] {shown!r}\n    {why}")
    families = ", ".join(f"{k} {v}" for k, v in counts.items())
    stopped = sum(interrupted.values())
    print(f"bad inputs: {total} programs in {time.time() - started:.0f} s ({families}); "
          f"{stopped} still running after {LIMIT} s stopped by SIGINT")
    print(f"{total - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
