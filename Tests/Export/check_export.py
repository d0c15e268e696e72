#!/usr/bin/env python3
"""Checks the models ONNXExport wrote against the reference checker and onnxruntime.

Usage: check_export.py FOLDER, where FOLDER holds export-manifest.json and, for each model it
lists, export-NAME.onnx and export-NAME.json, as `RETORT_ONNX_OUT=FOLDER swift test --filter
ONNXExportFilesTests` writes them (Tests/RetortExportTests/ONNXExportFilesTests.swift).

For each model: onnx.checker (full_check, with shape inference) accepts it; its input and output
start with the symbolic dimension "batch"; onnxruntime runs it at every recorded batch size
(3 and 7, and 256 for int8 models), which proves no traced batch size is baked in.

Float models: onnxruntime's outputs equal Retort's to 1e-5 of the largest output.

int8 models: Retort and onnxruntime quantise the same way (round half to even, clamped to the
7-bit grid 0..127) and onnxruntime runs the linear layers as integer kernels, so outputs differ
only where a value lands on the other side of a rounding boundary: float operations between the
int8 layers (a Conv, which onnxruntime computes in float; batch norm; activations) may differ in
the last bit, and Retort multiplies by 1/scale where QuantizeLinear divides by it. Such a flip
moves one input of the next int8 layer by one step. The quantisation step of output o is the most
that one step of the final layer's input can move it:
    step[o] = input_scale * weight_scale[o] * max_j |w[o, j]|
(scales and int8 weights read from the DequantizeLinear nodes feeding the final Gemm or MatMul).
At least 99% of the rows must have every output within step[o] of Retort's, and at least 99% the
same argmax; a flip before the final layer can move a row by more than one step, which is why
this is a share of the rows rather than every one.
"""
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

FLOAT_TOLERANCE = 1e-5
ROW_SHARE = 0.99


def array(entry):
    return np.asarray(entry["data"], dtype=np.float32).reshape(entry["dims"])


def check_batch_dims(name, model):
    for value in list(model.graph.input) + list(model.graph.output):
        first = value.type.tensor_type.shape.dim[0]
        if first.dim_param != "batch":
            raise AssertionError(f"{name}: {value.name}'s first dimension is {first}, not 'batch'")


def logit_steps(model):
    """Per output: input_scale * weight_scale[o] * max_j |w[o, j]| of the Gemm making the output."""
    producers = {out: node for node in model.graph.node for out in node.output}
    constants = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    node = producers[model.graph.output[0].name]
    if node.op_type == "Add":  # MatMul + Add for inputs of rank above 2
        node = producers[node.input[0]]
    if node.op_type not in ("Gemm", "MatMul"):
        raise AssertionError(f"the output comes from {node.op_type}, not a Gemm or MatMul")
    activation, weight = producers[node.input[0]], producers[node.input[1]]
    if weight.op_type == "Transpose":
        weight = producers[weight.input[0]]
    if activation.op_type != "DequantizeLinear" or weight.op_type != "DequantizeLinear":
        raise AssertionError("the final layer's inputs are not DequantizeLinear outputs")
    input_scale = float(constants[activation.input[1]])
    w = constants[weight.input[0]].astype(np.float64)
    weight_scales = np.broadcast_to(constants[weight.input[1]].astype(np.float64), (w.shape[0],))
    return input_scale * weight_scales * np.abs(w.reshape(w.shape[0], -1)).max(axis=1)


def check(folder, name):
    with open(os.path.join(folder, f"export-{name}.json")) as f:
        case = json.load(f)
    path = os.path.join(folder, case["onnx"])
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    check_batch_dims(name, model)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    int8 = case["kind"] == "int8"
    steps = logit_steps(model) if int8 else None
    worst, agree, within, rows, worst_steps = 0.0, 0, 0, 0, 0.0
    for run in case["cases"]:
        x, expected = array(run["input"]), array(run["output"])
        (got,) = session.run([case["output"]], {case["input"]: x})
        if got.shape != expected.shape:
            raise AssertionError(f"{name}: batch {run['batch']}: output {got.shape}, Retort's {expected.shape}")
        difference = np.abs(got.astype(np.float64) - expected)
        worst = max(worst, float(difference.max()) / max(float(np.abs(expected).max()), 1e-30))
        if int8:
            in_steps = (difference / steps).max(axis=-1)
            worst_steps = max(worst_steps, float(in_steps.max()))
            within += int((in_steps <= 1).sum())
            agree += int((got.argmax(axis=-1) == expected.argmax(axis=-1)).sum())
            rows += expected.shape[0]
    batches = ", ".join(str(run["batch"]) for run in case["cases"])
    ops = sorted({node.op_type for node in model.graph.node})
    summary = f"{len(model.graph.node)} nodes ({', '.join(ops)}), {os.path.getsize(path)} bytes, batches {batches}"
    if not int8:
        if worst > FLOAT_TOLERANCE:
            raise AssertionError(f"{name}: outputs differ by {worst:.3g} of the largest (limit {FLOAT_TOLERANCE})")
        print(f"ok {name}: {summary}; largest relative error {worst:.2g}")
        return
    if within < ROW_SHARE * rows:
        raise AssertionError(f"{name}: {within} of {rows} rows are within one quantisation step (need {ROW_SHARE:.0%})")
    if agree < ROW_SHARE * rows:
        raise AssertionError(f"{name}: argmax agrees on {agree} of {rows} rows (need {ROW_SHARE:.0%})")
    print(f"ok {name}: {summary}; argmax agrees on {agree}/{rows} rows, {within}/{rows} within one step, "
          f"largest difference {worst_steps:.3g} steps ({worst:.2g} of the largest output)")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: check_export.py FOLDER")
    folder = sys.argv[1]
    with open(os.path.join(folder, "export-manifest.json")) as f:
        names = json.load(f)["models"]
    print(f"onnx {onnx.__version__}, onnxruntime {ort.__version__}")
    failed = 0
    for name in names:
        try:
            check(folder, name)
        except Exception as error:  # report every model, then fail
            failed += 1
            print(f"FAILED {name}: {error}")
    print(f"{len(names) - failed} passed, {failed} failed")
    sys.exit(1 if failed or not names else 0)


if __name__ == "__main__":
    main()
