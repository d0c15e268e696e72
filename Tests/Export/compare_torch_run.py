"""Compares an exported run that PyTorch finished with Retort's own run of the same call.

FOLDER holds what export_torch wrote, PyTorch's student.safetensors and history.json (from
train.py), and Retort's retort_student.safetensors and retort_history.safetensors. The students
must agree within TOLERANCE relative to the largest weight, and every loss in the history (the
total and each named term, per epoch) within TOLERANCE relative to its size.

Usage: python compare_torch_run.py FOLDER LABEL  (prints one line; exit status 1 past the tolerance)
"""
import json
import os
import sys

TOLERANCE = 1e-4


def main(folder, label):
    sys.path.insert(0, folder)
    from train import load_safetensors  # the exported script's own reader

    torch_student = load_safetensors(os.path.join(folder, "student.safetensors"))
    retort_student = load_safetensors(os.path.join(folder, "retort_student.safetensors"))
    if set(torch_student) != set(retort_student):
        print(f"{label}: the state dicts differ in names: {sorted(set(torch_student) ^ set(retort_student))}")
        return 1
    largest = max(t.abs().max().item() for t in retort_student.values() if t.is_floating_point())
    weights = max((torch_student[k].double() - retort_student[k].double()).abs().max().item() for k in retort_student)
    weights /= largest

    history = json.load(open(os.path.join(folder, "history.json")))
    retort_history = load_safetensors(os.path.join(folder, "retort_history.safetensors"))
    losses = 0.0
    for name, values in retort_history.items():
        ours = history.get(name)
        if ours is None or len(ours) != len(values):
            print(f"{label}: history.json lacks {name} for every epoch: {ours}")
            return 1
        for a, b in zip(ours, values.tolist()):
            losses = max(losses, abs(a - b) / max(abs(b), 1e-3))
    fine = weights <= TOLERANCE and losses <= TOLERANCE
    print(
        f"{os.path.basename(folder):>9} {label:<14} max |Δw| / max |w| = {weights:.2e}   "
        f"max relative Δ of the loss history = {losses:.2e}   {'ok' if fine else 'TOO FAR'}"
    )
    return 0 if fine else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
