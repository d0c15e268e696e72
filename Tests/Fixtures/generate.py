"""Generate PyTorch reference fixtures for Retort's tensor tests.

Run with the torch venv (see scripts/torch-venv):

    /root/.venvs/torch/bin/python Tests/Fixtures/generate.py

Writes Tests/RetortTensorTests/Fixtures/ops.json (tensor ops) and
Tests/RetortNNTests/Fixtures/{optim,schedules}.json (optimizers, schedules).

Inputs are random float32 values (written in their shortest decimal form,
which parses back to the same float32 whether read as Float or via Double).
References are computed in float64 from those float32 values and rounded to
9 significant digits. Everything is seeded, so re-running gives the same files.

ops.json case:  {name, op, inputs, args, output, [cotangent, grads], [extras]}
where grads[i] = d sum(output * cotangent) / d inputs[i], or null for integer
and non-differentiable inputs. Forward-only ops have no cotangent/grads.
"""

import json
import math
import os
import sys
import warnings

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT_DIR = os.path.join(ROOT, "Tests", "RetortTensorTests", "Fixtures")
NN_OUT_DIR = os.path.join(ROOT, "Tests", "RetortNNTests", "Fixtures")
GENERATOR = "Tests/Fixtures/generate.py"

rng = np.random.default_rng(20240601)
torch.manual_seed(0)
torch.set_num_threads(1)  # fixed summation order for reproducible float64 results
# kl_div(reduction="mean") is tested on purpose; silence its deprecation notice.
warnings.filterwarnings("ignore", message="reduction: 'mean' divides the total loss")

F64 = torch.float64


# ---------------------------------------------------------------------------
# Number formatting
# ---------------------------------------------------------------------------

def f32_value(v):
    """Shortest decimal that round-trips to this float32 (also via Double)."""
    x = np.float32(v)
    if not np.isfinite(x):
        raise ValueError(f"non-finite input {v!r}")
    d = float(str(x))
    if np.float32(d) != x:  # never expected; guards against double rounding
        d = float(x)
    return d


def ref_value(v):
    """Reference output rounded to 9 significant digits."""
    v = float(v)
    if not math.isfinite(v):
        raise ValueError(f"non-finite reference value {v!r}")
    return float(f"{v:.9g}")


def enc_input(a):
    """Encode a float32 or integer input array as {shape, data[, dtype]}."""
    a = np.asarray(a)
    if a.dtype.kind in "iu":
        return {"shape": list(a.shape), "data": [int(x) for x in a.ravel()], "dtype": "int"}
    return {"shape": list(a.shape), "data": [f32_value(x) for x in a.astype(np.float32).ravel()]}


def as_f64(enc):
    """float64 tensor holding exactly the float32 values of an encoded input."""
    f32 = np.array(enc["data"], dtype=np.float64).astype(np.float32)
    return torch.from_numpy(f32.astype(np.float64).reshape(enc["shape"]))


def enc_ref(t):
    """Encode a float64 reference tensor (torch or numpy)."""
    if isinstance(t, torch.Tensor):
        t = t.detach().to(F64).numpy()
    a = np.asarray(t, dtype=np.float64)
    return {"shape": list(a.shape), "data": [ref_value(x) for x in a.ravel()]}


# ---------------------------------------------------------------------------
# Random inputs (float32)
# ---------------------------------------------------------------------------

def randn(*shape, scale=1.0, mean=0.0):
    return (rng.standard_normal(shape) * scale + mean).astype(np.float32)


def unif(lo, hi, *shape):
    return rng.uniform(lo, hi, shape).astype(np.float32)


def away_from_zero(*shape, lo=0.1, hi=2.0):
    """Random signs, magnitudes in [lo, hi): safe for abs/relu/div."""
    sign = np.where(rng.random(shape) < 0.5, -1.0, 1.0)
    return (sign * rng.uniform(lo, hi, shape)).astype(np.float32)


def large_logits(*shape, mag=80.0):
    """Logits that mix values near +-mag with small ones."""
    a = rng.standard_normal(shape) * 3.0
    mask = rng.random(shape)
    a = np.where(mask < 0.3, mag - rng.random(shape), a)
    a = np.where(mask > 0.7, -mag + rng.random(shape), a)
    return a.astype(np.float32)


def grid(values, *shape):
    """Values drawn from a small set, so exact ties occur."""
    return np.asarray(rng.choice(values, size=shape), dtype=np.float32)


def ints(lo, hi, *shape):
    return rng.integers(lo, hi, size=shape).astype(np.int64)


def probs(*shape, axis=-1):
    """float32 rows that sum to ~1 (softmax of random logits)."""
    x = rng.standard_normal(shape)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return (e / e.sum(axis=axis, keepdims=True)).astype(np.float32)


def log_probs(*shape, axis=-1):
    x = rng.standard_normal(shape) * 1.5
    m = x.max(axis=axis, keepdims=True)
    return (x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))).astype(np.float32)


class NoGrad:
    """Marks a float input that gets a null gradient (e.g. where's condition)."""

    def __init__(self, array):
        self.array = np.asarray(array, dtype=np.float32)


# ---------------------------------------------------------------------------
# Op table: name -> (function(inputs, args) -> output [, extras], forward_only)
# ---------------------------------------------------------------------------

def _axis_reduce(fn_all, fn_axis):
    def run(xs, a):
        x = xs[0]
        if a["axis"] is None:
            if a["keepdims"]:
                return fn_all(x).reshape([1] * x.dim())
            return fn_all(x)
        return fn_axis(x, a["axis"], a["keepdims"])
    return run


def _logsumexp_all(x):
    return torch.logsumexp(x.reshape(-1), 0)


def _argmax(xs, a):
    x = xs[0]
    if a["axis"] is None:
        out = torch.argmax(x)
        if a["keepdims"]:
            out = out.reshape([1] * x.dim())
    else:
        out = torch.argmax(x, dim=a["axis"], keepdim=a["keepdims"])
    return out.to(F64)


def _slice(xs, a):
    index = tuple(slice(s, e, st) for s, e, st in a["ranges"])
    return xs[0][index]


def _batch_norm_train(xs, a):
    x, w, b = xs
    c = x.shape[1]
    running_mean = torch.zeros(c, dtype=F64)
    running_var = torch.ones(c, dtype=F64)
    out = F.batch_norm(x, running_mean, running_var, w, b, training=True,
                       momentum=a["momentum"], eps=a["eps"])
    return out, {"running_mean": running_mean, "running_var": running_var}


def _cmp(fn):
    return lambda xs, a: fn(xs[0], xs[1]).to(F64)


OPS = {
    # binary, broadcasting
    "add": (lambda xs, a: torch.add(xs[0], xs[1]), False),
    "sub": (lambda xs, a: torch.sub(xs[0], xs[1]), False),
    "mul": (lambda xs, a: torch.mul(xs[0], xs[1]), False),
    "div": (lambda xs, a: torch.div(xs[0], xs[1]), False),
    "pow": (lambda xs, a: torch.pow(xs[0], xs[1]), False),
    "maximum": (lambda xs, a: torch.maximum(xs[0], xs[1]), False),
    "minimum": (lambda xs, a: torch.minimum(xs[0], xs[1]), False),
    # comparisons (forward only; booleans as 0.0 / 1.0)
    "eq": (_cmp(torch.eq), True),
    "ne": (_cmp(torch.ne), True),
    "lt": (_cmp(torch.lt), True),
    "le": (_cmp(torch.le), True),
    "gt": (_cmp(torch.gt), True),
    "ge": (_cmp(torch.ge), True),
    "where": (lambda xs, a: torch.where(xs[0] != 0, xs[1], xs[2]), False),
    # unary
    "neg": (lambda xs, a: torch.neg(xs[0]), False),
    "exp": (lambda xs, a: torch.exp(xs[0]), False),
    "log": (lambda xs, a: torch.log(xs[0]), False),
    "sqrt": (lambda xs, a: torch.sqrt(xs[0]), False),
    "abs": (lambda xs, a: torch.abs(xs[0]), False),
    "relu": (lambda xs, a: F.relu(xs[0]), False),
    "tanh": (lambda xs, a: torch.tanh(xs[0]), False),
    "sigmoid": (lambda xs, a: torch.sigmoid(xs[0]), False),
    "silu": (lambda xs, a: F.silu(xs[0]), False),
    "gelu": (lambda xs, a: F.gelu(xs[0], approximate="none"), False),
    "leaky_relu": (lambda xs, a: F.leaky_relu(xs[0], a["slope"]), False),
    "clamp": (lambda xs, a: torch.clamp(xs[0], a["min"], a["max"]), False),
    # reductions
    "sum": (_axis_reduce(torch.sum, lambda x, d, k: torch.sum(x, d, keepdim=k)), False),
    "mean": (_axis_reduce(torch.mean, lambda x, d, k: torch.mean(x, d, keepdim=k)), False),
    "max": (_axis_reduce(torch.amax, lambda x, d, k: torch.max(x, d, keepdim=k).values), False),
    "min": (_axis_reduce(torch.amin, lambda x, d, k: torch.min(x, d, keepdim=k).values), False),
    "logsumexp": (_axis_reduce(_logsumexp_all, lambda x, d, k: torch.logsumexp(x, d, keepdim=k)), False),
    "argmax": (_argmax, True),
    # shape
    "reshape": (lambda xs, a: xs[0].reshape(a["shape"]), False),
    "permute": (lambda xs, a: xs[0].permute(a["dims"]), False),
    "transpose": (lambda xs, a: xs[0].transpose(a["dim0"], a["dim1"]), False),
    "slice": (_slice, False),
    "select": (lambda xs, a: torch.select(xs[0], a["axis"], a["index"]), False),
    "concat": (lambda xs, a: torch.cat(xs, a["axis"]), False),
    "stack": (lambda xs, a: torch.stack(xs, a["axis"]), False),
    "gather": (lambda xs, a: torch.gather(xs[0], a["axis"], xs[1]), False),
    "one_hot": (lambda xs, a: F.one_hot(xs[0], a["classes"]).to(F64), True),
    "expand": (lambda xs, a: torch.broadcast_to(xs[0], a["shape"]), False),
    # linear algebra / nn
    "matmul": (lambda xs, a: torch.matmul(xs[0], xs[1]), False),
    "linear": (lambda xs, a: F.linear(xs[0], xs[1], xs[2]), False),
    "conv2d": (lambda xs, a: F.conv2d(xs[0], xs[1], xs[2], stride=a["stride"], padding=a["padding"]), False),
    "max_pool2d": (lambda xs, a: F.max_pool2d(xs[0], a["kernel"], a["stride"], a["padding"]), False),
    "avg_pool2d": (lambda xs, a: F.avg_pool2d(xs[0], a["kernel"], a["stride"], a["padding"],
                                              count_include_pad=True), False),
    "softmax": (lambda xs, a: F.softmax(xs[0], a["axis"]), False),
    "log_softmax": (lambda xs, a: F.log_softmax(xs[0], a["axis"]), False),
    # losses
    "cross_entropy": (lambda xs, a: F.cross_entropy(xs[0], xs[1], reduction=a["reduction"],
                                                    label_smoothing=a["label_smoothing"]), False),
    "nll_loss": (lambda xs, a: F.nll_loss(xs[0], xs[1], reduction=a["reduction"]), False),
    "mse_loss": (lambda xs, a: F.mse_loss(xs[0], xs[1], reduction=a["reduction"]), False),
    "l1_loss": (lambda xs, a: F.l1_loss(xs[0], xs[1], reduction=a["reduction"]), False),
    "kl_div": (lambda xs, a: F.kl_div(xs[0], xs[1], reduction=a["reduction"], log_target=a["log_target"]), False),
    "bce_with_logits": (lambda xs, a: F.binary_cross_entropy_with_logits(xs[0], xs[1], reduction=a["reduction"]), False),
    "cosine_similarity": (lambda xs, a: F.cosine_similarity(xs[0], xs[1], dim=a["axis"], eps=a["eps"]), False),
    # normalisation
    "layer_norm": (lambda xs, a: F.layer_norm(xs[0], a["normalized_shape"], xs[1], xs[2], eps=a["eps"]), False),
    "batch_norm_train": (_batch_norm_train, False),
    "batch_norm_eval": (lambda xs, a: F.batch_norm(xs[0], xs[3], xs[4], xs[1], xs[2], training=False,
                                                   eps=a["eps"]), False),
}

# Inputs that never get a gradient for a given op (by position).
NO_GRAD_INPUTS = {"batch_norm_eval": {3, 4}}


# ---------------------------------------------------------------------------
# Case construction
# ---------------------------------------------------------------------------

CASES = []


def case(name, op, inputs, args=None, null_grads=()):
    """Evaluate `op` on float64 copies of the float32 inputs and record a case.

    null_grads: input positions whose gradient is stored as null even though
    torch would give one (used where torch's value is not finite).
    """
    args = args or {}
    fn, forward_only = OPS[op]
    no_grad = NO_GRAD_INPUTS.get(op, set()) | set(null_grads)

    tensors, encoded, wants_grad = [], [], []
    for i, item in enumerate(inputs):
        fixed = isinstance(item, NoGrad)
        arr = item.array if fixed else np.asarray(item)
        encoded.append(enc_input(arr))
        if arr.dtype.kind in "iu":
            tensors.append(torch.from_numpy(arr.astype(np.int64)))
            wants_grad.append(False)
        else:
            t = as_f64(encoded[-1])  # exactly the float32 values that were written out
            differentiable = not (fixed or forward_only or i in no_grad)
            tensors.append(t.requires_grad_(differentiable))
            wants_grad.append(differentiable)

    result = fn(tensors, args)
    extras = {}
    if isinstance(result, tuple):
        result, extras = result

    entry = {"name": name, "op": op, "inputs": encoded, "args": args, "output": enc_ref(result)}
    if not forward_only:
        cot = randn(*result.shape)
        entry["cotangent"] = enc_input(cot)
        cot_t = as_f64(entry["cotangent"])
        wrt = [t for t, w in zip(tensors, wants_grad) if w]
        grads = torch.autograd.grad((result * cot_t).sum(), wrt, allow_unused=True) if wrt else []
        grads = iter(grads)
        entry["grads"] = []
        for t, w in zip(tensors, wants_grad):
            if not w:
                entry["grads"].append(None)
                continue
            g = next(grads)
            entry["grads"].append(enc_ref(torch.zeros_like(t) if g is None else g))
    for key, value in extras.items():
        entry[key] = enc_ref(value)
    CASES.append(entry)


def shape_tag(*shapes):
    return "-".join("x".join(map(str, s)) if s else "scalar" for s in shapes)


# ---------------------------------------------------------------------------
# ops.json cases
# ---------------------------------------------------------------------------

BROADCAST_PAIRS = [
    ((2, 3), (2, 3)),
    ((3, 1), (4,)),
    ((2, 3, 4), (4,)),
    ((2, 3, 4), (3, 1)),
    ((), (2, 3)),
    ((2, 3), ()),
    ((2, 1, 4), (1, 3, 1)),
    ((), ()),
    ((1,), (5,)),
]


def binary_cases():
    for sa, sb in BROADCAST_PAIRS:
        tag = shape_tag(sa, sb)
        case(f"add/{tag}", "add", [randn(*sa), randn(*sb)])
        case(f"sub/{tag}", "sub", [randn(*sa), randn(*sb)])
        case(f"mul/{tag}", "mul", [randn(*sa), randn(*sb)])
        case(f"div/{tag}", "div", [randn(*sa), away_from_zero(*sb, lo=0.5, hi=2.0)])
        case(f"pow/{tag}", "pow", [unif(0.3, 2.5, *sa), unif(-2.0, 2.5, *sb)])
        case(f"maximum/{tag}", "maximum", [randn(*sa), randn(*sb)])
        case(f"minimum/{tag}", "minimum", [randn(*sa), randn(*sb)])
    case("pow/scalar-exponent-2.5", "pow", [unif(0.3, 2.5, 2, 3), np.array(2.5, dtype=np.float32)])
    case("pow/scalar-exponent-neg0.5", "pow", [unif(0.3, 2.5, 4), np.array(-0.5, dtype=np.float32)])
    case("div/large-divisor", "div", [randn(3, 4, scale=100.0), away_from_zero(3, 4, lo=10.0, hi=1000.0)])


def comparison_cases():
    vals = [-1.0, 0.0, 0.5, 1.0]
    for op in ["eq", "ne", "lt", "le", "gt", "ge"]:
        a = grid(vals, 3, 4)
        b = a.copy()
        b[rng.random(b.shape) < 0.5] = grid(vals, 1)[0]  # keep about half as exact ties
        case(f"{op}/ties-3x4", op, [a, b])
        case(f"{op}/broadcast-3x1-4", op, [grid(vals, 3, 1), grid(vals, 4)])
        case(f"{op}/scalar-rhs", op, [grid(vals, 2, 3), np.array(0.5, dtype=np.float32)])
        case(f"{op}/random-2x3x4-4", op, [randn(2, 3, 4), randn(4)])
    shapes = [((2, 3), (2, 3), (2, 3)), ((3, 1), (4,), ()), ((2, 3, 4), (3, 4), (2, 1, 4)), ((), (2, 2), (2, 2))]
    for sc, sa, sb in shapes:
        cond = (rng.random(sc) < 0.5).astype(np.float32)
        case(f"where/{shape_tag(sc, sa, sb)}", "where", [NoGrad(cond), randn(*sa), randn(*sb)])


def unary_cases():
    shapes = [(2, 3), (5,), (), (2, 3, 4)]
    for s in shapes:
        tag = shape_tag(s)
        case(f"neg/{tag}", "neg", [randn(*s)])
        case(f"exp/{tag}", "exp", [unif(-3.0, 3.0, *s)])
        case(f"log/{tag}", "log", [unif(0.05, 5.0, *s)])
        case(f"sqrt/{tag}", "sqrt", [unif(0.05, 5.0, *s)])
        case(f"abs/{tag}", "abs", [away_from_zero(*s, lo=0.01, hi=3.0)])
        case(f"relu/{tag}", "relu", [away_from_zero(*s, lo=0.01, hi=3.0)])
        for op in ["tanh", "sigmoid", "silu", "gelu"]:
            case(f"{op}/{tag}", op, [randn(*s, scale=2.0)])
    case("exp/wide-range", "exp", [unif(-20.0, 20.0, 6)])
    case("log/wide-range", "log", [np.array([1e-6, 1e-3, 0.5, 1.0, 100.0, 1e6], dtype=np.float32)])
    for op in ["tanh", "sigmoid", "silu", "gelu"]:
        case(f"{op}/large-magnitude", op, [large_logits(2, 5, mag=40.0)])
    for slope in [0.01, 0.2]:
        for s in [(2, 3), (), (2, 3, 4)]:
            case(f"leaky_relu/slope{slope}-{shape_tag(s)}", "leaky_relu",
                 [away_from_zero(*s, lo=0.01, hi=3.0)], {"slope": slope})
    for lo, hi in [(-0.5, 0.5), (None, 0.3), (-0.2, None), (0.0, 6.0)]:
        x = randn(3, 4, scale=2.0)
        for bound in (lo, hi):  # keep inputs off the boundary, where the gradient is ambiguous
            if bound is not None:
                x[np.abs(x - bound) < 1e-3] += 0.01
        case(f"clamp/min{lo}-max{hi}", "clamp", [x], {"min": lo, "max": hi})
    case("clamp/scalar", "clamp", [np.array(1.7, dtype=np.float32)], {"min": -1.0, "max": 1.0})


def assert_no_ties(x, axis):
    """Extremum along the axis must be unique so the gradient is well defined."""
    a = np.asarray(x, dtype=np.float64)
    a = a.reshape(-1) if axis is None else np.moveaxis(a, axis, -1)
    for fn in (np.max, np.min):
        ext = fn(a, axis=-1, keepdims=True)
        assert np.all((a == ext).sum(axis=-1) == 1), "tie in max/min input"


def reduction_cases():
    specs = [
        ((2, 3, 4), None, False),
        ((2, 3, 4), None, True),
        ((2, 3, 4), 0, False),
        ((2, 3, 4), 1, True),
        ((2, 3, 4), -1, False),
        ((2, 3, 4), -2, True),
        ((3, 5), 1, False),
        ((3, 5), -2, True),
        ((5,), 0, False),
        ((5,), -1, True),
        ((3, 1), 1, False),
        ((1, 4), 0, True),
        ((), None, False),
    ]
    for op in ["sum", "mean", "max", "min", "logsumexp"]:
        for s, axis, keep in specs:
            x = randn(*s)
            if op in ("max", "min"):
                assert_no_ties(x, axis)
            case(f"{op}/{shape_tag(s)}-axis{axis}-keep{str(keep).lower()}", op, [x],
                 {"axis": axis, "keepdims": keep})
    case("sum/large-1x64", "sum", [randn(1, 64)], {"axis": -1, "keepdims": False})
    case("logsumexp/large-logits-axis-1", "logsumexp", [large_logits(3, 4)], {"axis": -1, "keepdims": False})
    case("logsumexp/large-logits-all", "logsumexp", [large_logits(2, 3)], {"axis": None, "keepdims": False})
    case("logsumexp/all-negative-large", "logsumexp", [unif(-81.0, -79.0, 2, 3)], {"axis": 1, "keepdims": True})
    for s, axis, keep in [((2, 3, 4), None, False), ((2, 3, 4), None, True), ((2, 3, 4), 1, False),
                          ((2, 3, 4), -1, True), ((5,), 0, False), ((3, 1), 1, False), ((4, 3), 0, False)]:
        x = randn(*s)
        assert_no_ties(x, axis)
        case(f"argmax/{shape_tag(s)}-axis{axis}-keep{str(keep).lower()}", "argmax", [x],
             {"axis": axis, "keepdims": keep})


def shape_cases():
    for s, target in [((2, 3, 4), [6, 4]), ((2, 3, 4), [-1]), ((2, 3, 4), [4, -1, 2]),
                      ((6,), [2, 1, 3]), ((), [1]), ((1,), []), ((3, 4), [4, 3])]:
        case(f"reshape/{shape_tag(s)}-to-{shape_tag(target)}", "reshape", [randn(*s)], {"shape": target})
    for s, dims in [((3, 4), [1, 0]), ((2, 3, 4), [2, 0, 1]), ((2, 3, 4), [-1, 0, 1]),
                    ((2, 3, 4, 2), [0, 2, 1, 3]), ((2, 3, 4), [0, 1, 2])]:
        case(f"permute/{shape_tag(s)}-{'.'.join(map(str, dims))}", "permute", [randn(*s)], {"dims": dims})
    for s, d0, d1 in [((3, 4), 0, 1), ((2, 3, 4), 0, 2), ((2, 3, 4), -1, -2), ((2, 3, 4), 1, 1)]:
        case(f"transpose/{shape_tag(s)}-{d0}-{d1}", "transpose", [randn(*s)], {"dim0": d0, "dim1": d1})
    for s, ranges in [
        ((5, 6), [[1, 4, 1], [0, 6, 2]]),
        ((5, 6), [[-3, None, 1]]),
        ((4, 5, 3), [[0, 4, 2], [-4, -1, 1], [0, None, 2]]),
        ((7,), [[1, None, 3]]),
        ((5, 6), [[-100, 2, 1], [2, 100, 1]]),
        ((3, 4), [[0, None, 1], [-1, None, 1]]),
        ((5, 6), [[3, 1, 1]]),
    ]:
        tag = ",".join(":".join("" if v is None else str(v) for v in r) for r in ranges)
        case(f"slice/{shape_tag(s)}-[{tag}]", "slice", [randn(*s)], {"ranges": ranges})
    for s, axis, index in [((3, 4), 0, 1), ((3, 4), -1, -1), ((2, 3, 4), 1, -2), ((5,), 0, 2), ((2, 3, 4), 2, 0)]:
        case(f"select/{shape_tag(s)}-axis{axis}-index{index}", "select", [randn(*s)], {"axis": axis, "index": index})
    for shapes, axis in [([(2, 3), (4, 3)], 0), ([(2, 3), (2, 1), (2, 2)], 1), ([(2, 3, 2), (2, 3, 1)], -1),
                         ([(1, 2, 2), (2, 2, 2), (1, 2, 2)], 0), ([(3,), (2,)], 0)]:
        case(f"concat/{shape_tag(*shapes)}-axis{axis}", "concat", [randn(*s) for s in shapes], {"axis": axis})
    for shapes, axis in [([(2, 3), (2, 3)], 0), ([(2, 3), (2, 3)], 2), ([(2, 3), (2, 3)], -1),
                         ([(2, 3), (2, 3), (2, 3)], 1), ([(), (), ()], 0), ([(4,), (4,)], -2)]:
        case(f"stack/{shape_tag(*shapes)}-axis{axis}", "stack", [randn(*s) for s in shapes], {"axis": axis})
    for xs, idx_shape, axis, hi in [((3, 4), (3, 2), 1, 4), ((3, 4), (2, 4), 0, 3), ((2, 3, 4), (2, 3, 2), -1, 4),
                                    ((4, 5), (2, 3), 0, 4), ((3, 4), (3, 6), 1, 4)]:
        case(f"gather/{shape_tag(xs)}-index{shape_tag(idx_shape)}-axis{axis}", "gather",
             [randn(*xs), ints(0, hi, *idx_shape)], {"axis": axis})
    for idx, classes in [(ints(0, 4, 5), 4), (ints(0, 3, 2, 3), 3), (np.array(2, dtype=np.int64), 5)]:
        case(f"one_hot/{shape_tag(idx.shape)}-classes{classes}", "one_hot", [idx], {"classes": classes})
    for s, target in [((3, 1), [3, 4]), ((4,), [2, 3, 4]), ((), [2, 2]), ((1, 3), [2, 1, 3]), ((2, 1, 1), [2, 3, 2])]:
        case(f"expand/{shape_tag(s)}-to-{shape_tag(target)}", "expand", [randn(*s)], {"shape": target})


def matmul_cases():
    for sa, sb in [((3, 4), (4, 5)), ((2, 3, 4), (2, 4, 5)), ((2, 1, 3, 4), (5, 4, 2)), ((2, 3, 4), (4, 5)),
                   ((3, 4), (2, 4, 5)), ((4,), (4,)), ((3, 4), (4,)), ((4,), (4, 5)), ((4,), (2, 4, 3)),
                   ((2, 3, 4), (4,)), ((1, 1), (1, 1))]:
        case(f"matmul/{shape_tag(sa, sb)}", "matmul", [randn(*sa), randn(*sb)])
    case("matmul/large-64x128-128x32", "matmul", [randn(64, 128), randn(128, 32)])
    for n, i, o in [(4, 3, 5), (2, 6, 1), (1, 4, 4)]:
        case(f"linear/n{n}-in{i}-out{o}", "linear", [randn(n, i), randn(o, i), randn(o)])
    case("linear/batched-2x3x4-out5", "linear", [randn(2, 3, 4), randn(5, 4), randn(5)])


def conv_pool_cases():
    for xs, ws, stride, pad, label in [
        ((1, 1, 5, 5), (1, 1, 3, 3), 1, 0, "basic"),
        ((2, 3, 6, 6), (4, 3, 3, 3), 1, 1, "padding1"),
        ((2, 2, 7, 7), (3, 2, 3, 3), 2, 1, "stride2-padding1"),
        ((1, 2, 5, 6), (2, 2, 2, 3), 1, 0, "kernel2x3"),
        ((2, 3, 4, 4), (5, 3, 1, 1), 1, 0, "kernel1x1"),
        ((1, 2, 6, 5), (2, 2, 3, 2), 2, 0, "stride2-nonsquare"),
        ((1, 1, 3, 3), (2, 1, 3, 3), 1, 2, "padding2"),
        ((4, 3, 12, 12), (8, 3, 3, 3), 1, 1, "large"),
    ]:
        case(f"conv2d/{label}-{shape_tag(xs, ws)}", "conv2d", [randn(*xs), randn(*ws, scale=0.5), randn(ws[0])],
             {"stride": stride, "padding": pad})
    for xs, k, s, p in [((1, 1, 4, 4), 2, 2, 0), ((2, 3, 6, 6), 3, 1, 0), ((1, 2, 5, 5), 3, 2, 1),
                        ((1, 1, 7, 7), 2, 2, 0), ((2, 2, 4, 6), 2, 1, 1), ((2, 4, 8, 8), 2, 2, 0)]:
        args = {"kernel": k, "stride": s, "padding": p}
        tag = f"{shape_tag(xs)}-k{k}s{s}p{p}"
        case(f"max_pool2d/{tag}", "max_pool2d", [randn(*xs)], args)  # continuous values: no ties
        case(f"avg_pool2d/{tag}", "avg_pool2d", [randn(*xs)], args)


def softmax_cases():
    for op in ["softmax", "log_softmax"]:
        for s, axis in [((2, 5), -1), ((3, 4), 0), ((2, 3, 4), 1), ((5,), 0), ((2, 1), 1), ((2, 3, 4), -1)]:
            case(f"{op}/{shape_tag(s)}-axis{axis}", op, [randn(*s, scale=2.0)], {"axis": axis})
        logits = randn(3, 6, scale=3.0)
        case(f"{op}/temperature4-3x6", op, [logits / np.float32(4.0)], {"axis": 1})
        case(f"{op}/large-logits-3x4", op, [large_logits(3, 4)], {"axis": -1})
        case(f"{op}/all-large-negative", op, [unif(-81.0, -79.0, 2, 3)], {"axis": 1})


def loss_cases():
    for reduction in ["mean", "sum", "none"]:
        case(f"cross_entropy/4x5-{reduction}", "cross_entropy", [randn(4, 5, scale=2.0), ints(0, 5, 4)],
             {"label_smoothing": 0.0, "reduction": reduction})
    for reduction in ["mean", "none"]:
        case(f"cross_entropy/4x5-smoothing0.1-{reduction}", "cross_entropy", [randn(4, 5, scale=2.0), ints(0, 5, 4)],
             {"label_smoothing": 0.1, "reduction": reduction})
    case("cross_entropy/large-logits-3x4", "cross_entropy", [large_logits(3, 4), ints(0, 4, 3)],
         {"label_smoothing": 0.0, "reduction": "mean"})
    case("cross_entropy/large-logits-smoothing0.1", "cross_entropy", [large_logits(3, 4), ints(0, 4, 3)],
         {"label_smoothing": 0.1, "reduction": "sum"})
    case("cross_entropy/n1", "cross_entropy", [randn(1, 3), ints(0, 3, 1)],
         {"label_smoothing": 0.0, "reduction": "mean"})
    for reduction in ["mean", "sum", "none"]:
        case(f"cross_entropy/probs-3x4-{reduction}", "cross_entropy", [randn(3, 4, scale=2.0), probs(3, 4)],
             {"label_smoothing": 0.0, "reduction": reduction})
    case("cross_entropy/probs-3x4-smoothing0.1", "cross_entropy", [randn(3, 4, scale=2.0), probs(3, 4)],
         {"label_smoothing": 0.1, "reduction": "mean"})

    for reduction in ["mean", "sum", "none"]:
        case(f"nll_loss/4x5-{reduction}", "nll_loss", [log_probs(4, 5), ints(0, 5, 4)], {"reduction": reduction})

    for op in ["mse_loss", "l1_loss"]:
        for s in [(2, 3), (5,), ()]:
            for reduction in ["mean", "sum", "none"]:
                a = randn(*s)
                b = (a + away_from_zero(*s, lo=0.05, hi=1.5)).astype(np.float32)  # a != b for l1
                case(f"{op}/{shape_tag(s)}-{reduction}", op, [a, b], {"reduction": reduction})

    for reduction in ["batchmean", "sum", "mean", "none"]:
        case(f"kl_div/3x4-{reduction}", "kl_div", [log_probs(3, 4), probs(3, 4)],
             {"reduction": reduction, "log_target": False})
    target = probs(3, 5)
    target[0, 1] = target[1, 3] = target[2, 0] = target[2, 4] = 0.0
    target = (target / target.sum(axis=1, keepdims=True)).astype(np.float32)
    for reduction in ["batchmean", "none"]:
        # torch's d/d target at target == 0 is NaN (log 0), so that grad is stored as null
        case(f"kl_div/zero-targets-{reduction}", "kl_div", [log_probs(3, 5), target],
             {"reduction": reduction, "log_target": False}, null_grads=(1,))

    for s, reduction in [((4,), "mean"), ((2, 3), "mean"), ((2, 3), "sum"), ((2, 3), "none"), ((), "mean")]:
        case(f"bce_with_logits/{shape_tag(s)}-{reduction}", "bce_with_logits",
             [randn(*s, scale=2.0), unif(0.0, 1.0, *s)], {"reduction": reduction})
    logits = np.array([80.0, -80.0, 79.5, -79.5, 30.0, -30.0, 0.5, -0.5], dtype=np.float32)
    case("bce_with_logits/large-logits", "bce_with_logits",
         [logits, np.array([1, 0, 0, 1, 1, 0, 1, 0], dtype=np.float32)], {"reduction": "mean"})
    case("bce_with_logits/large-logits-none", "bce_with_logits",
         [logits, np.array([0, 1, 1, 0, 0.3, 0.7, 0.5, 0.5], dtype=np.float32)], {"reduction": "none"})

    for sa, sb, axis in [((3, 4), (3, 4), 1), ((3, 4), (1, 4), 1), ((2, 3, 4), (2, 3, 4), 1),
                         ((2, 3, 4), (2, 3, 4), -1), ((1, 8), (1, 8), 1)]:
        case(f"cosine_similarity/{shape_tag(sa, sb)}-axis{axis}", "cosine_similarity",
             [randn(*sa), randn(*sb)], {"axis": axis, "eps": 1e-8})


def norm_cases():
    for xs, ns, mean in [((3, 4), [4], 0.0), ((2, 3, 4), [3, 4], 0.0), ((2, 5), [5], 0.0),
                         ((4, 6), [6], 10.0), ((2, 2, 3), [3], 0.0)]:
        case(f"layer_norm/{shape_tag(xs)}-ns{shape_tag(ns)}" + ("-offset" if mean else ""), "layer_norm",
             [randn(*xs, mean=mean), randn(*ns, mean=1.0, scale=0.2), randn(*ns, scale=0.2)],
             {"normalized_shape": ns, "eps": 1e-5})
    for xs in [(4, 3), (2, 3, 3, 3), (8, 2), (2, 2, 1, 3)]:
        c = xs[1]
        case(f"batch_norm_train/{shape_tag(xs)}", "batch_norm_train",
             [randn(*xs, mean=0.5), randn(c, mean=1.0, scale=0.2), randn(c, scale=0.2)],
             {"eps": 1e-5, "momentum": 0.1})
    for xs in [(4, 3), (2, 3, 2, 2), (1, 2)]:
        c = xs[1]
        case(f"batch_norm_eval/{shape_tag(xs)}", "batch_norm_eval",
             [randn(*xs), randn(c, mean=1.0, scale=0.2), randn(c, scale=0.2), randn(c, scale=0.5), unif(0.5, 2.0, c)],
             {"eps": 1e-5})


# ---------------------------------------------------------------------------
# optim.json
# ---------------------------------------------------------------------------

def optim_cases():
    cases = []
    specs = [
        ("sgd/plain", "sgd", {"lr": 0.1, "momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False}),
        ("sgd/momentum0.9", "sgd", {"lr": 0.1, "momentum": 0.9, "dampening": 0.0, "weight_decay": 0.0,
                                    "nesterov": False}),
        ("sgd/nesterov-wd1e-2", "sgd", {"lr": 0.1, "momentum": 0.9, "dampening": 0.0, "weight_decay": 1e-2,
                                        "nesterov": True}),
        ("adam/default", "adam", {"lr": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0,
                                  "amsgrad": False}),
        ("adam/wd1e-2", "adam", {"lr": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 1e-2,
                                 "amsgrad": False}),
        ("adamw/wd1e-2", "adamw", {"lr": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 1e-2,
                                   "amsgrad": False}),
        ("adam/lr0.1", "adam", {"lr": 0.1, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0,
                                "amsgrad": False}),
    ]
    classes = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
    for name, kind, args in specs:
        initial = enc_input(randn(2, 3))
        grads = [enc_input(randn(2, 3)) for _ in range(4)]
        p = as_f64(initial).requires_grad_()
        kwargs = dict(args)
        if "betas" in kwargs:
            kwargs["betas"] = tuple(kwargs["betas"])
        opt = classes[kind]([p], **kwargs)
        params = []
        for g in grads:
            p.grad = as_f64(g)
            opt.step()
            params.append(enc_ref(p))
        cases.append({"name": name, "optimizer": kind, "args": args, "initial": initial,
                      "grads": grads, "params": params})

    for name, max_norm, scale in [("clip_grad_norm/clips", 1.0, 1.0), ("clip_grad_norm/no-clip", 10.0, 0.5)]:
        grads_in = [enc_input(randn(*s, scale=scale)) for s in [(2, 3), (4,), ()]]
        params = []
        for g in grads_in:
            p = torch.zeros(g["shape"], dtype=F64, requires_grad=True)
            p.grad = as_f64(g)
            params.append(p)
        total = torch.nn.utils.clip_grad_norm_(params, max_norm=max_norm, norm_type=2)
        cases.append({"name": name, "optimizer": "clip_grad_norm", "args": {"max_norm": max_norm, "norm_type": 2},
                      "grads_in": grads_in, "grads_out": [enc_ref(p.grad) for p in params],
                      "total_norm": ref_value(total)})
    return cases


# ---------------------------------------------------------------------------
# schedules.json
# ---------------------------------------------------------------------------

def schedule_cases(base_lr=0.1):
    sched = torch.optim.lr_scheduler

    def run(make, steps):
        p = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([p], lr=base_lr)
        s = make(opt)
        lrs = []
        for _ in range(steps):
            lrs.append(ref_value(opt.param_groups[0]["lr"]))
            opt.step()
            s.step()
        return lrs

    def warmup_cosine(a):
        def make(opt):
            warm = sched.LinearLR(opt, start_factor=a["start_factor"], end_factor=1.0, total_iters=a["warmup_steps"])
            cos = sched.CosineAnnealingLR(opt, T_max=a["total_steps"] - a["warmup_steps"], eta_min=a["eta_min"])
            return sched.SequentialLR(opt, [warm, cos], milestones=[a["warmup_steps"]])
        return make

    specs = [
        ("step/size5-gamma0.5", "step", {"step_size": 5, "gamma": 0.5},
         lambda a: lambda o: sched.StepLR(o, a["step_size"], a["gamma"]), 20),
        ("step/size3-gamma0.1", "step", {"step_size": 3, "gamma": 0.1},
         lambda a: lambda o: sched.StepLR(o, a["step_size"], a["gamma"]), 20),
        ("cosine/tmax20", "cosine", {"T_max": 20, "eta_min": 0.0},
         lambda a: lambda o: sched.CosineAnnealingLR(o, a["T_max"], a["eta_min"]), 20),
        ("cosine/tmax20-etamin1e-3", "cosine", {"T_max": 20, "eta_min": 1e-3},
         lambda a: lambda o: sched.CosineAnnealingLR(o, a["T_max"], a["eta_min"]), 21),
        ("cosine/tmax10-past-end", "cosine", {"T_max": 10, "eta_min": 0.0},
         lambda a: lambda o: sched.CosineAnnealingLR(o, a["T_max"], a["eta_min"]), 20),
        ("warmup_linear/5-from0.1", "warmup_linear", {"start_factor": 0.1, "end_factor": 1.0, "total_iters": 5},
         lambda a: lambda o: sched.LinearLR(o, a["start_factor"], a["end_factor"], a["total_iters"]), 20),
        ("warmup_linear/10-from0.01", "warmup_linear", {"start_factor": 0.01, "end_factor": 1.0, "total_iters": 10},
         lambda a: lambda o: sched.LinearLR(o, a["start_factor"], a["end_factor"], a["total_iters"]), 20),
        ("warmup_cosine/5-of-20", "warmup_cosine",
         {"warmup_steps": 5, "total_steps": 20, "start_factor": 0.1, "eta_min": 0.0}, warmup_cosine, 20),
        ("warmup_cosine/3-of-20-etamin1e-3", "warmup_cosine",
         {"warmup_steps": 3, "total_steps": 20, "start_factor": 0.01, "eta_min": 1e-3}, warmup_cosine, 20),
    ]
    return [{"name": name, "schedule": kind, "args": args, "base_lr": base_lr, "lrs": run(make(args), steps)}
            for name, kind, args, make, steps in specs]


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------

def write(filename, cases, out_dir=OUT_DIR):
    """One case per line: compact, yet diffs stay readable."""
    path = os.path.join(out_dir, filename)
    header = {"generator": GENERATOR, "torch": torch.__version__}
    lines = [json.dumps(c, separators=(",", ":"), allow_nan=False) for c in cases]
    head = json.dumps(header, separators=(",", ":"))[:-1]
    with open(path, "w") as f:
        f.write(head + ',"cases":[\n' + ",\n".join(lines) + "\n]}\n")
    json.load(open(path))  # sanity: the file parses
    print(f"{os.path.relpath(path, ROOT)}: {len(cases)} cases, {os.path.getsize(path) / 1024:.1f} KiB")


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    os.makedirs(NN_OUT_DIR, exist_ok=True)
    binary_cases()
    comparison_cases()
    unary_cases()
    reduction_cases()
    shape_cases()
    matmul_cases()
    conv_pool_cases()
    softmax_cases()
    loss_cases()
    norm_cases()
    names = [c["name"] for c in CASES]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        sys.exit(f"duplicate case names: {sorted(dupes)}")
    write("ops.json", CASES)
    write("optim.json", optim_cases(), NN_OUT_DIR)
    write("schedules.json", schedule_cases(), NN_OUT_DIR)


if __name__ == "__main__":
    main()
