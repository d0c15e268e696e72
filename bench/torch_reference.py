"""PyTorch CPU reference figures for Retort's benchmark.

Each training workload times full steps (forward, loss, backward, optimizer
step, zero grad) on random float32 data made once with torch.manual_seed(0);
warm-up steps are not timed. samples/s = batch * steps / seconds.
The infer-* workloads time a forward pass without gradients, float32 or int8.
The sgemm workloads report GFLOPS of torch.mm (2*M*K*N flops per product);
their names read sgemm/MxKxN for an [M,K] @ [K,N] product.

    /root/.venvs/torch/bin/python bench/torch_reference.py --threads 1 --seconds 3
    /root/.venvs/torch/bin/python bench/torch_reference.py --threads 2 --json
"""

import argparse
import ctypes
import gc
import warnings
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

import core_latency
import serving

WARMUP_STEPS = 3
# torch.ao.quantization still works in 2.13 but warns that it moves to torchao.
warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", category=UserWarning, module="torch.ao")


def mlp(*sizes):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def classifier_step(model, x, y, optimizer):
    """One supervised step with cross-entropy; returns the step function."""
    def step():
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return step


def make_mlp(sizes, batch):
    def build():
        model = mlp(*sizes)
        x = torch.randn(batch, sizes[0])
        y = torch.randint(0, sizes[-1], (batch,))
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        return classifier_step(model, x, y, opt)
    return build


def cnn(channels=(1, 16, 32), size=28):
    """Two 3x3 convolutions (channels in -> out -> out), each with ReLU and 2x2 max pooling, then a
    Linear to 10 classes, on size x size images: the same as Retort's Benchmarks.cnn."""
    c = channels
    return nn.Sequential(
        nn.Conv2d(c[0], c[1], 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(c[1], c[2], 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(c[2] * (size // 4) * (size // 4), 10),
    )


def make_cnn(batch=64, channels=(1, 16, 32), size=28):
    def build():
        model = cnn(channels, size)
        x = torch.randn(batch, channels[0], size, size)
        y = torch.randint(0, 10, (batch,))
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        return classifier_step(model, x, y, opt)
    return build


def make_distill(batch=128, temperature=4.0, alpha=0.7):
    def build():
        teacher = mlp(784, 512, 512, 10).eval()
        student = mlp(784, 64, 10)
        x = torch.randn(batch, 784)
        y = torch.randint(0, 10, (batch,))
        opt = torch.optim.Adam(student.parameters(), lr=1e-3)
        t = temperature

        def step():
            with torch.no_grad():
                teacher_logits = teacher(x)
            s = student(x)
            soft = F.kl_div(F.log_softmax(s / t, dim=1), F.softmax(teacher_logits / t, dim=1),
                            reduction="batchmean")
            loss = alpha * t * t * soft + (1 - alpha) * F.cross_entropy(s, y)
            loss.backward()
            opt.step()
            opt.zero_grad()
        return step
    return build


class Block(nn.Module):
    """nanoGPT's pre-norm block, written for this benchmark: fused QKV attention with a causal
    mask and an optional key-value cache, then a 4x MLP with exact GELU."""

    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.ln_1 = nn.LayerNorm(width)
        self.c_attn = nn.Linear(width, 3 * width)
        self.c_proj = nn.Linear(width, width)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def attend(self, x, cache):
        n, t, d = x.shape
        q, k, v = self.c_attn(x).split(d, dim=2)
        q, k, v = (z.view(n, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        if cache is not None:
            if "k" in cache:
                k = torch.cat([cache["k"], k], dim=2)
                v = torch.cat([cache["v"], v], dim=2)
            cache["k"], cache["v"] = k, v
        # With a cache, the new queries see every cached key (they come last), so only a
        # multi-token step needs the causal mask.
        y = F.scaled_dot_product_attention(q, k, v, is_causal=t > 1)
        return self.c_proj(y.transpose(1, 2).contiguous().view(n, t, d))

    def forward(self, x, cache=None):
        x = x + self.attend(self.ln_1(x), cache)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """Token and learned position embeddings, the blocks, a final layer norm, the head tied to
    the token embedding: the model Retort's gpt(...) builds."""

    def __init__(self, vocab, block, layers, heads, width):
        super().__init__()
        self.wte = nn.Embedding(vocab, width)
        self.wpe = nn.Embedding(block, width)
        self.h = nn.ModuleList(Block(width, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(width)

    def forward(self, ids, caches=None, offset=0):
        t = ids.shape[1]
        x = self.wte(ids) + self.wpe(torch.arange(offset, offset + t))
        for i, block in enumerate(self.h):
            x = block(x, None if caches is None else caches[i])
        return self.ln_f(x) @ self.wte.weight.T


def make_gpt_training(batch=64):
    def build():
        model = GPT(27, 16, 4, 4, 64)
        x = torch.randint(0, 27, (batch, 16))
        y = torch.randint(0, 27, (batch, 16))
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)

        def step():
            loss = F.cross_entropy(model(x).view(-1, 27), y.view(-1), ignore_index=-1)
            loss.backward()
            opt.step()
            opt.zero_grad()
        return step
    return build


def make_gpt_generation(count=64, block=16):
    """Sampling `count` sequences at once with a key-value cache, every position filled."""
    def build():
        model = GPT(27, block, 4, 4, 64).eval()

        def step():
            with torch.inference_mode():
                ids = torch.zeros(count, 1, dtype=torch.long)
                caches = [{} for _ in model.h]
                new, offset = ids, 0
                while ids.shape[1] < block:
                    logits = model(new, caches, offset)[:, -1, :]
                    offset = ids.shape[1]
                    new = torch.multinomial(F.softmax(logits, dim=-1), 1)
                    ids = torch.cat([ids, new], dim=1)
        return step
    return build


def make_sgemm(m, k, n):
    def build():
        a = torch.randn(m, k)
        b = torch.randn(k, n)
        out = torch.empty(m, n)
        return lambda: torch.mm(a, b, out=out)
    return build


class Quantized(nn.Module):
    """Static int8 quantisation with PyTorch's eager-mode API: quantise the input, int8 layers, dequantise."""

    def __init__(self, float_model):
        super().__init__()
        self.quant = torch.ao.quantization.QuantStub()
        self.body = float_model
        self.dequant = torch.ao.quantization.DeQuantStub()

    def forward(self, x):
        return self.dequant(self.body(self.quant(x)))


def make_inference(kind, batch, int8):
    """A forward pass without gradients: the float model, or its int8 version (quantize_dynamic for
    the MLP, as a user quantises Linear layers; static x86 quantisation for the CNN, calibrated on x)."""
    def build():
        model = (mlp(784, 512, 512, 10) if kind == "mlp" else cnn()).eval()
        x = torch.randn(batch, 784) if kind == "mlp" else torch.randn(batch, 1, 28, 28)
        if int8 and kind == "mlp":
            model = torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
        elif int8:
            model = Quantized(model).eval()
            model.qconfig = torch.ao.quantization.get_default_qconfig("x86")
            torch.ao.quantization.prepare(model, inplace=True)
            model(x)
            torch.ao.quantization.convert(model, inplace=True)

        def step():
            with torch.inference_mode():
                model(x)
        return step
    return build


def reset_peak_memory():
    """Return freed heap to the system and restart Linux's peak-RSS count (VmHWM) at the current size."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_memory_mb():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


# name -> (builder, batch size or None for sgemm, flops per step or None)
WORKLOADS = {
    "mlp-784-512-512-10/b128": (make_mlp((784, 512, 512, 10), 128), 128, None),
    "mlp-784-512-512-10/b32": (make_mlp((784, 512, 512, 10), 32), 32, None),
    "mlp-784-512-512-10/b512": (make_mlp((784, 512, 512, 10), 512), 512, None),
    "cnn-cifar-32x32/b128": (make_cnn(128, channels=(3, 32, 64), size=32), 128, None),
    "mlp-64-32-10/b64": (make_mlp((64, 32, 10), 64), 64, None),
    "cnn-28x28/b64": (make_cnn(64), 64, None),
    "distill-784/b128": (make_distill(128), 128, None),
    "gpt-names-4x64/b64": (make_gpt_training(64), 64, None),
    # Tokens per step: 64 sequences of 15 sampled positions.
    "generate-gpt-names-4x64/b64": (make_gpt_generation(64, 16), 64 * 15, None),
}
for _batch, _kind in [(1, "mlp"), (128, "mlp"), (64, "cnn")]:
    _name = f"infer-mlp-784-512-512-10/b{_batch}" if _kind == "mlp" else f"infer-cnn-28x28/b{_batch}"
    for _int8 in (False, True):
        WORKLOADS[_name + ("/int8" if _int8 else "/f32")] = (make_inference(_kind, _batch, _int8), _batch, None)
for _m, _k, _n in [(128, 784, 512), (128, 512, 512), (512, 512, 512), (1024, 1024, 1024)]:
    WORKLOADS[f"sgemm/{_m}x{_k}x{_n}"] = (make_sgemm(_m, _k, _n), None, 2.0 * _m * _k * _n)


def measure(build, seconds):
    """Warm up, then run whole steps until the time budget is spent."""
    torch.manual_seed(0)
    step = build()
    for _ in range(WARMUP_STEPS):
        step()
    steps = 0
    start = time.perf_counter()
    while True:
        step()
        steps += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return steps, elapsed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--seconds", type=float, default=3.0, help="time budget per workload")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help="run only workloads whose name contains NAME (repeatable)")
    serving.add_argument(parser)
    core_latency.add_argument(parser)
    args = parser.parse_args(argv)
    core_latency.check_arguments(parser, args)

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    names = [n for n in WORKLOADS if not args.only or any(s in n for s in args.only)]
    if not names:
        parser.error("no workload matches --only")

    if args.serve:
        serving.announce(names)
    if not args.json:
        print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {args.seconds:g} s per workload")
        print(f"{'workload':<26} {'rate':>14} {'unit':<10} {'steps':>7} {'seconds':>8}")
    sys.stdout.flush()
    if not args.serve:
        for name in names:
            run(name, args)
        return
    serving.serve(names, lambda name: run(name, args))


def run(name, args):
    """Measures one workload and prints its row."""
    build, batch, flops = WORKLOADS[name]
    reset_peak_memory()
    (steps, elapsed), apart = core_latency.around(args, torch.get_num_threads(),
                                                  lambda: measure(build, args.seconds))
    row = {"workload": name}
    peak = peak_memory_mb()
    if peak is not None:
        row["peak_rss_mb"] = round(peak, 1)
    if batch is not None:
        row["samples_per_s"] = round(batch * steps / elapsed, 1)
        rate, unit = row["samples_per_s"], "samples/s"
        if name.startswith("generate-"):
            row["unit"] = unit = "tokens/s"
    else:
        row["gflops"] = round(flops * steps / elapsed / 1e9, 2)
        rate, unit = row["gflops"], "GFLOPS"
    row.update(steps=steps, seconds=round(elapsed, 3), threads=torch.get_num_threads(), **apart)
    if args.json:
        print(json.dumps(row))
    else:
        print(f"{name:<26} {rate:>14,.1f} {unit:<10} {steps:>7} {elapsed:>8.2f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
