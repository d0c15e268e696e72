#!/usr/bin/env bash
# A file written by Retort's save() loads with the reference safetensors library, with PyTorch's
# names, dtypes and shapes, and gives PyTorch's logits (checked in numpy, no torch needed).
set -uo pipefail
retort=${1:?usage: Tests/CLI/interop.sh PATH-TO-RETORT PYTHON}
py=${2:?usage: Tests/CLI/interop.sh PATH-TO-RETORT PYTHON}
fixtures=Tests/RetortNNTests/Fixtures/safetensors
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
passed=0
failed=0
for arch in mlp bn; do
    case $arch in
        mlp) model='sequential(linear(4, 8), relu, linear(8, 3))' ;;
        bn) model='sequential(linear(4, 6), batch_norm(6), relu, linear(6, 2))' ;;
    esac
    # Load torch's weights into a fresh Retort model, then write them with Retort's writer.
    if "$retort" run -e "let m = $model
load(\"$fixtures/$arch.safetensors\", into: m)
save(m, \"$out/$arch.safetensors\")" && "$py" Tests/Fixtures/check_safetensors.py "$out/$arch.safetensors" "$arch"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL safetensors interop: $arch"
    fi
done
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
