#!/usr/bin/env bash
# The Jupyter kernel through real clients: installs the given retort's kernelspec into a temporary
# prefix, points JUPYTER_PATH at it (the tests that need no install of their own, such as the
# notebooks, find the kernel there) and runs every test in Tests/Kernel with the test venv's pytest.
#
#   Tests/Kernel/run.sh PATH-TO-RETORT [PYTEST-ARGUMENTS...]   (e.g. -k completion)
set -euo pipefail
retort=${1:?usage: Tests/Kernel/run.sh PATH-TO-RETORT [PYTEST-ARGUMENTS...]}
shift
[[ -x "$retort" ]] || { echo "Tests/Kernel/run.sh: $retort is not an executable" >&2; exit 66; }
retort="$(cd "$(dirname "$retort")" && pwd)/$(basename "$retort")"
cd "$(dirname "$0")/../.."
py=$(scripts/test-venv)

prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
"$retort" kernelspec install --prefix "$prefix" >/dev/null
[[ -f "$prefix/share/jupyter/kernels/retort/kernel.json" ]] || {
    echo "Tests/Kernel/run.sh: retort kernelspec install wrote no kernel.json under $prefix" >&2
    exit 1
}

export RETORT="$retort"
export JUPYTER_PATH="$prefix/share/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}"
# Connection files and runtime state stay in the temporary prefix, not in the user's home.
export JUPYTER_RUNTIME_DIR="$prefix/runtime"
export JUPYTER_PLATFORM_DIRS=1
# A kernel that never answers would leave a blocking client waiting for ever: bound the whole run.
timeout --kill-after=10 1800 "$py" -m pytest -q -p no:cacheprovider "${@:-Tests/Kernel}"
