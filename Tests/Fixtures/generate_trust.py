"""Generate the PyTorch references for "models and training you can trust".

Run with the torch venv (scripts/torch-venv, plus `pip install safetensors`):

    /root/.venvs/torch/bin/python Tests/Fixtures/generate_trust.py

Writes Tests/RetortLangTests/Fixtures/trust/:

  residual.safetensors  the state_dict of an nn.Module with a residual block (a Linear and a
                        BatchNorm1d as attributes) and a two-branch block (an nn.ModuleList),
                        trained 3 steps so the batch-norm statistics and num_batches_tracked move.
  fc_mlp.safetensors    a hand-written nn.Module MLP whose state_dict says fc1.weight, fc2.bias, ...
  trust.json            {"residual": {retort, keys, input, output},
                         "named_mlp": {retort, names, input, output},
                         "optimizers": [{name, retort, steps, initial, grads, params, lrs}]}

residual.retort is the Retort program that builds the same architecture; output is the module's
eval-mode logits on input, computed in float64 from the float32 parameters. Each optimizer case
is an optimizer with a torch.optim.lr_scheduler stepped once per step and clip_grad_norm_ before
each step; grads[k] is the gradient at step k, params[k] the parameter after it, lrs[k] the rate
step k used; retort is the Retort expression that makes the same optimizer. Conventions (float32
inputs as shortest decimals, float64 references to 9 digits) follow generate.py.
"""

import json
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

from generate import as_f64, enc_input, enc_ref, ref_value

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "Tests", "RetortLangTests", "Fixtures", "trust")
GENERATOR = "Tests/Fixtures/generate_trust.py"
torch.set_num_threads(1)
rng = np.random.default_rng(20261127)

RESIDUAL_RETORT = """\
let lin = linear(16, 16)
let bn = batch_norm(16)
fn res(x) = x + relu(bn(lin(x)))
let blocks = [linear(16, 16), linear(16, 16)]
fn two(x) = blocks[0](x) + tanh(blocks[1](x))
let m = sequential(linear(64, 16), relu, res, two, linear(16, 10))
"""


class Res(nn.Module):
    """fn res(x) = x + relu(bn(lin(x)))"""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(16, 16)
        self.bn = nn.BatchNorm1d(16)

    def forward(self, x):
        return x + F.relu(self.bn(self.lin(x)))


class Two(nn.Module):
    """fn two(x) = blocks[0](x) + tanh(blocks[1](x))"""

    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([nn.Linear(16, 16), nn.Linear(16, 16)])

    def forward(self, x):
        return self.blocks[0](x) + torch.tanh(self.blocks[1](x))


def residual_module():
    return nn.Sequential(nn.Linear(64, 16), nn.ReLU(), Res(), Two(), nn.Linear(16, 10))


def residual():
    torch.manual_seed(3)
    m = residual_module()
    opt = torch.optim.SGD(m.parameters(), lr=0.05)
    m.train()
    for _ in range(3):  # moves weights, running statistics, and num_batches_tracked to 3
        x = torch.randn(32, 64)
        y = torch.randint(0, 10, (32,))
        opt.zero_grad()
        F.cross_entropy(m(x), y).backward()
        opt.step()
    m.eval()
    path = os.path.join(OUT, "residual.safetensors")
    save_file(m.state_dict(), path)
    os.chmod(path, 0o644)
    x = rng.standard_normal((5, 64)).astype(np.float32)
    m64 = residual_module().double()
    m64.load_state_dict(m.state_dict())
    m64.eval()
    with torch.no_grad():
        out = m64(torch.from_numpy(x.astype(np.float64)))
    return {"retort": RESIDUAL_RETORT, "keys": list(m.state_dict().keys()), "input": enc_input(x),
            "output": enc_ref(out)}


class Net(nn.Module):
    """The usual hand-written PyTorch MLP: attributes fc1, fc2, not nn.Sequential indices."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.fc2 = nn.Linear(8, 3)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


def named_mlp():
    torch.manual_seed(5)
    m = Net().eval()
    path = os.path.join(OUT, "fc_mlp.safetensors")
    save_file(m.state_dict(), path)
    os.chmod(path, 0o644)
    x = rng.standard_normal((3, 4)).astype(np.float32)
    m64 = Net().double()
    m64.load_state_dict(m.state_dict())
    with torch.no_grad():
        out = m64(torch.from_numpy(x.astype(np.float64)))
    return {"retort": "let m = mlp([4, 8, 3])", "names": '{fc1: "0", fc2: "2"}', "input": enc_input(x),
            "output": enc_ref(out)}


def optimizer_cases():
    sched = torch.optim.lr_scheduler
    steps = 8

    def warmup_cosine(o):
        warm = sched.LinearLR(o, start_factor=0.1, end_factor=1.0, total_iters=2)
        cos = sched.CosineAnnealingLR(o, T_max=steps - 2, eta_min=1e-3)
        return sched.SequentialLR(o, [warm, cos], milestones=[2])

    specs = [
        ("adam/warmup_cosine/clip1", lambda p: torch.optim.Adam([p], lr=0.1), warmup_cosine, 1.0,
         "adam(lr: 0.1, schedule: warmup_cosine_lr(warmup: 2, steps: 8, start: 0.1, min: 0.001))"),
        ("sgd-momentum/step/clip0.5", lambda p: torch.optim.SGD([p], lr=0.1, momentum=0.9),
         lambda o: sched.StepLR(o, step_size=3, gamma=0.5), 0.5,
         "sgd(lr: 0.1, momentum: 0.9, schedule: step_lr(every: 3, gamma: 0.5))"),
        ("adamw/cosine", lambda p: torch.optim.AdamW([p], lr=0.05, weight_decay=0.01),
         lambda o: sched.CosineAnnealingLR(o, T_max=steps), None,
         "adamw(lr: 0.05, weight_decay: 0.01, schedule: cosine_lr(steps: 8))"),
        ("adam/warmup_linear", lambda p: torch.optim.Adam([p], lr=0.02),
         lambda o: sched.LinearLR(o, start_factor=0.25, total_iters=4), None,
         "adam(lr: 0.02, schedule: warmup_lr(steps: 4, start: 0.25))"),
        # lr as a function of the progress p = k / (steps - 1): LambdaLR with the same function.
        ("sgd/lr-of-progress", lambda p: torch.optim.SGD([p], lr=0.1),
         lambda o: sched.LambdaLR(o, lambda k: 1 - 0.5 * k / (steps - 1)), None,
         "sgd(lr: fn(p) = 0.1 * (1 - 0.5 * p))"),
    ]
    cases = []
    for name, make_opt, make_sched, clip, retort in specs:
        initial = enc_input(rng.standard_normal((2, 3)).astype(np.float32))
        grads = [enc_input((rng.standard_normal((2, 3)) * 2).astype(np.float32)) for _ in range(steps)]
        p = as_f64(initial).requires_grad_()
        opt = make_opt(p)
        s = make_sched(opt)
        params, lrs = [], []
        for g in grads:
            p.grad = as_f64(g)
            if clip is not None:
                torch.nn.utils.clip_grad_norm_([p], max_norm=clip)
            lrs.append(ref_value(opt.param_groups[0]["lr"]))
            opt.step()
            s.step()
            params.append(enc_ref(p))
        cases.append({"name": name, "retort": retort, "clip": clip, "steps": steps, "initial": initial,
                      "grads": grads, "params": params, "lrs": lrs})
    return cases


def main():
    os.makedirs(OUT, exist_ok=True)
    data = {"generator": GENERATOR, "torch": torch.__version__, "residual": residual(),
            "named_mlp": named_mlp(), "optimizers": optimizer_cases()}
    path = os.path.join(OUT, "trust.json")
    with open(path, "w") as f:
        json.dump(data, f, separators=(",", ":"))
        f.write("\n")
    print(f"{os.path.relpath(path, ROOT)}: {os.path.getsize(path) / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
