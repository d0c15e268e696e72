#!/usr/bin/env bash
# Runs each Tests/CLI/golden/NAME.rt with the real binary and compares stdout, stderr and the exit
# status with NAME.out, NAME.err and NAME.code.  UPDATE=1 rewrites them (read the diff).
set -uo pipefail
retort=$(realpath "${1:?usage: Tests/CLI/golden.sh PATH-TO-RETORT}")
cd "$(dirname "$0")/golden"
passed=0
failed=0
for script in *.rt; do
    name=${script%.rt}
    out=$(NO_COLOR=1 "$retort" run "$script" 2>/tmp/retort-golden-err </dev/null)
    code=$?
    err=$(cat /tmp/retort-golden-err)
    if [[ ${UPDATE:-0} == 1 ]]; then
        printf '%s\n' "$out" >"$name.out"
        printf '%s\n' "$err" >"$name.err"
        echo "$code" >"$name.code"
        continue
    fi
    if [[ "$out" == "$(cat "$name.out")" && "$err" == "$(cat "$name.err")" && "$code" == "$(cat "$name.code")" ]]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL $script (exit $code, expected $(cat "$name.code"))"
        diff <(printf '%s\n' "$out") "$name.out" | sed 's/^/    stdout /'
        diff <(printf '%s\n' "$err") "$name.err" | sed 's/^/    stderr /'
    fi
done
rm -f /tmp/retort-golden-err
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
