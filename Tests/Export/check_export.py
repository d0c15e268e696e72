#!/usr/bin/env python3
"""Checks the models ONNXExport wrote against the reference checker and onnxruntime.

Usage: check_export.py FOLDER, where FOLDER holds export-manifest.json and, for each model it
lists, export-NAME.onnx and export-NAME.json, as `RETORT_ONNX_OUT=FOLDER swift test --filter
ONNXExportFilesTests` writes them (Tests/RetortExportTests/ONNXExportFilesTests.swift).

For each model: onnx.checker (full_check, with shape inference) accepts it; its input and output
start with the symbolic dimension "batch"; onnxruntime runs it at every recorded batch size
(3 and 7, and 256 for int8 models), which proves no traced batch size is baked in.

Language models (the JSON says "sequence": true) take int64 ids [batch, sequence] and give
logits [batch, sequence, vocabulary]; both declare "sequence" as their second dimension, and they
run at lengths 8 (the length traced), 5 and 1, so no traced length is baked in either.

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
this is a share of the rows rather than every one. (For a language model a row is one position.)
When the final layer is float (a GPT's head tied to its embedding), there is no step to measure:
at least 99% of the rows must have the same argmax.
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


def check_dynamic_dims(name, model, sequence):
    """The first dimension of every input and output is "batch"; the second is "sequence" for language models."""
    expected = ["batch", "sequence"] if sequence else ["batch"]
    for value in list(model.graph.input) + list(model.graph.output):
        dims = [dim.dim_param for dim in value.type.tensor_type.shape.dim[:len(expected)]]
        if dims != expected:
            raise AssertionError(f"{name}: {value.name}'s leading dimensions are {dims}, not {expected}")


def input_dtype(model, name):
    """What onnxruntime takes for the input: int64 for token ids, else float32."""
    (value,) = [v for v in model.graph.input if v.name == name]
    return onnx.helper.tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type)


def logit_steps(model):
    """Per output: input_scale * weight_scale[o] * max_j |w[o, j]| of the Gemm making the output,
    or None when that Gemm or MatMul is float."""
    producers = {out: node for node in model.graph.node for out in node.output}
    constants = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    node = producers[model.graph.output[0].name]
    if node.op_type == "Add":  # MatMul + Add for inputs of rank above 2
        node = producers[node.input[0]]
    if node.op_type not in ("Gemm", "MatMul"):
        raise AssertionError(f"the output comes from {node.op_type}, not a Gemm or MatMul")
    # An input that no node makes is an initializer: a float weight.
    activation, weight = producers.get(node.input[0]), producers.get(node.input[1])
    if weight is not None and weight.op_type == "Transpose":
        weight = producers.get(weight.input[0])
    dequantized = [n is not None and n.op_type == "DequantizeLinear" for n in (activation, weight)]
    if not any(dequantized):
        return None
    if not all(dequantized):
        raise AssertionError("only one of the final layer's inputs is a DequantizeLinear output")
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
    sequence = case.get("sequence", False)
    check_dynamic_dims(name, model, sequence)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    dtype = input_dtype(model, case["input"])
    if sequence and dtype != np.int64:
        raise AssertionError(f"{name}: the ids are {dtype}, not int64")
    int8 = case["kind"] == "int8"
    steps = logit_steps(model) if int8 else None
    worst, agree, within, rows, worst_steps, close = 0.0, 0, 0, 0, 0.0, 0
    for run in case["cases"]:
        x, expected = array(run["input"]).astype(dtype), array(run["output"])
        (got,) = session.run([case["output"]], {case["input"]: x})
        size = f"batch {run['batch']}" + (f", length {run['sequence']}" if sequence else "")
        if got.shape != expected.shape:
            raise AssertionError(f"{name}: {size}: output {got.shape}, Retort's {expected.shape}")
        difference = np.abs(got.astype(np.float64) - expected)
        error = float(difference.max()) / max(float(np.abs(expected).max()), 1e-30)
        if not int8 and error > FLOAT_TOLERANCE:
            raise AssertionError(f"{name}: {size}: outputs differ by {error:.3g} of the largest (limit {FLOAT_TOLERANCE})")
        worst = max(worst, error)
        if int8:
            if steps is not None:
                in_steps = (difference / steps).max(axis=-1)
                worst_steps = max(worst_steps, float(in_steps.max()))
                within += int((in_steps <= 1).sum())
            agree += int((got.argmax(axis=-1) == expected.argmax(axis=-1)).sum())
            largest = max(float(np.abs(expected).max()), 1e-30)
            close += int((difference.max(axis=-1) <= FLOAT_TOLERANCE * largest).sum())
            rows += expected[..., 0].size
    sizes = "batches " + ", ".join(str(run["batch"]) for run in case["cases"])
    if sequence:
        sizes = "batch×length " + ", ".join(f"{run['batch']}×{run['sequence']}" for run in case["cases"])
    ops = sorted({node.op_type for node in model.graph.node})
    summary = f"{len(model.graph.node)} nodes ({', '.join(ops)}), {os.path.getsize(path)} bytes, {sizes}"
    if not int8:
        print(f"ok {name}: {summary}; largest relative error {worst:.2g}")
        return
    if steps is None:
        if agree < ROW_SHARE * rows:
            raise AssertionError(f"{name}: argmax agrees on {agree} of {rows} rows (need {ROW_SHARE:.0%})")
        print(f"ok {name}: {summary}; argmax agrees on {agree}/{rows} rows (the final layer is float), "
              f"{close}/{rows} within {FLOAT_TOLERANCE:g} of the largest output, largest difference {worst:.2g}")
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
