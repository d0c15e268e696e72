#!/usr/bin/env python3
"""Checks the ONNX files Retort's writer made against the reference library and runtime.

Usage: check_onnx_writer.py FOLDER, where FOLDER holds NAME.onnx and NAME.json as
`RETORT_ONNX_OUT=FOLDER swift test --filter RetortExportTests` writes them (see
Tests/RetortExportTests/ONNXCheckModelsTests.swift). For each model: onnx.load parses it,
onnx.checker (full_check, with shape inference) accepts it, onnx re-serializes it to the same
bytes (so fields are in onnx's order and encoded as onnx encodes them), the batch dimension is
the symbol "batch", and onnxruntime's output on the stored input matches the expected output to
1e-5 relative to the largest expected magnitude. Exits non-zero on the first model that fails.
"""
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort

MODELS = ["mlp", "cnn", "qdq"]
TOLERANCE = 1e-5


def array(entry):
    return np.asarray(entry["data"], dtype=np.float32).reshape(entry["dims"])


def check(folder, name):
    path = os.path.join(folder, name + ".onnx")
    with open(path, "rb") as f:
        written = f.read()
    model = onnx.load_from_string(written)
    onnx.checker.check_model(model, full_check=True)
    if model.SerializeToString() != written:
        raise AssertionError(f"{name}: onnx re-serializes the model to different bytes")
    for value in model.graph.input:
        first = value.type.tensor_type.shape.dim[0]
        if first.dim_param != "batch":
            raise AssertionError(f"{name}: input {value.name}'s first dimension is {first}, not 'batch'")

    with open(os.path.join(folder, name + ".json")) as f:
        case = json.load(f)
    inputs = {key: array(entry) for key, entry in case["inputs"].items()}
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = list(case["outputs"])
    results = session.run(names, inputs)
    worst = 0.0
    for key, got in zip(names, results):
        expected = array(case["outputs"][key])
        if got.shape != expected.shape:
            raise AssertionError(f"{name}: output {key} has shape {got.shape}, expected {expected.shape}")
        scale = max(float(np.abs(expected).max()), 1e-30)
        error = float(np.abs(got.astype(np.float64) - expected).max()) / scale
        if error > TOLERANCE:
            raise AssertionError(f"{name}: output {key} differs by {error:.3g} of its largest value (limit {TOLERANCE})")
        worst = max(worst, error)
    ops = sorted({node.op_type for node in model.graph.node})
    print(f"ok {name}: ir {model.ir_version}, opset {model.opset_import[0].version}, {len(written)} bytes, "
          f"{', '.join(ops)}; largest relative error {worst:.2g}")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: check_onnx_writer.py FOLDER")
    folder = sys.argv[1]
    print(f"onnx {onnx.__version__}, onnxruntime {ort.__version__}")
    failed = 0
    for name in MODELS:
        try:
            check(folder, name)
        except Exception as error:  # report every model, then fail
            failed += 1
            print(f"FAILED {name}: {error}")
    print(f"{len(MODELS) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
