"""Generate PyTorch reference fixtures for Retort's quantisation.

Run with the torch venv (see scripts/torch-venv):

    /root/.venvs/torch/bin/python Tests/Fixtures/generate_quant.py

Writes Tests/RetortNNTests/Fixtures/quant.json:
- fake_quant: torch.fake_quantize_per_tensor_affine and torch.fake_quantize_per_channel_affine
  on float32 inputs (ties at half steps, values outside the grid), forward values and the
  straight-through gradient for a random cotangent, every number float32-exact.
- qparams: MinMaxObserver / PerChannelMinMaxObserver scales and zero points for the grids Retort
  uses (activations quint8 0..127 affine, weights qint8 -127..127 symmetric).
- qat_linear: one forward and backward of a Linear whose input is fake-quantised per tensor and
  whose weight is fake-quantised per channel, as Retort's qat() layer computes it.
Everything is seeded, so re-running gives the same file.
"""

import json
import os

import numpy as np
import torch
from torch.ao.quantization.observer import MinMaxObserver, PerChannelMinMaxObserver

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "Tests", "RetortNNTests", "Fixtures", "quant.json")
rng = np.random.default_rng(20261127)
torch.set_num_threads(1)


def f32(a):
    """float32 values as the shortest decimals that round-trip."""
    a = np.asarray(a, dtype=np.float32)
    return {"shape": list(a.shape), "data": [float(str(x)) for x in a.ravel()]}


def tensor(a):
    return torch.from_numpy(np.asarray(a, dtype=np.float32).copy())


def with_ties(shape, scale, zero, spread):
    """Random values, a quarter of them exactly on half steps (round-half-to-even matters)."""
    x = rng.uniform(-spread, spread, shape).astype(np.float32)
    k = rng.integers(-200, 200, shape)
    ties = ((k + 0.5) * np.float32(scale)).astype(np.float32)
    pick = rng.random(shape) < 0.25
    return np.where(pick, ties, x).astype(np.float32)


def fake_quant_cases():
    cases = []
    for name, shape, scale, zero, qmin, qmax, spread in [
        ("activations-0-127", (6, 7), 0.05, 9, 0, 127, 8.0),
        ("activations-zero-0", (5, 5), 0.013, 0, 0, 127, 2.0),
        ("weights-narrow", (4, 9), 0.02, 0, -127, 127, 3.0),
        ("uint8-full", (3, 11), 0.1, 128, 0, 255, 20.0),
    ]:
        x = with_ties(shape, scale, zero, spread)
        xt = tensor(x).requires_grad_(True)
        y = torch.fake_quantize_per_tensor_affine(xt, scale, zero, qmin, qmax)
        cot = rng.standard_normal(shape).astype(np.float32)
        (g,) = torch.autograd.grad((y * tensor(cot)).sum(), xt)
        cases.append({
            "name": name, "kind": "per_tensor", "x": f32(x), "scales": [float(np.float32(scale))],
            "zero_points": [zero], "qmin": qmin, "qmax": qmax, "axis": None,
            "output": f32(y.detach().numpy()), "cotangent": f32(cot), "grad": f32(g.numpy()),
        })
    for name, shape, axis, qmin, qmax in [
        ("weights-per-channel-axis0", (5, 8), 0, -127, 127),
        ("conv-weights-per-channel", (4, 2, 3, 3), 0, -127, 127),
        ("per-channel-axis1", (3, 4, 5), 1, 0, 127),
    ]:
        channels = shape[axis]
        scales = rng.uniform(0.01, 0.05, channels).astype(np.float32)
        zeros = [0] * channels if qmin < 0 else [int(z) for z in rng.integers(0, 40, channels)]
        x = rng.uniform(-5, 5, shape).astype(np.float32)
        xt = tensor(x).requires_grad_(True)
        y = torch.fake_quantize_per_channel_affine(
            xt, torch.from_numpy(scales), torch.tensor(zeros, dtype=torch.int32), axis, qmin, qmax)
        cot = rng.standard_normal(shape).astype(np.float32)
        (g,) = torch.autograd.grad((y * tensor(cot)).sum(), xt)
        cases.append({
            "name": name, "kind": "per_channel", "x": f32(x), "scales": [float(s) for s in scales],
            "zero_points": zeros, "qmin": qmin, "qmax": qmax, "axis": axis,
            "output": f32(y.detach().numpy()), "cotangent": f32(cot), "grad": f32(g.numpy()),
        })
    return cases


def qparams_cases():
    cases = []
    for name, x in [
        ("positive", rng.uniform(0.5, 6, (50,))),
        ("mixed", rng.uniform(-3, 7, (50,))),
        ("negative", rng.uniform(-4, -1, (50,))),
    ]:
        obs = MinMaxObserver(dtype=torch.quint8, qscheme=torch.per_tensor_affine, quant_min=0, quant_max=127)
        obs(tensor(x))
        scale, zero = obs.calculate_qparams()
        cases.append({"name": "activation-" + name, "x": f32(x), "scale": float(scale), "zero_point": int(zero)})
    w = (rng.standard_normal((6, 10)) * rng.uniform(0.1, 2, (6, 1))).astype(np.float32)
    obs = PerChannelMinMaxObserver(
        ch_axis=0, dtype=torch.qint8, qscheme=torch.per_channel_symmetric, quant_min=-127, quant_max=127)
    obs(tensor(w))
    scales, zeros = obs.calculate_qparams()
    cases.append({
        "name": "weight-per-channel", "x": f32(w), "scales": [float(s) for s in scales],
        "zero_points": [int(z) for z in zeros],
    })
    return cases


def qat_linear_case():
    x = rng.uniform(-1, 3, (8, 12)).astype(np.float32)
    w = (rng.standard_normal((5, 12)) * 0.4).astype(np.float32)
    b = (rng.standard_normal(5) * 0.1).astype(np.float32)
    xt, wt, bt = tensor(x).requires_grad_(True), tensor(w).requires_grad_(True), tensor(b).requires_grad_(True)
    act = MinMaxObserver(dtype=torch.quint8, qscheme=torch.per_tensor_affine, quant_min=0, quant_max=127)
    act(xt.detach())
    a_scale, a_zero = act.calculate_qparams()
    wobs = PerChannelMinMaxObserver(
        ch_axis=0, dtype=torch.qint8, qscheme=torch.per_channel_symmetric, quant_min=-127, quant_max=127)
    wobs(wt.detach())
    w_scales, w_zeros = wobs.calculate_qparams()
    xq = torch.fake_quantize_per_tensor_affine(xt, float(a_scale), int(a_zero), 0, 127)
    wq = torch.fake_quantize_per_channel_affine(wt, w_scales.float(), w_zeros.int(), 0, -127, 127)
    y = torch.nn.functional.linear(xq, wq, bt)
    cot = rng.standard_normal(y.shape).astype(np.float32)
    gx, gw, gb = torch.autograd.grad((y * tensor(cot)).sum(), [xt, wt, bt])
    return {
        "x": f32(x), "weight": f32(w), "bias": f32(b), "output": f32(y.detach().numpy()), "cotangent": f32(cot),
        "grad_x": f32(gx.numpy()), "grad_weight": f32(gw.numpy()), "grad_bias": f32(gb.numpy()),
        "input_scale": float(a_scale), "input_zero_point": int(a_zero),
    }


def main():
    out = {
        "generator": "Tests/Fixtures/generate_quant.py", "torch": torch.__version__,
        "fake_quant": fake_quant_cases(), "qparams": qparams_cases(), "qat_linear": qat_linear_case(),
    }
    with open(OUT, "w") as f:
        json.dump(out, f, indent=None, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {OUT}: {len(out['fake_quant'])} fake-quant cases, {len(out['qparams'])} observer cases")


if __name__ == "__main__":
    main()
