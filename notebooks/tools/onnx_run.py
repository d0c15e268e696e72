"""Runs an ONNX model Retort exported in onnxruntime, beside what Retort computed (lesson 8).

    python tools/onnx_run.py MODEL.onnx CHECK.safetensors

CHECK.safetensors is a record the lesson saved: `x` (a batch of inputs), `logits` (Retort's outputs
for it) and Retort's `latency_1` and `latency_128` (median milliseconds for a batch of 1 and 128).
Prints how far onnxruntime's outputs are from Retort's, how often their top classes agree, and both
engines' latencies, each as it runs by default on this machine (all cores).
"""

import statistics
import sys
import time

import numpy as np
import onnxruntime as ort
from safetensors.numpy import load_file


def median_ms(session, name, x, runs):
    session.run(None, {name: x})
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        session.run(None, {name: x})
        times.append((time.perf_counter() - started) * 1e3)
    return statistics.median(times)


def main(model_path, check_path):
    check = load_file(check_path)
    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    x, retort = check["x"], check["logits"]
    ours = session.run(None, {name: x})[0]
    scale = float(np.abs(retort).max())
    agree = float((ours.argmax(axis=-1) == retort.argmax(axis=-1)).mean())
    print(f"{model_path}: onnxruntime {ort.__version__}, {len(x)} inputs")
    print(f"  largest difference from Retort's logits: {np.abs(ours - retort).max() / scale:.1e} of the largest logit")
    print(f"  top class the same as Retort's: {100 * agree:.1f}%")
    print("  median ms per batch    Retort  onnxruntime")
    for batch, runs in ((1, 201), (128, 51)):
        rows = np.ascontiguousarray(np.resize(x, (batch,) + x.shape[1:]))
        theirs = median_ms(session, name, rows, runs)
        print(f"  batch {batch:<3}             {float(check[f'latency_{batch}'][0]):7.3f}  {theirs:11.3f}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
