#!/usr/bin/env bash
# export_torch checked by PyTorch:
#   1. the model classes model.py holds (an MLP, a CNN with batch norm and pooling, a residual block,
#      tensor ops, a GPT with nanoGPT's names, an MLP with dropout) load Retort's weights strictly
#      and give Retort's outputs at two batch sizes (TorchExportTests writes them, check_torch_models.py runs them);
#   2. exported runs (Tests/Export/torch_runs.rt) on the digits: kd with T 4 and alpha 0.7; kd with
#      alpha: ramp(0.2, 0.8), a batch-norm teacher, adamw with warm-up and cosine, clipping; a fit
#      with sgd and step_lr; a fit whose loss uses every builtin the translation knows; a fit on
#      token labels [N, T]; kd with a layer the student shares with its teacher (frozen); kd on
#      names (labels -1 past each name's end: scaled by labelled tokens); a summed loss - each run as `python train.py` and as `torchrun --standalone
#      --nproc-per-node 2 train.py` (gloo on the CPU) ends within 1e-4 of Retort's own run of the
#      same call (weights relative to the largest, and the loss history);
#   3. Retort loads the students PyTorch trained.
# Run after `swift build --build-tests`. PyTorch comes from scripts/torch-venv; where it cannot be
# installed, this says so loudly and skips (the CPU wheel in /opt/wheels is enough, no CUDA download).
set -euo pipefail
cd "$(dirname "$0")/../.."
retort=${1:-.build/debug/retort}

skip() {
    echo "=========================================================================="
    echo "SKIPPED: export_torch's PyTorch check did not run: $1"
    echo "=========================================================================="
    exit 0
}

setup_log=$(mktemp)
out=$(mktemp -d /tmp/retort-torch-run.XXXXXX)
trap 'rm -rf "$out" "$setup_log"' EXIT
if ! py=$(scripts/torch-venv 2>"$setup_log"); then
    skip "PyTorch cannot be installed on this machine (scripts/torch-venv: $(tail -n 3 "$setup_log" | tr '\n' ' '))"
fi
if ! "$py" -c 'import torch.distributed as d; assert d.is_available() and d.is_gloo_available()' 2>/dev/null; then
    skip "this PyTorch ($("$py" -c 'import torch; print(torch.__version__)')) has no gloo backend for torch.distributed"
fi
torchrun=("$(dirname "$py")/torchrun")
[[ -x "${torchrun[0]}" ]] || torchrun=("$py" -m torch.distributed.run)
echo "PyTorch $("$py" -c 'import torch; print(torch.__version__)') at $py"

echo "-- model classes"
log="$out/swift-test.log"
if ! RETORT_TORCH_OUT="$out/models" swift test --skip-build --filter TorchExportTests >"$log" 2>&1; then
    cat "$log"
    exit 1
fi
"$py" Tests/Export/check_torch_models.py "$out/models"

echo "-- exported runs against Retort's own"
sed "s|@OUT@|$out|g" Tests/Export/torch_runs.rt >"$out/runs.rt"
"$retort" run "$out/runs.rt" >"$out/runs.log"
two_processes() {
    (cd "$out/$1" && "${torchrun[@]}" --standalone --nproc-per-node 2 train.py >train-2.log 2>&1)
}
status=0
for run in kd schedule fit ops tokens shared names sum; do
    (cd "$out/$run" && "$py" train.py >train-1.log 2>&1) || { cat "$out/$run/train-1.log"; exit 1; }
    "$py" Tests/Export/compare_torch_run.py "$out/$run" "1 process" || status=1
    rm "$out/$run/student.safetensors" "$out/$run/history.json"
    if ! two_processes "$run"; then
        # Once in CI (2026-12-03), after the last epoch and with the run's files written, one process
        # aborted inside PyTorch's gloo teardown ("terminate called without an active exception");
        # 1 in about 115 runs here under load before the script's barrier, 0 in 58 since. That
        # one signature, after a finished run, gets a second run, said aloud; anything else fails.
        if grep -q "terminate called without an active exception" "$out/$run/train-2.log" &&
            [[ -f "$out/$run/history.json" ]]; then
            echo "NOTE: $run, 2 processes: a process aborted in PyTorch's teardown after training; its log:"
            sed 's/^/    /' "$out/$run/train-2.log"
            echo "NOTE: running $run under torchrun once more"
            rm -f "$out/$run/student.safetensors" "$out/$run/history.json"
            two_processes "$run" || { cat "$out/$run/train-2.log"; exit 1; }
        else
            cat "$out/$run/train-2.log"
            exit 1
        fi
    fi
    "$py" Tests/Export/compare_torch_run.py "$out/$run" "2 processes" || status=1
done

echo "-- Retort reads PyTorch's students"
sed "s|@OUT@|$out|g" Tests/Export/torch_load.rt >"$out/load.rt"
"$retort" run "$out/load.rt"
exit $status
