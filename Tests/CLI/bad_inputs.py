"""A corpus of bad programs, family by family, each run by the real binary: none may crash or hang.

    python3 Tests/CLI/bad_inputs.py .build/debug/retort

Every program must end with exit status 0 (it ran), 65 (a syntax error), 66 (an unreadable file)
or 70 (a runtime error) within the time limit, and a failure must print a diagnostic with a place.
A program still running then (2^199 loop iterations, a trillion epochs) gets SIGINT, as Ctrl-C, and
must stop with status 130 within 10 s. A crash (a signal, or a Swift runtime trap) or a hang (no
stop after the interrupt) fails the run. The corpus is generated here
from families of faults (sizes, layer and plot sizes, strings and lists doubled in a loop, nesting,
plots, NaN and infinity on drawing paths, files, deeply nested file headers, recursion, numbers that
stop training, argument mistakes, many errors), so it grows by adding a template, not by committing files.
"""

import itertools
import os
import shutil
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


def budgets():
    """Sizes that reach an allocation through a layer's or a plot's arguments, not a shape."""
    image = "zeros([1, 1, 8, 8])"
    for size in SIZES:
        yield "budgets", f"let c = conv2d(1, 1, 3, padding: {size})\nc({image})"
        yield "budgets", f"let c = conv2d(1, 2, 3, stride: {size}, padding: 4)\nc({image})"
        yield "budgets", f"let p = max_pool(2, stride: {size})\np({image})"
        yield "budgets", f"let p = avg_pool({size}, stride: 1)\np({image})"
        yield "budgets", f"let w = linear(1, 100000)\nw(zeros([{size}, 1]))"
        yield "budgets", f"one_hot(zeros([100000]), {size})"
        yield "budgets", f"histogram(tensor([1, 2, 3]), bins: {size})"
        yield "budgets", f"save(histogram(tensor([1, 2, 3]), bins: {size}), \"{{tmp}}/h.png\")"
        yield "budgets", f"images(rand([4, 64]), columns: {size})"
        yield "budgets", f"save(images(rand([4, 64]), columns: {size}), \"{{tmp}}/i.png\")"
        yield "budgets", f"images(rand([4, 64]), shape: [{size}, 1])"
        yield "budgets", f"boundary(mlp([2, 3]), blobs(n: 10), resolution: {size})"
    for label in ["100000", "1e9", "2147483648", "16777216"]:
        yield "budgets", f"confusion_matrix(mlp([2, 3]), dataset(zeros([2, 2]), tensor([0, {label}])))"
        yield "budgets", f"confusion(mlp([2, 3]), dataset(zeros([2, 2]), tensor([0, {label}])))"
    yield "budgets", "confusion_matrix(mlp([2, 100000]), blobs(n: 10))"
    many = ", ".join(["t"] * 40)
    yield "budgets", f"let t = zeros([10000000])\n[{many}]"
    yield "budgets", f"let t = zeros([10000000])\nstack([{many}, t + 1])"
    yield "budgets", "let t = [1]\nwhile true { t = [t, t] }"
    yield "budgets", "let t = zeros([1000])\nwhile true { t = concat([t, t]) }"
    yield "budgets", "let t = zeros([1000])\nwhile true { t = concat([t, t, t, t], axis: 0) }"
    yield "budgets", "save(heatmap(rand([4000, 4000])), \"{tmp}/m.png\")"


def doubling():
    """Strings and lists that double in a loop: a budget or a cut, well before memory runs out."""
    yield "doubling", "let s = \"a\"\nwhile true { s = s + s }"
    yield "doubling", "let s = \"ab\"\nfor i in 0..<64 { s = s + s + s }\nlen(s)"
    yield "doubling", "let s = \"a\"\nfor i in 0..<64 { s = str([s, s]) }\nlen(s)"
    yield "doubling", "let s = \"a\"\nfor i in 0..<64 { s = s + str(s) }\nlen(s)"
    for show in ["l", "print(l)", "len(str(l))", "str(l) + str(l)", "display(l)", "[l, 1]"]:
        yield "doubling", f"let l = [\"a\"]\nfor i in 0..<64 {{ l = [l, l] }}\n{show}"
        yield "doubling", f"let l = [1, \"a\"]\nfor i in 0..<64 {{ l = append(l, l) }}\n{show}"
    yield "doubling", "let l = [\"a\"]\nwhile true { l = [l, l, l] }"


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
    # Values nested in a loop: lists, tuples and records wrapped in themselves, and tensors of
    # ever more axes. Released by recursion, a million levels would overflow the stack.
    for wrap in ["[l]", "[l, l]", "[1, l]", "[l, 1]", "(l, 1)", "{a: l}", "append([], l)", "[[1, 2], l, [3]]"]:
        for start in ["[1]", "[\"a\"]", "{b: 2}"]:
            yield "nesting", f"let l = {start}\nfor i in 0..<1000000 {{ l = {wrap} }}\nlen(l)"
    yield "nesting", "let l = [1]\nfor i in 0..<100 { l = [l] }\nl"


def language():
    """Language models and text: ids outside the vocabulary, prompts it cannot encode or that do not
    fit, heads that do not divide the width, empty corpora, files that are not UTF-8 text."""
    setup = "let v = vocab(names())\nlet m = gpt(vocab: v, block: 8, layers: 1, heads: 2, width: 8)\n"
    calls = ["m(tensor([[0, 27]]))", "m(tensor([[0, -1]]))", "m(tensor([[0, 0.5]]))", "m(tensor([[0, 1/0]]))",
             "m(zeros([1, 9]))", "m(zeros([2]))", "m(zeros([1, 2, 3]))", "generate(m, v, prompt: \"Émile\")",
             "generate(m, v, prompt: \"abcdefgh\")", "generate(m, v, n: 1e12)", "generate(m, v, top_k: 0)",
             "generate(m, v, temperature: -1)", "generate(m, v, temperature: 1/0)", "samples(m, v, n: 0)",
             "gpt(vocab: v, block: 8, heads: 3, width: 8)", "gpt(vocab: v, block: 1e9, width: 1e9)",
             "gpt(vocab: 0, block: 8)", "gpt(vocab: v, block: 8, layers: 1e6)", "self_attention(8, heads: 0)",
             "self_attention(1e9)", "embedding(1e12, 1e12)", "positions(0, 4)", "tied(linear(2, 3))",
             "vocab(take(names(), 0))", "sequences(names(), v, block: 2)", "sequences(take(names(), 0), v)",
             "encode(v, \"\\u{0}\")", "decode(v, [1e30])", "decode(v, [-5])", "distinct(samples(m, v, n: 3), 1e9)",
             "score(m, names())", "nll(m, blobs(n: 4, seed: 1))", "attentions(mlp([2, 2]), zeros([1, 2]))",
             "text(\"{tmp}/latin1.txt\")", "text(\"{tmp}/empty.txt\")", "text(\"/dev/zero\")", "text(\"{tmp}\")",
             "distill(m, from: m, on: sequences(take(names(), 4), v, block: 8), on_policy: 2)",
             "dataset(zeros([2, 2]), tensor([0, 1e300]))", "dataset(zeros([2, 2]), tensor([0, -3]))",
             "scatter(zeros([3, 2]), classes: tensor([0, 1e9, 2]))", "scatter(zeros([3, 2]), classes: tensor([0, 0/0, 2]))",
             "images(zeros([2, 4]), shape: [1e14, 1e14])", "images(zeros([2, 4]), shape: [4611686018427387904, 2])"]
    for call in calls:
        yield "language", setup + call


def plots():
    bad = ["tensor([1, 0/0, 3])", "tensor([1/0, -1/0])", "rand([])", "zeros([0])", "zeros([3, 0])", "tensor([0/0])",
           "zeros([0, 8, 8])", "tensor([[0/0, 1], [2, 3]])", "[]", "none", "\"text\""]
    for kind, value in itertools.product(["bars", "images", "heatmap", "histogram", "plot", "scatter"], bad):
        yield "plots", f"{kind}({value})"
        yield "plots", f"save({kind}({value}), \"{{tmp}}/p.png\")"
    yield "plots", "save(plot(tensor([1, 2]), log: true), \"{tmp}/p.svg\")"
    yield "plots", "confusion(mlp([2, 3]), blobs(n: 0))"


def conversions():
    """NaN, infinity and values too wide for a Double on every drawing path, to text and to files."""
    values = ["[1, 0/0, 3]", "[1/0, -1/0, 2]", "[1e308, -1e308]", "[-1.7e308, 1.7e308]", "[1e-300, 1e308]",
              "tensor([3e38, -3e38])", "[0/0, 0/0]", "[5e-324, 1]"]
    plots = ["bars({v})", "bars({v}, over: [1, 4])", "bars([{v}, {v}])", "plot({v})", "plot({v}, log: true)",
             "plot({v}, {v})", "histogram({v})", "histogram({v}, log: true)", "heatmap([{v}, {v}])",
             "heatmap([{v}, {v}], annotate: true)", "scatter({v}, y: {v})", "images([{v}, {v}])"]
    for template, v in itertools.product(plots, values):
        figure = template.format(v=v)
        yield "conversions", figure
        yield "conversions", f"save({figure}, \"{{tmp}}/c.png\")"


def recursion():
    yield "recursion", "fn f(n) = f(n + 1)\nf(0)"
    yield "recursion", "fn f(n) = if n == 0 { 0 } else { f(n - 1) + f(n - 1) }\nf(16)"
    yield "recursion", "fn f(x) = g(x)\nfn g(x) = f(x)\nf(1)"
    # Frames that take more stack than the bound in calls allows for (a debug build crashed at 250).
    yield "recursion", "fn f(n) = if n == 0 { 0 } else { 1 + f(n - 1) }\nf(400)"
    yield "recursion", "fn f(n) = if n == 0 { 0 } else { no_grad(f(n - 1)) + 1 }\nf(400)"
    yield "recursion", "fn f(n) = if n == 0 { 0 } else { let a = [n, n]\nsum(a) + f(n - 1) * 1 }\nf(400)"
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


def headers():
    """Files whose headers nest brackets ten thousand deep: an error naming the file, not a stack overflow."""
    for name in ["deep1.npy", "deep2.npy", "deepdict.npy"]:
        yield "headers", f"npy(\"{{tmp}}/{name}\")"
    for name in ["deep.safetensors", "deepobject.safetensors", "strings.safetensors"]:
        yield "headers", f"load(\"{{tmp}}/{name}\", into: mlp([2, 3]))"
        yield "headers", f"load(\"{{tmp}}/{name}\", like: mlp([2, 3]))"


def arguments():
    for builtin in ["softmax", "linear", "fit", "distill", "kd", "mlp", "split", "save", "load", "plot", "images", "help",
                    "clone", "summary", "features", "concat", "stack", "one_hot", "cross_entropy", "kl_div", "adam",
                    "quantize", "qat", "convert", "prune", "sparsity", "subset", "graph", "gpt", "generate", "samples",
                    "vocab", "encode", "decode", "sequences", "jsd", "embedding", "self_attention", "export",
                    "export_torch", "error"]:
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


FAMILIES = [sizes, budgets, doubling, nesting, language, plots, conversions, recursion, training, files, headers, arguments,
            syntax]


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
    with open(os.path.join(tmp, "latin1.txt"), "wb") as f:
        f.write("zoë\némile\n".encode("latin-1"))
    open(os.path.join(tmp, "empty.txt"), "wb").close()
    shape = b"{'descr': '<f4', 'fortran_order': False, 'shape': "
    for name, version, header in [("deep1.npy", 1, shape + b"(" * 10000), ("deep2.npy", 2, shape + b"[" * 1000000),
                                  ("deepdict.npy", 1, b"{'descr': " + b"[(" * 5000)]:
        length = len(header).to_bytes(2 if version == 1 else 4, "little")
        with open(os.path.join(tmp, name), "wb") as f:
            f.write(b"\x93NUMPY" + bytes([version, 0]) + length + header)
    for name, header in [("deep.safetensors", b'{"a":' + b"[" * 1000000), ("deepobject.safetensors", b'{"a":' * 100000),
                         ("strings.safetensors", b'{"[[[[":' + b'"' + b"{" * 100000 + b'"}')]:
        with open(os.path.join(tmp, name), "wb") as f:
            f.write(len(header).to_bytes(8, "little") + header)


def main():
    tmp = tempfile.mkdtemp(prefix="retort-bad-")
    try:
        return run(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(tmp):
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
                # Stopped by the interrupt (130), or it finished its own way just as the signal came.
                allowed = ALLOWED | {130}
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
