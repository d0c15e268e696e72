#!/usr/bin/env bash
# The ONNX files Retort writes, checked by the reference library and runtime: the RetortExportTests
# write them with inputs and Retort's outputs into FOLDER, then check_onnx_writer.py (the protobuf
# writer's three hand-built models) and check_export.py (models exported from RetortNN layers,
# float and int8, run at batch sizes 3, 7 and 256; language models also at lengths 8, 5 and 1) compare
# onnxruntime's outputs with Retort's.
# Run after `swift build --build-tests`; PYTHON defaults to the test venv (scripts/test-venv).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:?usage: Tests/Export/run.sh FOLDER [PYTHON]}
py=${2:-$(scripts/test-venv)}
mkdir -p "$out"
# Only the files these tests write, so a stale model cannot pass for a new one.
rm -f "$out"/export-*.onnx "$out"/export-*.json "$out"/{mlp,cnn,qdq}.{onnx,json}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! RETORT_ONNX_OUT="$out" swift test --skip-build --filter RetortExportTests >"$log" 2>&1; then
    cat "$log"
    exit 1
fi
echo "RetortExportTests: $(grep -E "Executed [0-9]+ tests?" "$log" | tail -1 | sed 's/^[[:space:]]*//')"
"$py" Tests/Export/check_onnx_writer.py "$out"
"$py" Tests/Export/check_export.py "$out"
