"""Check a Retort-written .safetensors file against the torch interop fixture.

    python Tests/Fixtures/check_safetensors.py FILE.safetensors ARCH [options]

ARCH is `mlp` or `bn` (the models described in
Tests/RetortNNTests/Fixtures/safetensors/interop.json). Needs only numpy and
safetensors (no torch).

What is checked:
  1. The file's raw layout: 8-byte little-endian header length N, N bytes of
     JSON, then a data buffer exactly covered by the tensors' data_offsets.
  2. Tensor names, dtypes and shapes equal those of torch's file for ARCH
     (all F32). BatchNorm's `num_batches_tracked` (I64, shape [] in torch's
     file) may be absent; if present it must be I64 with shape [].
  3. The forward pass rebuilt in numpy (float64, from the file's float32
     values) on interop.json's input x is compared with a reference output;
     the maximum |difference| is printed and the exit status is 1 if it
     exceeds the tolerance (default 1e-5).

The reference output is interop.json's torch output unless --reference is
given, as either a file (.json holding {"shape", "data"} or a (nested) list,
or .npy) or the numbers themselves, comma- or space-separated, row-major
([5, C] for the 5-row input).

Exit status: 0 pass, 1 mismatch, 2 unreadable file or bad usage.
"""

import argparse
import json
import os
import struct
import sys

import numpy as np
from safetensors.numpy import load_file

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_INTEROP = os.path.join(os.path.dirname(HERE), "RetortNNTests", "Fixtures", "safetensors",
                               "interop.json")
ARCH_FILES = {"mlp": "mlp.safetensors", "bn": "bn.safetensors"}
OPTIONAL = {"num_batches_tracked"}  # last name component of keys a writer may leave out
BN_EPS = 1e-5


class CheckError(Exception):
    """The file cannot be read as safetensors, or bad usage (exit 2)."""


class Mismatch(CheckError):
    """The file reads, but its tensors differ from torch's file (exit 1)."""


def read_header(path):
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise CheckError(f"{path}: {len(raw)} bytes, shorter than the 8-byte length prefix")
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw):
        raise CheckError(f"{path}: header length {n} runs past the end of the {len(raw)}-byte file")
    try:
        header = json.loads(raw[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckError(f"{path}: header is not UTF-8 JSON: {e}")
    buffer_len = len(raw) - 8 - n
    spans = sorted((tuple(v["data_offsets"]), k) for k, v in header.items() if k != "__metadata__")
    pos = 0
    for (begin, end), name in spans:
        if begin != pos or end < begin:
            raise CheckError(f"{path}: tensor {name!r} data_offsets [{begin}, {end}] do not continue at {pos}")
        pos = end
    if pos != buffer_len:
        raise CheckError(f"{path}: tensors cover {pos} bytes of a {buffer_len}-byte data buffer")
    return n, header


def expected_tensors(entry):
    return {t["name"]: (t["dtype"], t["shape"]) for t in entry["tensors"]}


def check_layout(path, entry):
    n, header = read_header(path)
    got = {k: (v["dtype"], v["shape"]) for k, v in header.items() if k != "__metadata__"}
    want = expected_tensors(entry)
    problems = []
    for name, (dtype, shape) in want.items():
        if name not in got:
            if name.rsplit(".", 1)[-1] in OPTIONAL:
                print(f"note: optional tensor {name!r} ({dtype} {shape}) is absent")
                continue
            problems.append(f"missing tensor {name!r} ({dtype} {shape})")
        elif got[name] != (dtype, shape):
            problems.append(f"tensor {name!r}: {got[name][0]} {got[name][1]}, expected {dtype} {shape}")
    for name in got:
        if name not in want:
            problems.append(f"unexpected tensor {name!r} ({got[name][0]} {got[name][1]})")
    order = [k for k in header if k != "__metadata__"]
    print(f"header: {n} bytes (N % 8 = {n % 8}), {len(order)} tensors, "
          f"metadata {header.get('__metadata__')!r}")
    if problems:
        raise Mismatch("; ".join(problems))


def linear(x, params, prefix):
    w = params[f"{prefix}.weight"].astype(np.float64)
    b = params[f"{prefix}.bias"].astype(np.float64)
    return x @ w.T + b


def batchnorm_eval(x, params, prefix):
    p = {k: params[f"{prefix}.{k}"].astype(np.float64) for k in ("weight", "bias", "running_mean", "running_var")}
    return (x - p["running_mean"]) / np.sqrt(p["running_var"] + BN_EPS) * p["weight"] + p["bias"]


def forward(arch, params, x):
    x = np.asarray(x, dtype=np.float64)
    if arch == "mlp":
        return linear(np.maximum(linear(x, params, "0"), 0.0), params, "2")
    if arch == "bn":
        h = np.maximum(batchnorm_eval(linear(x, params, "0"), params, "1"), 0.0)
        return linear(h, params, "3")
    raise CheckError(f"unknown ARCH {arch!r}")


def tensor_from(obj):
    if isinstance(obj, dict):
        return np.array(obj["data"], dtype=np.float64).reshape(obj["shape"])
    return np.array(obj, dtype=np.float64)


def load_reference(spec, shape):
    if os.path.exists(spec):
        if spec.endswith(".npy"):
            ref = np.load(spec).astype(np.float64)
        else:
            with open(spec) as f:
                ref = tensor_from(json.load(f))
    else:
        try:
            ref = np.array([float(v) for v in spec.replace(",", " ").split()], dtype=np.float64)
        except ValueError:
            raise CheckError(f"--reference {spec!r} is neither a file nor a list of numbers")
    if ref.size != int(np.prod(shape)):
        raise CheckError(f"reference has {ref.size} values, expected shape {list(shape)}")
    return ref.reshape(shape)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file", help="the .safetensors file to check")
    ap.add_argument("arch", choices=sorted(ARCH_FILES), help="model architecture")
    ap.add_argument("--reference", help="expected output: a .json/.npy file or the numbers themselves")
    ap.add_argument("--interop", default=DEFAULT_INTEROP, help="path of interop.json")
    ap.add_argument("--tolerance", type=float, default=1e-5, help="max allowed |difference| (default 1e-5)")
    args = ap.parse_args(argv)

    try:
        with open(args.interop) as f:
            entry = json.load(f)["files"][ARCH_FILES[args.arch]]
        check_layout(args.file, entry)
        params = load_file(args.file)
        x = tensor_from(entry["input"])
        out = forward(args.arch, params, x)
        if args.reference is not None:
            ref = load_reference(args.reference, out.shape)
            source = "--reference"
        else:
            ref = tensor_from(entry["output"])
            source = f"{os.path.basename(args.interop)} ({ARCH_FILES[args.arch]})"
        if ref.shape != out.shape:
            raise CheckError(f"reference shape {list(ref.shape)} differs from output shape {list(out.shape)}")
    except Mismatch as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1
    except (CheckError, OSError, KeyError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    diff = float(np.abs(out - ref).max()) if out.size else 0.0
    print(f"max |difference| vs {source}: {diff:.3g} (tolerance {args.tolerance:g})")
    if not diff <= args.tolerance:  # also fails on NaN
        print("FAIL", file=sys.stderr)
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
