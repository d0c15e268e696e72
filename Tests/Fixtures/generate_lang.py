"""Generate reference fixtures for RetortLang: distillation losses, safetensors
interop files and data-loader files.

Run with the torch venv (see scripts/torch-venv), which also needs safetensors:

    PY=$(scripts/torch-venv) && "$PY" -m pip install safetensors
    "$PY" Tests/Fixtures/generate_lang.py                # everything
    "$PY" Tests/Fixtures/generate_lang.py prelude data   # only some parts

Parts (prelude under Tests/RetortLangTests/Fixtures/, the others under
Tests/RetortNNTests/Fixtures/, beside the loaders they test):

  prelude      prelude.json: value and gradients of each prelude loss.
  safetensors  safetensors/{mlp,bn,metadata}.safetensors + interop.json.
  data         data/: MNIST IDX files (plain, gzipped, truncated), .npy files,
               CSV files, and data.json with what a loader must return.

Conventions follow Tests/Fixtures/generate.py (whose number helpers are reused):
float32 inputs are written as their shortest round-trip decimal, references are
computed in float64 from exactly those float32 values and rounded to 9
significant digits, everything is seeded, and there is one JSON case per line.

prelude.json case:
  {"name", "loss", "inputs": {arg: tensor}, "args": {...},
   "output": scalar tensor (shape []), "grads": {arg: tensor | null}}
inputs are keyed by the loss's argument name, in the loss's argument order.
grads holds d loss / d input for every float input that requires grad, null for
integer inputs (labels), and no entry at all for float inputs that are held
constant (multi_kd's teachers t1, t2, t3).
"""

import copy
import gzip
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from generate import as_f64, enc_input, enc_ref, f32_value

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LANG_DIR = os.path.join(ROOT, "Tests", "RetortLangTests", "Fixtures")
NN_DIR = os.path.join(ROOT, "Tests", "RetortNNTests", "Fixtures")
ST_DIR = os.path.join(NN_DIR, "safetensors")
DATA_DIR = os.path.join(NN_DIR, "data")
GENERATOR = "Tests/Fixtures/generate_lang.py"

torch.set_num_threads(1)  # fixed summation order for reproducible float64 results
F64 = torch.float64


def relpath(path):
    return os.path.relpath(path, ROOT)


def write_cases(path, cases, header):
    """One case per line, same layout as generate.py's write()."""
    lines = [json.dumps(c, separators=(",", ":"), allow_nan=False) for c in cases]
    head = json.dumps(header, separators=(",", ":"))[:-1]
    with open(path, "w") as f:
        f.write(head + ',"cases":[\n' + ",\n".join(lines) + "\n]}\n")
    json.load(open(path))  # sanity: the file parses
    print(f"{relpath(path)}: {len(cases)} cases, {os.path.getsize(path) / 1024:.1f} KiB")


def write_keyed(path, header, key, entries):
    """{header..., key: {name: entry, ...}} with one entry per line."""
    head = json.dumps(header, separators=(",", ":"))[:-1]
    lines = [json.dumps(k) + ":" + json.dumps(v, separators=(",", ":"), allow_nan=False)
             for k, v in entries.items()]
    with open(path, "w") as f:
        f.write(head + f',"{key}":{{\n' + ",\n".join(lines) + "\n}}\n")
    json.load(open(path))
    print(f"{relpath(path)}: {len(entries)} entries, {os.path.getsize(path) / 1024:.1f} KiB")


# ===========================================================================
# 1. Prelude losses
# ===========================================================================

rng = np.random.default_rng(20240615)


def randn(*shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def labels(n, c):
    return rng.integers(0, c, size=n).astype(np.int64)


def large_logits(n, c, mag=30.0):
    """Rows mixing values near +mag and -mag with moderate ones."""
    a = rng.standard_normal((n, c)) * 3.0
    u = rng.random((n, c))
    a = np.where(u < 0.3, mag - rng.random((n, c)), a)
    a = np.where(u > 0.7, -mag + rng.random((n, c)), a)
    return a.astype(np.float32)


def kl_batchmean(log_q, p):
    return F.kl_div(log_q, p, reduction="batchmean")


def loss_kd(x, a):
    T, alpha = a["T"], a["alpha"]
    soft = kl_batchmean(F.log_softmax(x["s"] / T, 1), F.softmax(x["t"] / T, 1))
    return alpha * T * T * soft + (1 - alpha) * F.cross_entropy(x["s"], x["y"])


def loss_soft_kd(x, a):
    T = a["T"]
    return T * T * kl_batchmean(F.log_softmax(x["s"] / T, 1), F.softmax(x["t"] / T, 1))


def loss_reverse_kd(x, a):
    # KL(student || teacher): the student's distribution is the kl_div target.
    T, alpha = a["T"], a["alpha"]
    soft = kl_batchmean(F.log_softmax(x["t"] / T, 1), F.softmax(x["s"] / T, 1))
    return alpha * T * T * soft + (1 - alpha) * F.cross_entropy(x["s"], x["y"])


def loss_hint(x, a):
    return F.mse_loss(F.linear(x["fs"], x["w"], x["b"]), x["ft"])


def attention_map(f):
    n = f.shape[0]
    return F.normalize(f.pow(2).mean(1).view(n, -1), dim=1)  # eps 1e-12


def loss_attention(x, a):
    return (attention_map(x["fs"]) - attention_map(x["ft"])).pow(2).mean()


def loss_dkd(x, a):
    """Decoupled KD, following the structure of the authors' reference implementation."""
    s, t, y = x["s"], x["t"], x["y"]
    alpha, beta, T = a["alpha"], a["beta"], a["T"]
    n, c = s.shape
    gt = F.one_hot(y, c).to(F64)
    other = 1.0 - gt
    ps = F.softmax(s / T, 1)
    pt = F.softmax(t / T, 1)
    bs = torch.stack([(ps * gt).sum(1), (ps * other).sum(1)], 1)
    bt = torch.stack([(pt * gt).sum(1), (pt * other).sum(1)], 1)
    tckd = F.kl_div(torch.log(bs), bt, reduction="sum") * T * T / n
    log_q = F.log_softmax(s / T - 1000.0 * gt, 1)
    # The teacher's masked softmax is exactly 0 at the target class (exp(-1000)
    # underflows even in float64), and autograd through kl_div's xlogy(p, p) at
    # p = 0 gives log(0) * 0 = NaN for the whole teacher row. The log-target form
    # has the same value (0 * finite = 0) and gives the limit gradient, which
    # is what the t grads record. s grads are identical either way.
    nckd = F.kl_div(log_q, F.log_softmax(t / T - 1000.0 * gt, 1), reduction="sum",
                    log_target=True) * T * T / n
    literal = F.kl_div(log_q, F.softmax(t / T - 1000.0 * gt, 1), reduction="sum") * T * T / n
    assert abs(literal.item() - nckd.item()) <= 1e-12 * max(1.0, abs(literal.item()))
    return alpha * tckd + beta * nckd


def loss_multi_kd(x, a):
    T, alpha, w = a["T"], a["alpha"], a["weights"]
    p = sum(wi * F.softmax(x[k] / T, 1) for wi, k in zip(w, ("t1", "t2", "t3")))
    soft = kl_batchmean(F.log_softmax(x["s"] / T, 1), p)
    return alpha * T * T * soft + (1 - alpha) * F.cross_entropy(x["s"], x["y"])


def loss_cross_entropy_smooth(x, a):
    return F.cross_entropy(x["s"], x["y"], label_smoothing=a["label_smoothing"])


LOSSES = {
    "kd": loss_kd,
    "soft_kd": loss_soft_kd,
    "reverse_kd": loss_reverse_kd,
    "hint": loss_hint,
    "attention": loss_attention,
    "dkd": loss_dkd,
    "multi_kd": loss_multi_kd,
    "cross_entropy_smooth": loss_cross_entropy_smooth,
}

# Float inputs that are constants (no gradient stored).
CONSTANT_INPUTS = {"multi_kd": {"t1", "t2", "t3"}}

PRELUDE = []


def loss_case(name, loss, inputs, args):
    """inputs: ordered {arg name: float32 or int64 numpy array}."""
    encoded, tensors = {}, {}
    for key, arr in inputs.items():
        arr = np.asarray(arr)
        encoded[key] = enc_input(arr)
        if arr.dtype.kind in "iu":
            tensors[key] = torch.from_numpy(arr.astype(np.int64))
        else:
            wants = key not in CONSTANT_INPUTS.get(loss, set())
            tensors[key] = as_f64(encoded[key]).requires_grad_(wants)
    out = LOSSES[loss](tensors, args)
    assert out.dim() == 0 and torch.isfinite(out), (name, out)
    wrt = [k for k, t in tensors.items() if t.requires_grad]
    grads = dict(zip(wrt, torch.autograd.grad(out, [tensors[k] for k in wrt])))
    entry_grads = {}
    for key, t in tensors.items():
        if key in grads:
            g = grads[key]
            assert torch.isfinite(g).all(), (name, key)
            entry_grads[key] = enc_ref(g)
        elif not t.is_floating_point():
            entry_grads[key] = None
    PRELUDE.append({"name": name, "loss": loss, "inputs": encoded, "args": args,
                    "output": enc_ref(out), "grads": entry_grads})


def logit_pair(n, c, large=False, t_scale=1.5):
    if large:
        return large_logits(n, c), large_logits(n, c)
    return randn(n, c, scale=2.0), randn(n, c, scale=t_scale * 2.0)


def prelude_cases():
    # Hinton KD: (N, C, T, alpha, large)
    for n, c, T, alpha, large in [(4, 5, 2.0, 0.5, False), (2, 3, 1.0, 0.25, False),
                                  (8, 10, 4.0, 0.875, False), (3, 7, 8.0, 0.75, True)]:
        s, t = logit_pair(n, c, large)
        tag = f"N{n}-C{c}-T{T:g}-a{alpha:g}" + ("-large" if large else "")
        loss_case(f"kd/{tag}", "kd", {"s": s, "t": t, "y": labels(n, c)}, {"T": T, "alpha": alpha})

    for n, c, T, large in [(3, 4, 1.0, False), (6, 9, 4.0, False), (2, 10, 8.0, False), (5, 6, 2.0, True)]:
        s, t = logit_pair(n, c, large)
        tag = f"N{n}-C{c}-T{T:g}" + ("-large" if large else "")
        loss_case(f"soft_kd/{tag}", "soft_kd", {"s": s, "t": t}, {"T": T})

    for n, c, T, alpha, large in [(4, 6, 2.0, 0.5, False), (7, 3, 4.0, 0.9, False),
                                  (2, 8, 1.0, 0.25, False), (5, 10, 1.0, 0.75, True)]:
        s, t = logit_pair(n, c, large)
        tag = f"N{n}-C{c}-T{T:g}-a{alpha:g}" + ("-large" if large else "")
        loss_case(f"reverse_kd/{tag}", "reverse_kd", {"s": s, "t": t, "y": labels(n, c)},
                  {"T": T, "alpha": alpha})

    # FitNets hint: (N, ds, dt, feature scale)
    for n, ds, dt, scale in [(4, 3, 5, 1.0), (2, 6, 4, 1.0), (8, 5, 5, 1.0), (3, 4, 7, 30.0)]:
        fs = randn(n, ds, scale=scale)
        ft = randn(n, dt, scale=scale)
        w = randn(dt, ds, scale=1.0 / math.sqrt(ds))
        b = randn(dt, scale=0.1)
        loss_case(f"hint/N{n}-ds{ds}-dt{dt}" + ("-large" if scale > 1 else ""), "hint",
                  {"fs": fs, "ft": ft, "w": w, "b": b}, {})

    # Attention transfer: (N, Cs, Ct, H, W, scale)
    for n, cs, ct, h, w, scale in [(2, 3, 3, 4, 4, 1.0), (3, 2, 5, 3, 5, 1.0),
                                   (4, 6, 4, 2, 3, 1.0), (2, 4, 8, 5, 5, 30.0)]:
        fs = randn(n, cs, h, w, scale=scale)
        ft = randn(n, ct, h, w, scale=scale)
        loss_case(f"attention/N{n}-Cs{cs}-Ct{ct}-H{h}-W{w}" + ("-large" if scale > 1 else ""),
                  "attention", {"fs": fs, "ft": ft}, {})

    # DKD: (N, C, T, alpha, beta, large)
    for n, c, T, alpha, beta, large in [(4, 5, 4.0, 1.0, 8.0, False), (2, 3, 1.0, 1.0, 2.0, False),
                                        (8, 10, 2.0, 0.5, 0.5, False), (3, 7, 1.0, 1.0, 8.0, True)]:
        s, t = logit_pair(n, c, large)
        tag = f"N{n}-C{c}-T{T:g}-a{alpha:g}-b{beta:g}" + ("-large" if large else "")
        loss_case(f"dkd/{tag}", "dkd", {"s": s, "t": t, "y": labels(n, c)},
                  {"alpha": alpha, "beta": beta, "T": T})

    # Multi-teacher KD: (N, C, T, alpha, weights, large)
    third = 1.0 / 3.0
    for n, c, T, alpha, weights, large in [(4, 5, 2.0, 0.5, [0.5, 0.25, 0.25], False),
                                           (3, 8, 4.0, 0.75, [third, third, third], False),
                                           (6, 3, 1.0, 0.25, [0.625, 0.25, 0.125], False),
                                           (2, 10, 8.0, 0.875, [0.2, 0.3, 0.5], True)]:
        s = large_logits(n, c) if large else randn(n, c, scale=2.0)
        ts = [large_logits(n, c) if large else randn(n, c, scale=3.0) for _ in range(3)]
        tag = f"N{n}-C{c}-T{T:g}-a{alpha:g}-w" + "_".join(f"{w:.3g}" for w in weights) + ("-large" if large else "")
        loss_case(f"multi_kd/{tag}", "multi_kd",
                  {"s": s, "t1": ts[0], "t2": ts[1], "t3": ts[2], "y": labels(n, c)},
                  {"T": T, "alpha": alpha, "weights": weights})

    for n, c, large in [(4, 5, False), (2, 3, False), (8, 10, False), (5, 7, True)]:
        s = large_logits(n, c) if large else randn(n, c, scale=2.0)
        loss_case(f"cross_entropy_smooth/N{n}-C{c}" + ("-large" if large else ""), "cross_entropy_smooth",
                  {"s": s, "y": labels(n, c)}, {"label_smoothing": 0.1})

    names = [c["name"] for c in PRELUDE]
    dupes = {x for x in names if names.count(x) > 1}
    if dupes:
        sys.exit(f"duplicate case names: {sorted(dupes)}")


def gen_prelude():
    os.makedirs(LANG_DIR, exist_ok=True)
    prelude_cases()
    write_cases(os.path.join(LANG_DIR, "prelude.json"), PRELUDE,
                {"generator": GENERATOR, "torch": torch.__version__,
                 "note": "grads are d loss / d input; null for integer inputs; multi_kd's t1..t3 "
                         "are constants and have none. dkd's t grads are the limit values (the "
                         "masked teacher probability is exactly 0, where plain autograd through "
                         "kl_div gives NaN): see loss_dkd in the generator"})


# ===========================================================================
# 2. safetensors interop
# ===========================================================================

def st_header(path):
    """(header length N, parsed header in file order, raw header bytes)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    head = raw[8:8 + n]
    return n, json.loads(head.decode("utf-8")), head, len(raw)


def st_tensor_entries(path, state):
    """Per tensor, in header order: name, dtype, shape, data_offsets, values."""
    _, header, _, _ = st_header(path)
    out = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        t = state[name]
        if t.is_floating_point():
            data = [f32_value(v) for v in t.detach().numpy().ravel()]
        else:
            data = [int(v) for v in t.numpy().ravel()]
        out.append({"name": name, "dtype": info["dtype"], "shape": info["shape"],
                    "data_offsets": info["data_offsets"], "data": data})
    return out


def eval_output_f64(model, x32):
    """Eval-mode forward in float64 from the float32 parameters."""
    m = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        return m(torch.from_numpy(x32.astype(np.float64)))


def gen_safetensors():
    from safetensors import __version__ as st_version
    from safetensors.torch import save_file

    os.makedirs(ST_DIR, exist_ok=True)
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    bn = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 2))
    with torch.no_grad():  # affine params away from their 1/0 init, so a swapped tensor shows
        bn[1].weight.copy_(torch.rand(6) + 0.5)
        bn[1].bias.copy_(torch.randn(6) * 0.2)
    bn.train()
    with torch.no_grad():
        for _ in range(3):  # running stats move away from (0, 1); num_batches_tracked = 3
            bn(torch.randn(16, 4) * 2.0 + 0.5)
    bn.eval()
    mlp.eval()

    xrng = np.random.default_rng(7)
    x_mlp = (xrng.standard_normal((5, 4))).astype(np.float32)
    x_bn = (xrng.standard_normal((5, 4)) * 2.0 + 0.5).astype(np.float32)

    specs = [
        ("mlp.safetensors", mlp, x_mlp, None,
         "nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)); torch.manual_seed(0) then default init",
         [{"type": "linear", "prefix": "0", "in": 4, "out": 8}, {"type": "relu"},
          {"type": "linear", "prefix": "2", "in": 8, "out": 3}]),
        ("bn.safetensors", bn, x_bn, None,
         "nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 2)); "
         "created right after the mlp under the same seed, BatchNorm weight set to rand(6) + 0.5 and "
         "bias to randn(6) * 0.2, then 3 training-mode forwards of "
         "torch.randn(16, 4) * 2 + 0.5 (momentum 0.1), then eval(): BatchNorm uses running stats, eps 1e-5",
         [{"type": "linear", "prefix": "0", "in": 4, "out": 6},
          {"type": "batchnorm1d", "prefix": "1", "features": 6, "eps": 1e-5},
          {"type": "relu"}, {"type": "linear", "prefix": "3", "in": 6, "out": 2}]),
        ("metadata.safetensors", mlp, x_mlp, {"format": "pt", "source": "retort fixture"},
         "the mlp.safetensors model, saved with metadata={'format': 'pt', 'source': 'retort fixture'}",
         [{"type": "linear", "prefix": "0", "in": 4, "out": 8}, {"type": "relu"},
          {"type": "linear", "prefix": "2", "in": 8, "out": 3}]),
    ]
    entries = {}
    for fname, model, x, meta, words, layers in specs:
        path = os.path.join(ST_DIR, fname)
        state = model.state_dict()
        save_file(state, path, metadata=meta)
        os.chmod(path, 0o644)  # safetensors creates files 0600
        n, header, raw_head, size = st_header(path)
        tensors = st_tensor_entries(path, state)
        with torch.no_grad():
            out32 = model(torch.from_numpy(x)).numpy()
        out64 = eval_output_f64(model, x)
        assert np.abs(out64.numpy() - out32).max() < 1e-5
        entries[fname] = {
            "architecture": words,
            "layers": layers,
            "state_dict_order": list(state.keys()),
            "header_length": n,
            "file_size": size,
            "metadata": header.get("__metadata__"),
            "tensors": tensors,
            "input": enc_input(x),
            "output": enc_ref(out64),
        }
    write_keyed(os.path.join(ST_DIR, "interop.json"),
                {"generator": GENERATOR, "torch": torch.__version__, "safetensors": st_version,
                 "note": "tensors are listed in header order; data = the file's values "
                         "(float32 shortest decimal, ints exact); output = eval-mode logits "
                         "computed in float64 from the float32 parameters, 9 significant digits"},
                "files", entries)


# ===========================================================================
# 3. Data-loader fixtures
# ===========================================================================

def idx_bytes(arr, magic):
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    head = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in arr.shape)
    return head + arr.tobytes()


def write_bytes(name, data):
    with open(os.path.join(DATA_DIR, name), "wb") as f:
        f.write(data)


def enc_exact(a):
    """Exact encoding of an array for data.json (float32 shortest, float64 repr, ints)."""
    a = np.asarray(a)
    if a.dtype.kind in "iu":
        data = [int(v) for v in a.ravel(order="C")]
    elif a.dtype == np.float32 or a.dtype == np.dtype(">f4"):
        data = [f32_value(v) for v in a.ravel(order="C")]
    else:
        data = [float(v) for v in a.ravel(order="C")]  # repr round-trips float64
    return {"shape": list(a.shape), "dtype": a.dtype.str, "data": data}


def npy_header_facts(path):
    with open(path, "rb") as f:
        raw = f.read()
    major, minor = raw[6], raw[7]
    if major == 1:
        (hlen,) = struct.unpack("<H", raw[8:10])
        start = 10
    else:
        (hlen,) = struct.unpack("<I", raw[8:12])
        start = 12
    header = raw[start:start + hlen].decode("latin1")
    return {"version": [major, minor], "header_len": hlen, "data_offset": start + hlen,
            "header": header, "file_size": len(raw)}


def gen_data():
    os.makedirs(DATA_DIR, exist_ok=True)
    drng = np.random.default_rng(4242)
    files = {}

    # --- MNIST IDX ---------------------------------------------------------
    images = drng.integers(0, 256, size=(6, 4, 5), dtype=np.uint8)
    images[0, 0, 0], images[0, 0, 1] = 0, 255  # both extremes present
    lab = np.array([3, 0, 9, 7, 1, 5], dtype=np.uint8)
    img_bytes = idx_bytes(images, 0x00000803)
    lab_bytes = idx_bytes(lab, 0x00000801)
    write_bytes("images.idx3-ubyte", img_bytes)
    write_bytes("labels.idx1-ubyte", lab_bytes)
    write_bytes("images.idx3-ubyte.gz", gzip.compress(img_bytes, compresslevel=9, mtime=0))
    write_bytes("labels.idx1-ubyte.gz", gzip.compress(lab_bytes, compresslevel=9, mtime=0))
    truncated = img_bytes[:16 + 3 * 4 * 5]
    write_bytes("truncated.idx3-ubyte", truncated)
    img_entry = {"format": "idx", "magic": "0x00000803", "element": "uint8", "dims": [6, 4, 5],
                 "layout": "count, rows, cols; row-major pixels", "header_bytes": 16,
                 "file_size": len(img_bytes),
                 "expected": {"shape": [6, 4, 5], "dtype": "|u1", "data": [int(v) for v in images.ravel()]}}
    lab_entry = {"format": "idx", "magic": "0x00000801", "element": "uint8", "dims": [6], "header_bytes": 8,
                 "file_size": len(lab_bytes),
                 "expected": {"shape": [6], "dtype": "|u1", "data": [int(v) for v in lab]}}
    files["images.idx3-ubyte"] = img_entry
    files["labels.idx1-ubyte"] = lab_entry
    files["images.idx3-ubyte.gz"] = dict(img_entry, compression="gzip", file_size=None,
                                         uncompressed_size=len(img_bytes),
                                         same_as="images.idx3-ubyte")
    files["labels.idx1-ubyte.gz"] = dict(lab_entry, compression="gzip", file_size=None,
                                         uncompressed_size=len(lab_bytes),
                                         same_as="labels.idx1-ubyte")
    for k in ("images.idx3-ubyte.gz", "labels.idx1-ubyte.gz"):
        files[k]["file_size"] = os.path.getsize(os.path.join(DATA_DIR, k))
    files["truncated.idx3-ubyte"] = {
        "format": "idx", "magic": "0x00000803", "dims": [6, 4, 5], "header_bytes": 16,
        "file_size": len(truncated),
        "error": {"kind": "truncated", "expected_data_bytes": 6 * 4 * 5, "actual_data_bytes": 3 * 4 * 5,
                  "expected_file_size": len(img_bytes), "complete_images": 3,
                  "message": "header declares 6 images of 4x5 (120 data bytes) but only 60 follow the 16-byte header"},
    }

    # --- .npy ----------------------------------------------------------------
    npy = {}
    npy["f32_c.npy"] = (drng.standard_normal((3, 4)).astype(np.float32), {})
    npy["f64.npy"] = (np.array([0.1, -2.5, 1e-300, 3.141592653589793, 12345678.9], dtype=np.float64), {})
    npy["i64.npy"] = (np.array([[-3, 0, 7], [2 ** 40, -(2 ** 33), 123456789]], dtype=np.int64), {})
    npy["f32_fortran.npy"] = (np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3) * 1.5 - 2.0), {})
    npy["f32_bigendian.npy"] = (np.array([1.0, -0.5, 3.25, 1e-3], dtype=">f4"), {})
    npy["f32_v2.npy"] = (drng.standard_normal((2, 2)).astype(np.float32), {"version": (2, 0)})
    for name, (arr, opts) in npy.items():
        path = os.path.join(DATA_DIR, name)
        if "version" in opts:
            with open(path, "wb") as f:
                np.lib.format.write_array(f, arr, version=opts["version"])
        else:
            np.save(path, arr)
        back = np.load(path)
        assert back.dtype == arr.dtype and back.shape == arr.shape and np.array_equal(back, arr)
        facts = npy_header_facts(path)
        entry = {"format": "npy", "version": facts["version"], "header_len": facts["header_len"],
                 "data_offset": facts["data_offset"], "header": facts["header"],
                 "file_size": facts["file_size"],
                 "fortran_order": bool(arr.flags.f_contiguous and not arr.flags.c_contiguous),
                 "expected": enc_exact(arr)}
        if entry["fortran_order"]:
            entry["note"] = ("expected.data is in logical row-major (C) order; the file stores "
                             "the elements column-major, as in stored_order_data")
            entry["stored_order_data"] = [f32_value(v) for v in arr.ravel(order="F")]
        files[name] = entry

    # --- CSV -------------------------------------------------------------------
    # iris_like.csv: header + 6 rows, 3 float columns and a string label.
    feats = np.round(drng.uniform(0.0, 8.0, (6, 3)), 1).astype(np.float32)
    feats[1, 2] = np.float32(-0.25)
    feats[4, 0] = np.float32(3.0)  # written as "3" (integer-looking float)
    names = ["y", "x", "z", "y", "z", "x"]  # first-seen order (y, x, z) differs from sorted

    def fmt(v):
        s = repr(f32_value(v))
        return s[:-2] if s.endswith(".0") else s

    iris_lines = ["a,b,c,label"] + [",".join(fmt(v) for v in row) + "," + lbl for row, lbl in zip(feats, names)]
    write_text("iris_like.csv", iris_lines)
    classes = sorted(set(names))
    files["iris_like.csv"] = {
        "format": "csv", "header": ["a", "b", "c", "label"], "rows": 6, "line_terminator": "LF",
        "expected": {"features": {"shape": [6, 3], "data": [f32_value(v) for v in feats.ravel()]},
                     "labels": names, "classes_sorted": classes,
                     "label_indices_sorted": [classes.index(x) for x in names],
                     "classes_first_seen": list(dict.fromkeys(names)),
                     "label_indices_first_seen": [list(dict.fromkeys(names)).index(x) for x in names]},
    }

    # numbers.csv: no header, 4 numeric columns, last one an integer class.
    num = drng.standard_normal((5, 3)).astype(np.float32)
    num[2, 1] = np.float32(2.5e-3)
    cls = np.array([0, 2, 1, 1, 0], dtype=np.int64)
    num_lines = []
    for i, (row, c) in enumerate(zip(num, cls)):
        cells = [fmt(v) for v in row]
        if i == 2:
            cells[1] = "2.5e-3"  # exponent notation
        num_lines.append(",".join(cells) + f",{c}")
    write_text("numbers.csv", num_lines)
    files["numbers.csv"] = {
        "format": "csv", "header": None, "rows": 5, "columns": 4,
        "expected": {"features": {"shape": [5, 3], "data": [f32_value(v) for v in num.ravel()]},
                     "labels": {"shape": [5], "data": [int(c) for c in cls]},
                     "all_columns": {"shape": [5, 4],
                                     "data": [x for row, c in zip(num, cls)
                                              for x in [f32_value(v) for v in row] + [float(c)]]}},
    }

    # bad_row.csv: no header, 4 columns; line 3 has only 3 fields.
    bad_rows = ["1.5,2,3.25,0", "0.5,-1,2,1", "4,5.5,1", "2,2,2,2"]
    write_text("bad_row.csv", bad_rows)
    files["bad_row.csv"] = {
        "format": "csv", "header": None,
        "error": {"kind": "field_count", "line": 3, "row": 3, "fields": 3, "expected_fields": 4,
                  "text": bad_rows[2],
                  "message": "row 3 (line 3) has 3 fields, expected 4"},
        "note": "lines and rows are 1-based; there is no header, so row = line",
    }

    # bad_value.csv: no header, 4 columns; line 2 column 2 is not a number.
    bad_vals = ["1,2,3,0", "4,abc,6,1", "7,8,9,2"]
    write_text("bad_value.csv", bad_vals)
    files["bad_value.csv"] = {
        "format": "csv", "header": None,
        "error": {"kind": "not_a_number", "line": 2, "row": 2, "column": 2, "value": "abc",
                  "message": "row 2 (line 2), column 2: 'abc' is not a number"},
        "note": "lines, rows and columns are 1-based; there is no header, so row = line",
    }

    write_keyed(os.path.join(DATA_DIR, "data.json"),
                {"generator": GENERATOR, "numpy": np.__version__,
                 "note": "expected.data is row-major (C order); float32 values in shortest "
                         "round-trip decimal, float64 values exact (repr), integers exact"},
                "files", files)


def write_text(name, lines):
    with open(os.path.join(DATA_DIR, name), "w", newline="\n") as f:
        f.write("\n".join(lines) + "\n")


PARTS = {"prelude": gen_prelude, "safetensors": gen_safetensors, "data": gen_data}


def main(argv):
    parts = argv or list(PARTS)
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        sys.exit(f"unknown part(s) {unknown}; choose from {list(PARTS)}")
    for p in parts:
        PARTS[p]()


if __name__ == "__main__":
    main(sys.argv[1:])
