"""Generate PyTorch reference fixtures for Retort's language-model pieces.

Run with the torch venv (see scripts/torch-venv), which also needs safetensors:

    /root/.venvs/torch/bin/python Tests/Fixtures/generate_lm.py

Writes Tests/RetortNNTests/Fixtures/lm/:
  ops.json          embedding, layer norm, exact GELU, nanoGPT's causal self-attention, token
                    cross-entropy, TRL's generalized JSD and the masked forward/reverse KD losses.
  gpt.safetensors   a small nanoGPT-style model (random weights, lm_head tied to wte).
  gpt.json          its config, logits for fixed ids, and a 5-step AdamW training trajectory.

Conventions follow Tests/Fixtures/generate.py (whose number helpers are reused): float32 inputs
are written as their shortest round-trip decimal, references are computed in float64 from exactly
those float32 values and rounded to 9 significant digits, everything is seeded, one case per line.

ops.json case: {name, op, inputs, args, output, cotangent, grads} with
grads[i] = d sum(output * cotangent) / d inputs[i], null for integer inputs and for inputs held
constant (class weights). Labels use -1 for "ignore" (nanoGPT's convention; TRL uses -100).
"""

import copy
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from generate import NoGrad, as_f64, enc_input, enc_ref, ref_value

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT_DIR = os.path.join(ROOT, "Tests", "RetortNNTests", "Fixtures", "lm")
GENERATOR = "Tests/Fixtures/generate_lm.py"
IGNORE = -1

rng = np.random.default_rng(20261203)
torch.manual_seed(0)
torch.set_num_threads(1)  # fixed summation order for reproducible results
F64 = torch.float64


def randn(*shape, scale=1.0, mean=0.0):
    return (rng.standard_normal(shape) * scale + mean).astype(np.float32)


def ints(lo, hi, *shape):
    return rng.integers(lo, hi, size=shape).astype(np.int64)


def token_labels(vocab, *shape, ignored):
    """Labels in 0..<vocab with `ignored` positions set to -1 (never all of them)."""
    y = ints(0, vocab, *shape)
    flat = y.reshape(-1)
    flat[rng.choice(flat.size, size=ignored, replace=False)] = IGNORE
    assert (flat != IGNORE).any()
    return y


# ---------------------------------------------------------------------------
# The computations, in float64 when given float64 tensors
# ---------------------------------------------------------------------------

def self_attention(x, w_attn, b_attn, w_proj, b_proj, heads, is_causal):
    """nanoGPT's CausalSelfAttention: fused QKV, heads split as (N, h, T, d/h), SDPA, merge, project."""
    n, t, d = x.shape
    q, k, v = F.linear(x, w_attn, b_attn).split(d, dim=2)
    q, k, v = (z.view(n, t, heads, d // heads).transpose(1, 2) for z in (q, k, v))
    y = F.scaled_dot_product_attention(q, k, v, is_causal=is_causal)  # scale 1/sqrt(d/h)
    y = y.transpose(1, 2).contiguous().view(n, t, d)
    return F.linear(y, w_proj, b_proj)


def self_attention_by_hand(x, w_attn, b_attn, w_proj, b_proj, heads, is_causal):
    """The same attention written out, to check that SDPA means what the fixture says."""
    n, t, d = x.shape
    hs = d // heads
    qkv = x @ w_attn.T + b_attn
    q, k, v = (qkv[..., i * d:(i + 1) * d].reshape(n, t, heads, hs).permute(0, 2, 1, 3) for i in range(3))
    scores = q @ k.transpose(-1, -2) / math.sqrt(hs)
    if is_causal:
        future = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)
        scores = scores.masked_fill(future, float("-inf"))
    y = torch.softmax(scores, -1) @ v
    return y.permute(0, 2, 1, 3).reshape(n, t, d) @ w_proj.T + b_proj


def cross_entropy_tokens(logits, labels, weight=None):
    v = logits.shape[-1]
    return F.cross_entropy(logits.reshape(-1, v), labels.reshape(-1), weight=weight, ignore_index=IGNORE)


def masked_mean(per_position, labels):
    """Mean over the positions whose label is not -1; over all rows when there are no labels."""
    if labels is None:
        return per_position.mean()
    keep = labels != IGNORE
    return per_position[keep].sum() / keep.sum()


def generalized_jsd(student, teacher, labels, beta, temperature):
    """TRL's GKDTrainer.generalized_jsd_loss (reduction batchmean), with -1 as the ignore label."""
    log_s = F.log_softmax(student / temperature, -1)
    log_t = F.log_softmax(teacher / temperature, -1)
    # kl_div(input, target, log_target=True) = sum exp(target) * (target - input) = KL(target || input)
    if beta == 0:
        div = F.kl_div(log_s, log_t, reduction="none", log_target=True)  # KL(T || S)
    elif beta == 1:
        div = F.kl_div(log_t, log_s, reduction="none", log_target=True)  # KL(S || T)
    else:
        log_m = torch.logsumexp(torch.stack([log_s + math.log(1 - beta), log_t + math.log(beta)]), 0)
        div = (beta * F.kl_div(log_m, log_t, reduction="none", log_target=True)
               + (1 - beta) * F.kl_div(log_m, log_s, reduction="none", log_target=True))
    return masked_mean(div.sum(-1), labels)


def kl_tokens(student, teacher, labels, temperature, reverse):
    """T^2 * KL(teacher || student) (forward) or T^2 * KL(student || teacher) (reverse), per position,
    averaged over the positions whose label is not -1."""
    log_s = F.log_softmax(student / temperature, -1)
    log_t = F.log_softmax(teacher / temperature, -1)
    if reverse:
        per_position = (log_s.exp() * (log_s - log_t)).sum(-1)
    else:
        per_position = (log_t.exp() * (log_t - log_s)).sum(-1)
    return temperature ** 2 * masked_mean(per_position, labels)


def _labels_or_none(xs, i):
    return xs[i] if len(xs) > i else None


OPS = {
    "embedding": lambda xs, a: F.embedding(xs[1], xs[0]),
    "layer_norm": lambda xs, a: F.layer_norm(xs[0], a["normalized_shape"], xs[1], xs[2], eps=a["eps"]),
    "gelu": lambda xs, a: F.gelu(xs[0], approximate="none"),
    "causal_self_attention": lambda xs, a: self_attention(*xs, a["heads"], a["is_causal"]),
    "cross_entropy_tokens": lambda xs, a: cross_entropy_tokens(xs[0], xs[1], _labels_or_none(xs, 2)),
    "jsd": lambda xs, a: generalized_jsd(xs[0], xs[1], _labels_or_none(xs, 2), a["beta"], a["temperature"]),
    "forward_kl": lambda xs, a: kl_tokens(xs[0], xs[1], xs[2], a["temperature"], reverse=False),
    "reverse_kl": lambda xs, a: kl_tokens(xs[0], xs[1], xs[2], a["temperature"], reverse=True),
}

CASES = []


def case(name, op, inputs, args=None):
    """Evaluate `op` on float64 copies of the float32 inputs and record value and gradients."""
    args = args or {}
    tensors, encoded, wants_grad = [], [], []
    for item in inputs:
        fixed = isinstance(item, NoGrad)
        arr = item.array if fixed else np.asarray(item)
        encoded.append(enc_input(arr))
        if arr.dtype.kind in "iu":
            tensors.append(torch.from_numpy(arr.astype(np.int64)))
            wants_grad.append(False)
        else:
            tensors.append(as_f64(encoded[-1]).requires_grad_(not fixed))
            wants_grad.append(not fixed)
    result = OPS[op](tensors, args)
    cot = randn(*result.shape)
    entry = {"name": name, "op": op, "inputs": encoded, "args": args, "output": enc_ref(result),
             "cotangent": enc_input(cot)}
    wrt = [t for t, w in zip(tensors, wants_grad) if w]
    grads = iter(torch.autograd.grad((result * as_f64(entry["cotangent"])).sum(), wrt))
    entry["grads"] = [enc_ref(next(grads)) if w else None for w in wants_grad]
    CASES.append(entry)
    return tensors, result


def shape_tag(*shapes):
    return "-".join("x".join(map(str, s)) for s in shapes)


# ---------------------------------------------------------------------------
# ops.json cases
# ---------------------------------------------------------------------------

def embedding_cases():
    ids = ints(0, 6, 2, 5)  # id 6 never occurs: its gradient row stays zero
    ids[0, 0] = ids[0, 4] = ids[1, 3] = 2  # one id three times: its gradient rows add up
    case("embedding/V7-d4-ids2x5", "embedding", [randn(7, 4), ids])
    case("embedding/V5-d3-ids6", "embedding", [randn(5, 3), np.array([4, 0, 4, 1, 4, 0], dtype=np.int64)])
    case("embedding/V27-d16-ids3x8", "embedding", [randn(27, 16, scale=0.02), ints(0, 27, 3, 8)])


def layer_norm_cases():
    for xs, mean in [((2, 5, 8), 0.0), ((4, 6), 0.0), ((2, 3, 16), 3.0)]:
        d = xs[-1]
        case(f"layer_norm/{shape_tag(xs)}" + ("-offset" if mean else ""), "layer_norm",
             [randn(*xs, mean=mean), randn(d, mean=1.0, scale=0.2), randn(d, scale=0.2)],
             {"normalized_shape": [d], "eps": 1e-5})


def gelu_cases():
    case("gelu/2x3x4", "gelu", [randn(2, 3, 4, scale=2.0)])
    case("gelu/wide-range", "gelu", [np.array([-12.0, -6.0, -3.0, -1.0, -0.25, 0.0, 0.25, 1.0, 3.0, 6.0, 12.0],
                                              dtype=np.float32)])


def attention_cases():
    for (n, t, d), heads, causal in [((2, 5, 8), 1, True), ((2, 5, 8), 4, True), ((1, 6, 16), 2, True),
                                     ((3, 1, 8), 2, True), ((2, 5, 8), 1, False), ((2, 5, 8), 4, False)]:
        name = f"causal_self_attention/{'causal' if causal else 'noncausal'}-h{heads}-{shape_tag((n, t, d))}"
        inputs = [randn(n, t, d), randn(3 * d, d, scale=0.35), randn(3 * d, scale=0.1),
                  randn(d, d, scale=0.35), randn(d, scale=0.1)]
        tensors, out = case(name, "causal_self_attention", inputs, {"heads": heads, "is_causal": causal})
        by_hand = self_attention_by_hand(*[x.detach() for x in tensors], heads, causal)
        assert torch.allclose(out.detach(), by_hand, rtol=0, atol=1e-12), name


def cross_entropy_cases():
    case("cross_entropy_tokens/2x5x7-ignore", "cross_entropy_tokens",
         [randn(2, 5, 7, scale=2.0), token_labels(7, 2, 5, ignored=3)])
    case("cross_entropy_tokens/2x5x7-ignore-weighted", "cross_entropy_tokens",
         [randn(2, 5, 7, scale=2.0), token_labels(7, 2, 5, ignored=3),
          NoGrad(rng.uniform(0.2, 2.0, 7))])
    case("cross_entropy_tokens/6x5-ignore-weighted", "cross_entropy_tokens",
         [randn(6, 5, scale=2.0), token_labels(5, 6, ignored=1), NoGrad(rng.uniform(0.2, 2.0, 5))])
    case("cross_entropy_tokens/3x4x27", "cross_entropy_tokens",
         [randn(3, 4, 27, scale=2.0), token_labels(27, 3, 4, ignored=0)])


def distillation_cases():
    # One (student, teacher, labels) triple for every masked case, so a test can check that
    # jsd beta 0 == forward_kl / T^2 and jsd beta 1 == reverse_kl / T^2 on the same inputs.
    s, t, y = randn(2, 4, 6, scale=2.0), randn(2, 4, 6, scale=2.0), token_labels(6, 2, 4, ignored=3)
    for temperature in [1.0, 2.0]:
        for beta in [0.0, 0.5, 0.9, 1.0]:
            case(f"jsd/beta{beta:g}-T{temperature:g}-2x4x6", "jsd", [s, t, y],
                 {"beta": beta, "temperature": temperature})
    for beta, temperature in [(0.5, 1.0), (0.9, 2.0)]:
        case(f"jsd/rows-beta{beta:g}-T{temperature:g}-6x5", "jsd",
             [randn(6, 5, scale=2.0), randn(6, 5, scale=2.0)], {"beta": beta, "temperature": temperature})
    for temperature in [1.0, 2.0]:
        case(f"forward_kl/T{temperature:g}-2x4x6", "forward_kl", [s, t, y], {"temperature": temperature})
        case(f"reverse_kl/T{temperature:g}-2x4x6", "reverse_kl", [s, t, y], {"temperature": temperature})
    check_distillation_identities()


def check_distillation_identities():
    by_name = {c["name"]: c["output"]["data"][0] for c in CASES}
    for temperature in [1, 2]:
        for beta, kl in [(0, "forward_kl"), (1, "reverse_kl")]:
            jsd = by_name[f"jsd/beta{beta}-T{temperature}-2x4x6"]
            assert math.isclose(jsd * temperature ** 2, by_name[f"{kl}/T{temperature}-2x4x6"], rel_tol=2e-8)


OPS_NOTE = (
    "inputs in order: embedding [weight [V,d], ids]; layer_norm [x, weight, bias] over the last axis; "
    "causal_self_attention [x [N,T,d], c_attn.weight [3d,d], c_attn.bias [3d], c_proj.weight [d,d], "
    "c_proj.bias [d]]: q,k,v = split(x W^T + b) along the last axis, each viewed [N,T,h,d/h] and "
    "transposed to [N,h,T,d/h], softmax(q k^T / sqrt(d/h) (+ causal mask)) v, heads merged back to "
    "[N,T,d], then c_proj; cross_entropy_tokens [logits [..., V], labels [...] (-1 ignored), optional "
    "class weight [V] (constant, null grad)] = F.cross_entropy(logits.reshape(-1,V), labels.reshape(-1), "
    "weight, ignore_index=-1): sum of w[y] * nll / sum of w[y] over kept positions; "
    "jsd [student, teacher, optional labels]: S = log_softmax(student/T), Tt = log_softmax(teacher/T); "
    "beta 0: KL(Tt||S); beta 1: KL(S||Tt); else log M = logsumexp(S + log(1-beta), Tt + log(beta)) "
    "and beta KL(Tt||M) + (1-beta) KL(S||M); KL summed over the vocabulary, then averaged over the "
    "positions whose label is not -1 (over all rows when there are no labels); no T^2 factor "
    "(TRL's generalized_jsd_loss; TRL ignores -100, and beta 0 / 1 are special cases, not limits: "
    "the mixture formula tends to 0 at both ends); forward_kl [student, teacher, labels] = "
    "T^2 * sum_v p_t (log p_t - log p_s), reverse_kl = T^2 * sum_v p_s (log p_s - log p_t), "
    "p = softmax(logits/T), averaged over unmasked positions. Same inputs in jsd/*-2x4x6, forward_kl "
    "and reverse_kl: jsd beta 0 = forward_kl / T^2 and jsd beta 1 = reverse_kl / T^2."
)


# ---------------------------------------------------------------------------
# gpt.safetensors + gpt.json: a small nanoGPT
# ---------------------------------------------------------------------------

CONFIG = {"vocab_size": 27, "block_size": 8, "n_layer": 2, "n_head": 2, "n_embd": 16, "dropout": 0.0,
          "bias": True}


class CausalSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.heads = c["n_head"]
        self.c_attn = nn.Linear(c["n_embd"], 3 * c["n_embd"], bias=c["bias"])
        self.c_proj = nn.Linear(c["n_embd"], c["n_embd"], bias=c["bias"])

    def forward(self, x):
        return self_attention(x, self.c_attn.weight, self.c_attn.bias, self.c_proj.weight, self.c_proj.bias,
                              self.heads, is_causal=True)


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c_fc = nn.Linear(c["n_embd"], 4 * c["n_embd"], bias=c["bias"])
        self.c_proj = nn.Linear(4 * c["n_embd"], c["n_embd"], bias=c["bias"])

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.ln_1 = nn.LayerNorm(c["n_embd"], bias=c["bias"])
        self.attn = CausalSelfAttention(c)
        self.ln_2 = nn.LayerNorm(c["n_embd"], bias=c["bias"])
        self.mlp = MLP(c)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(c["vocab_size"], c["n_embd"]),
            wpe=nn.Embedding(c["block_size"], c["n_embd"]),
            h=nn.ModuleList([Block(c) for _ in range(c["n_layer"])]),
            ln_f=nn.LayerNorm(c["n_embd"], bias=c["bias"]),
        ))
        self.lm_head = nn.Linear(c["n_embd"], c["vocab_size"], bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # weight tying, as nanoGPT does

    def forward(self, ids):
        positions = torch.arange(ids.shape[1])
        x = self.transformer.wte(ids) + self.transformer.wpe(positions)
        for block in self.transformer.h:
            x = block(x)
        return self.lm_head(self.transformer.ln_f(x))  # every position's logits, not only the last


def init_weights(model):
    """Deterministic random float32 weights from our numpy generator (no torch RNG involved)."""
    layers = CONFIG["n_layer"]
    with torch.no_grad():
        for name, p in model.named_parameters():
            shape = tuple(p.shape)
            if ".ln_" in name or name.startswith("transformer.ln_f"):
                value = randn(*shape, mean=1.0, scale=0.1) if name.endswith("weight") else randn(*shape, scale=0.05)
            elif name.endswith("bias"):
                value = randn(*shape, scale=0.05)
            elif name.endswith("c_proj.weight"):
                value = randn(*shape, scale=0.02 / math.sqrt(2 * layers))  # nanoGPT's scaled residual init
            else:
                value = randn(*shape, scale=0.02)
            p.copy_(torch.from_numpy(value))


def lm_loss(model, ids, labels):
    logits = model(ids)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=IGNORE)


def train(model, batches):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01,
                            foreach=False)
    losses = []
    for ids, labels in batches:
        loss = lm_loss(model, torch.from_numpy(ids), torch.from_numpy(labels))
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        final = model(torch.from_numpy(batches[0][0]))
    return losses, final


def gen_gpt():
    from safetensors import __version__ as st_version
    from safetensors.torch import save_file

    model = GPT(CONFIG)
    init_weights(model)
    model.eval()
    assert model.lm_head.weight is model.transformer.wte.weight
    state = {k: v.contiguous() for k, v in model.state_dict().items() if k != "lm_head.weight"}
    path = os.path.join(OUT_DIR, "gpt.safetensors")
    save_file(state, path)
    os.chmod(path, 0o644)  # safetensors creates files 0600

    model64 = copy.deepcopy(model).double()
    assert model64.lm_head.weight is model64.transformer.wte.weight

    logits_cases = []
    for name, ids in [("ids-3x8", ints(0, 27, 3, 8)), ("ids-2x5", ints(0, 27, 2, 5))]:
        with torch.no_grad():
            out = model64(torch.from_numpy(ids))
        logits_cases.append({"name": name, "ids": enc_input(ids), "logits": enc_ref(out)})

    batches = []
    for _ in range(5):
        seq = ints(0, 27, 4, 9)
        labels = seq[:, 1:].copy()
        labels[rng.random(labels.shape) < 0.2] = IGNORE
        labels[0, -1] = IGNORE  # at least one ignored position in every batch
        batches.append((seq[:, :8].copy(), labels))

    params = [name for name, _ in model.named_parameters()]
    losses32, final32 = train(copy.deepcopy(model).train(), batches)
    losses64, final64 = train(copy.deepcopy(model64).train(), batches)

    info = {
        "generator": GENERATOR, "torch": torch.__version__, "safetensors": st_version,
        "config": CONFIG,
        "architecture": (
            "nanoGPT: x = wte[ids] + wpe[0..T-1]; per block x = x + attn(ln_1(x)); x = x + mlp(ln_2(x)) "
            "with attn = nanoGPT's CausalSelfAttention (fused c_attn, heads as [N,h,T,d/h], causal SDPA, "
            "c_proj) and mlp = c_proj(gelu(c_fc(x))) with exact (erf) GELU; logits = ln_f(x) @ wte^T for "
            "every position (nanoGPT's generate path keeps only the last); layer norms eps 1e-5 with bias"),
        "tied": "lm_head.weight is transformer.wte.weight; the file holds transformer.wte.weight only",
        "init": ("numpy default_rng float32: Linear/Embedding weights N(0, 0.02), c_proj weights "
                 "N(0, 0.02/sqrt(2*n_layer)), Linear biases N(0, 0.05), layer-norm weights N(1, 0.1), "
                 "layer-norm biases N(0, 0.05)"),
        "tensors": [{"name": k, "shape": list(v.shape)} for k, v in state.items()],
        "logits_note": "eval-mode forward in float64 from the float32 weights, 9 significant digits",
        "logits": logits_cases,
        "training": {
            "note": ("5 steps of torch.optim.AdamW(model.parameters(), lr=1e-2, betas=(0.9, 0.999), eps=1e-8, "
                     "weight_decay=0.01) on every parameter (biases and layer norms included; the tied wte "
                     "appears once), one batch per step, loss = cross_entropy(logits.reshape(-1, V), "
                     "labels.reshape(-1), ignore_index=-1), loss recorded before each update. The run is in "
                     "float32, the model's own dtype, so compare with a tolerance; losses_float64 and "
                     "final_logits_float64 are the same run in float64 from the same float32 weights, to "
                     "show how far float32 rounding moves it."),
            "optimizer": {"name": "adamw", "lr": 1e-2, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.01},
            "parameter_order": params,
            "batches": [{"ids": enc_input(ids), "labels": enc_input(labels)} for ids, labels in batches],
            "losses": [ref_value(v) for v in losses32],
            "final_logits": enc_ref(final32.to(F64)),
            "losses_float64": [ref_value(v) for v in losses64],
            "final_logits_float64": enc_ref(final64),
            "float32_vs_float64_max_abs_diff": {
                "losses": ref_value(max(abs(a - b) for a, b in zip(losses32, losses64))),
                "final_logits": ref_value((final32.to(F64) - final64).abs().max()),
            },
        },
    }
    path = os.path.join(OUT_DIR, "gpt.json")
    with open(path, "w") as f:
        json.dump(info, f, separators=(",", ":"), allow_nan=False)
        f.write("\n")
    json.load(open(path))
    print(f"{os.path.relpath(path, ROOT)}: losses {info['training']['losses']}, "
          f"{os.path.getsize(path) / 1024:.1f} KiB")


# The distillation losses are written in Retort's prelude, so the language's tests read them.
LOSS_OPS = {"jsd", "forward_kl", "reverse_kl"}
LANG_OUT = os.path.join(ROOT, "Tests", "RetortLangTests", "Fixtures", "lm_losses.json")


def write_cases(path, cases):
    header = {"generator": GENERATOR, "torch": torch.__version__, "note": OPS_NOTE}
    lines = [json.dumps(c, separators=(",", ":"), allow_nan=False) for c in cases]
    head = json.dumps(header, separators=(",", ":"))[:-1]
    with open(path, "w") as f:
        f.write(head + ',"cases":[\n' + ",\n".join(lines) + "\n]}\n")
    json.load(open(path))
    print(f"{os.path.relpath(path, ROOT)}: {len(cases)} cases, {os.path.getsize(path) / 1024:.1f} KiB")


def write_ops():
    names = [c["name"] for c in CASES]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        sys.exit(f"duplicate case names: {sorted(dupes)}")
    write_cases(os.path.join(OUT_DIR, "ops.json"), [c for c in CASES if c["op"] not in LOSS_OPS])
    write_cases(LANG_OUT, [c for c in CASES if c["op"] in LOSS_OPS])


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    embedding_cases()
    layer_norm_cases()
    gelu_cases()
    attention_cases()
    cross_entropy_cases()
    distillation_cases()
    write_ops()
    gen_gpt()


if __name__ == "__main__":
    main()
