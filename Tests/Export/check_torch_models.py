"""Checks the model classes export_torch writes against Retort's own outputs.

The RetortExportTests (TorchExportTests) write, for each model, torch-NAME.py (the class),
torch-NAME.safetensors (Retort's weights under its state-dict names) and torch-NAME.json (inputs
at two batch sizes, and for a language model at lengths from its block down to one token, with
Retort's outputs). Each class must load the weights strictly (the names and shapes are Retort's)
and give Retort's outputs in eval mode at every case, and refuse an input whose sizes it does not
follow: any size but the batch of an image or tensor model, a length past a language model's block.

Usage: python check_torch_models.py FOLDER
"""
import importlib.util
import json
import os
import sys

import torch



def load_safetensors(path):
    import struct

    dtypes = {"F32": torch.float32, "I64": torch.int64}
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        flat = torch.frombuffer(bytearray(data[begin:end]), dtype=dtypes[info["dtype"]])
        out[name] = flat.reshape(info["shape"]).clone()
    return out


def tensor(encoded):
    return torch.tensor(encoded["data"], dtype=torch.float32).reshape(encoded["dims"])


def main(folder):
    manifest = json.load(open(os.path.join(folder, "torch-manifest.json")))
    worst = 0.0
    for name in manifest["models"]:
        base = os.path.join(folder, f"torch-{name}")
        spec = importlib.util.spec_from_file_location(f"torch_{name}", base + ".py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        model = module.Model()
        model.load_state_dict(load_safetensors(base + ".safetensors"), strict=True)
        model.eval()
        check = json.load(open(base + ".json"))
        for case in check["cases"]:
            x, want = tensor(case["input"]), tensor(case["output"])
            with torch.no_grad():
                got = model(x)
            assert got.shape == want.shape, f"{name}: shape {tuple(got.shape)}, Retort's {tuple(want.shape)}"
            finite = torch.isfinite(want)
            assert torch.equal(finite, torch.isfinite(got)), f"{name}: infinities differ"
            diff = (got[finite] - want[finite]).abs().max().item() if finite.any() else 0.0
            scale = max(1.0, want[finite].abs().max().item() if finite.any() else 1.0)
            worst = max(worst, diff / scale)
            assert diff <= 1e-4 * scale, f"{name} at {list(x.shape)}: max |Δ| {diff:.3g}"
        first = tensor(check["cases"][0]["input"])
        if "block" in check:
            # A language model takes any length up to its block (nanoGPT's rule); one past it, whose
            # positions the table lacks, is refused by name rather than failing inside F.embedding.
            block = check["block"]
            longer = torch.cat([first, first[:, :1]], dim=1)
            assert longer.shape[1] == block + 1
            try:
                with torch.no_grad():
                    model(longer)
            except ValueError as error:
                assert f"length 1 to {block}" in str(error), f"{name}: {error}"
            else:
                raise AssertionError(f"{name}: an input of length {block + 1} ran")
        elif first.dim() >= 2 and first.shape[1] > 1:
            # Only the batch may vary: a shorter row (which would broadcast over the traced sizes)
            # is refused, not answered.
            try:
                with torch.no_grad():
                    model(first[:, :1])
            except ValueError as error:
                assert "export_torch fixed every size but the batch" in str(error), f"{name}: {error}"
            else:
                raise AssertionError(f"{name}: an input of shape {list(first[:, :1].shape)} ran")
        # Train mode runs too (dropout active, batch statistics): the forward must not depend on eval.
        model.train()
        model(tensor(check["cases"][0]["input"]))
        # Where Retort's train mode is deterministic and differs from PyTorch's default (a frozen
        # batch norm keeps its running statistics), the class's train() must give Retort's outputs.
        for case in check.get("train_cases", []):
            model.load_state_dict(load_safetensors(base + ".safetensors"), strict=True)
            model.train()
            with torch.no_grad():
                got = model(tensor(case["input"]))
            want = tensor(case["output"])
            diff = (got - want).abs().max().item()
            assert diff <= 1e-4 * max(1.0, want.abs().max().item()), f"{name} in train mode: max |Δ| {diff:.3g}"
            print(f"  {name}: train-mode outputs match Retort's (max |Δ| {diff:.2e})")
        shapes = ", ".join(str(list(tensor(case["input"]).shape)) for case in check["cases"])
        print(f"  {name}: state dict loads strictly; eval outputs match at {shapes}")
    print(f"model classes: {len(manifest['models'])} models, worst relative difference {worst:.2e}")


if __name__ == "__main__":
    main(sys.argv[1])
