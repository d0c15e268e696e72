#!/usr/bin/env bash
# Drives the retort binary as a user would and checks what it prints and how it exits.
set -uo pipefail
retort=${1:?usage: Tests/CLI/cli.sh PATH-TO-RETORT}
passed=0
failed=0

check() {  # check NAME EXPECTED-EXIT PATTERN -- COMMAND...
    local name=$1 want_exit=$2 pattern=$3
    shift 4
    local out
    out=$("$@" 2>&1)
    local code=$?
    if [[ $code -eq $want_exit ]] && grep -qE -- "$pattern" <<<"$out"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL $name: exit $code (wanted $want_exit), output:"
        sed 's/^/    /' <<<"$out" | head -20
    fi
}

check "info names the BLAS kernel" 0 '^BLAS: OpenBLAS, kernel [A-Za-z0-9]+ .*thread' -- "$retort" info
check "info names the GEMM library" 0 '; GEMM: (oneDNN [0-9.]+|OpenBLAS) \(' -- "$retort" info
check "RETORT_GEMM=openblas chooses OpenBLAS" 0 '; GEMM: OpenBLAS \(RETORT_GEMM=openblas\)' -- env RETORT_GEMM=openblas "$retort" info
check "RETORT_GEMM=onednn chooses oneDNN" 0 '; GEMM: oneDNN [0-9.]+ \(RETORT_GEMM=onednn\)' -- env RETORT_GEMM=onednn "$retort" info
check "an unknown RETORT_GEMM is refused" 64 'RETORT_GEMM=mkl names no GEMM library; use one of: openblas, onednn' -- env RETORT_GEMM=mkl "$retort" info
check "a RETORT_PARALLEL_THRESHOLD that is no number is refused" 64 'RETORT_PARALLEL_THRESHOLD=lots is not a whole number >= 0' -- env RETORT_PARALLEL_THRESHOLD=lots "$retort" info
check "a negative RETORT_PARALLEL_THRESHOLD is refused" 64 'RETORT_PARALLEL_THRESHOLD=-1 is not a whole number >= 0' -- env RETORT_PARALLEL_THRESHOLD=-1 "$retort" info
check "RETORT_PARALLEL_THRESHOLD=0 is accepted" 0 '^BLAS: OpenBLAS' -- env RETORT_PARALLEL_THRESHOLD=0 "$retort" info
check "help lists the subcommands" 0 'run .*Run a Retort script' -- "$retort" --help
check "unknown subcommand is an error" 64 "Unexpected argument 'frobnicate'" -- "$retort" frobnicate
check "bench --seconds=nan is refused, not run forever" 64 'seconds must be a number of seconds > 0 \(got nan\)' -- timeout 10 "$retort" bench --seconds=nan --only mlp-64
check "bench --seconds=0 is refused" 64 'seconds must be a number of seconds > 0 \(got 0.0\)' -- timeout 10 "$retort" bench --seconds=0 --only mlp-64
check "bench --onnx on a file says so" 64 "--onnx '/dev/null' is a file, not a folder" -- timeout 10 "$retort" bench --onnx /dev/null --only infer-mlp
check "-e takes code that starts with a dash" 0 '^-4$' -- "$retort" run -e '-2^2'
check "input at the end of standard input says so" 70 'input: no line to read: the input has ended' -- bash -c "'$retort' run -e 'input(\"name? \")' < /dev/null"
check "bench runs one workload" 0 '^mlp-64-32-10/b64 +[0-9.]+ samples/s' -- "$retort" bench --seconds 0.05 --only mlp-64 --threads 1
# The convolution's chunks run their GEMMs on both threads at once while the bench profiles them.
check "bench profiles a CNN's GEMMs on two threads" 0 '^cnn-28x28/b64 +[0-9.]+ samples/s +[0-9.]+ \(' -- env RETORT_GEMM=onednn "$retort" bench --seconds 0.1 --only cnn-28x28/b64 --threads 2
check "bench --shapes lists each GEMM shape under its workload" 0 '^  64x32x64 NT +[0-9]+ calls +[0-9.]+ s \( *[0-9.]+%\) +[0-9.]+ GFLOPS inside, +[0-9.]+ alone, +[0-9.]+ out of cache$' -- "$retort" bench --seconds 0.05 --only mlp-64 --threads 1 --shapes
check "bench --shapes in JSON" 0 '"gemm_shapes":\[\{"alone_gflops":[0-9.]+,"alone_out_of_cache_gflops":[0-9.]+,"calls":[0-9]+,' -- "$retort" bench --json --seconds 0.05 --only mlp-64 --threads 1 --shapes
# Each slice's calls are replayed twice: on warm buffers, and with their operands out of the core's cache.
check "bench JSON has the calls alone out of cache too" 0 '"gemm_alone_gflops":[0-9.]+,"gemm_alone_out_of_cache_gflops":[0-9.]+,"gemm_gflops"' -- "$retort" bench --json --seconds 0.05 --only mlp-64 --threads 1
# The profile counts the timed steps' calls, not the warm-up's (whose first calls carry oneDNN making
# its kernels, which the same calls alone never do): each of the MLP's shapes once a step.
calls_are_steps='import json, sys
r = json.loads(sys.stdin.readline())
calls = {s["calls"] for s in r["gemm_shapes"]}
print("calls", sorted(calls), "steps", r["steps"], "same" if calls == {r["steps"]} else "differ")'
check "bench profiles only the timed steps" 0 '^calls \[[0-9]+\] steps [0-9]+ same$' -- bash -c \
    '"$1" bench --json --seconds 0.05 --only mlp-64 --threads 1 --shapes | python3 -c "$2"' _ "$retort" "$calls_are_steps"
check "bench rejects an unknown workload" 64 'no workload matches --only nothing' -- "$retort" bench --only nothing
check "bench --ab times a speed-up on and off in one run" 0 '^infer-mlp-784-512-512-10/b128/f32 .* packed-weights on/off [0-9.]+x$' -- env RETORT_GEMM=onednn "$retort" bench --seconds 0.2 --only infer-mlp-784-512-512-10/b128/f32 --threads 1 --ab packed-weights
check "bench --ab in JSON" 0 '"ab":"parallel-loops","ab_speedup":[0-9.]+' -- "$retort" bench --json --seconds 0.1 --only mlp-64 --threads 1 --ab parallel-loops
check "bench --ab names the switches it knows" 64 "invalid for '--ab <ab>'. Please provide one of the following:" -- "$retort" bench --ab nothing
check "bench --ab lists the last switch" 64 '^  - sample-groups$' -- "$retort" bench --ab nothing
# README's Speed section lists the switches; one added without it there was found by reading.
readme="$(cd "$(dirname "$0")/../.." && pwd)/README.md"
ab_switches_named='n=0; missing=""
for s in $("$1" bench --ab nothing 2>&1 | sed -n "s/^  - //p"); do
    n=$((n + 1)); grep -qE "(^|[\` ])$s\`" "$2" || missing="$missing $s"
done
if [[ -n $missing ]]; then echo "README.md does not name:$missing"; exit 1; fi
echo "all $n switches named"'
check "README names every bench --ab switch" 0 '^all [1-9][0-9] switches named$' -- bash -c "$ab_switches_named" _ "$retort" "$readme"
check "bench --json is JSON" 0 '^\{"cores_others":[0-9.]+,"cores_own":[0-9.]+,"gflops":[0-9.]+,.*"workload":"sgemm/128x784x512"\}$' -- "$retort" bench --json --seconds 0.05 --only sgemm/128x784 --threads 1
# How far apart the first two CPUs are (CPU.coreDistance): needs two CPUs, which CI's machines have.
check "info says how far apart the first two CPUs are" 0 '^cores: CPUs [0-9]+ and [0-9]+ hand a cache line over in [0-9]+ ns \((under|over) 100 ns' -- "$retort" info
check "info --core-latency prints only the nanoseconds" 0 '^[0-9]+\.[0-9]$' -- "$retort" info --core-latency
check "bench rows with two threads say how far apart the CPUs were" 0 '^sgemm/128x784x512 .* CPUs [0-9]+ -> [0-9]+ ns apart$' -- "$retort" bench --seconds 0.05 --only sgemm/128x784 --threads 2
check "bench JSON with two threads has core_ns before and after" 0 '^\{"core_ns":[0-9.]+,"core_ns_after":[0-9.]+,"cores_others":[0-9.]+,"cores_own":[0-9.]+,"gflops"' -- "$retort" bench --json --seconds 0.05 --only sgemm/128x784 --threads 2
check "bench --wait-together still measures the CPUs around each row" 0 '^sgemm/128x784x512 .* CPUs [0-9]+ -> [0-9]+ ns apart' -- "$retort" bench --seconds 0.05 --only sgemm/128x784 --threads 2 --wait-together 0.5
check "bench refuses a --wait-together that is no number of seconds" 64 'wait-together must be a number of seconds >= 0' -- "$retort" bench --wait-together nan --only mlp-64
check "bench rows with one thread do not measure the CPUs" 0 '^rows 1, measured 0$' -- bash -c 'out=$("$0" bench --json --seconds 0.05 --only sgemm/128x784 --threads 1) || exit 2; echo "rows $(grep -c gflops <<<"$out"), measured $(grep -c core_ns <<<"$out")"' "$retort"
check "the demo distils on digits over three seeds" 0 'student distilled, no labels +\([0-9.]+, [0-9.]+\)' -- "$retort" run examples/demo.rt

check "run -e shows the value" 0 '^tensor\(\[0\.0900, 0\.2447, 0\.6652\]\)  \[3\]$' -- "$retort" run -e 'softmax([1, 2, 3])'
check "a syntax error exits 65 with a caret" 65 '^  \| +\^$' -- "$retort" run -e 'let x 3'
check "a runtime error exits 70 naming the shapes" 70 'ShapeError: matmul: inner dimensions differ: \[2, 3\] @ \[2, 3\]' -- "$retort" run -e 'zeros([2, 3]) @ zeros([2, 3])'
check "retort FILE.rt runs the file" 0 '^0\.[0-9]+$' -- "$retort" examples/training_loop.rt
check "a missing script exits 66" 66 "cannot read 'nope.rt'" -- "$retort" run nope.rt
check "the distillation program runs from a file" 0 '^student +[0-9.]+%' -- "$retort" run examples/distill_digits.rt
check "the pruning example prunes and fine-tunes" 0 '^after 3 epochs of fine-tuning: [0-9.]+ %$' -- "$retort" run examples/prune_digits.rt
check "the hand-written training loop runs" 0 '^0\.[0-9]+$' -- "$retort" run examples/training_loop.rt

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# save replaces a file whole: through a symbolic link, keeping the file's permissions, and
# clearing the temporary file a killed save left behind (pid 4194304 is above Linux's pid_max).
touch "$scratch/real.safetensors"
chmod 640 "$scratch/real.safetensors"
ln -s real.safetensors "$scratch/link.safetensors"
touch "$scratch/.real.safetensors.4194304-7.tmp"
check "save writes through a link, keeps permissions, clears an abandoned temporary" 0 '^link 640 [0-9]{3,} temporaries 0$' -- bash -c "
    '$retort' run -e 'save(mlp([4, 8, 3]), \"$scratch/link.safetensors\")' &&
    echo \"\$([[ -L '$scratch/link.safetensors' ]] && echo link) \$(stat -c '%a %s' '$scratch/real.safetensors') temporaries \$(ls -A '$scratch' | grep -c '\\.tmp\$')\""

# kill -9 in the middle of saving a 34 MB model, five times: the file is always a whole one.
cat >"$scratch/saves.rt" <<EOF
let m = mlp([1024, 4096, 1024])
for i in 0..<500 { save(m, "$scratch/big.safetensors") }
EOF
whole='import json, os, struct, sys; p = sys.argv[1]; f = open(p, "rb"); n = struct.unpack("<Q", f.read(8))[0]; h = json.loads(f.read(n)); end = max(v["data_offsets"][1] for k, v in h.items() if k != "__metadata__"); print("whole" if os.path.getsize(p) == 8 + n + end else "broken")'
"$retort" run -e "save(mlp([1024, 4096, 1024]), \"$scratch/big.safetensors\")" >/dev/null
kills=""
for delay in 1.5 2.2 2.9 3.4 4.1; do
    "$retort" run "$scratch/saves.rt" >/dev/null 2>&1 &
    sleep "$delay"
    kill -9 $! 2>/dev/null
    wait $! 2>/dev/null
    kills+="$([[ -f "$scratch/big.safetensors" ]] && python3 -c "$whole" "$scratch/big.safetensors" || echo none) "
done
check "kill -9 during saves leaves a whole file every time" 0 '^(whole ){5}$' -- echo "$kills"

# Files that are not Retort source: the reason, never a hang or a crash.
printf 'let a = 1\nlet b = "\xff\xfe"\n' >"$scratch/latin1.rt"
check "a file that is not UTF-8 says where" 66 "is not UTF-8 text \(byte 0xFF at line 2, column 10\)" -- "$retort" run "$scratch/latin1.rt"
check "a device is not a file" 66 "'/dev/zero': it is a device, not a file" -- timeout 10 "$retort" run /dev/zero
mkfifo "$scratch/pipe"
check "a pipe is not a file" 66 "it is a pipe or a socket, not a file" -- timeout 10 "$retort" run "$scratch/pipe"
printf 'let x = 1\nlet y = \x00 + 2\n' >"$scratch/nul.rt"
check "a NUL byte is named, not echoed" 65 "unexpected character U\+0000" -- "$retort" run "$scratch/nul.rt"
python3 -c "import gzip, sys; sys.stdout.buffer.write(gzip.compress(b'1,2\n' + b'0' * (64 << 20), 9))" >"$scratch/bomb.csv.gz"
check "a gzip bomb stops at the bound" 70 "inflates to more than 16.0 MiB" -- env RETORT_MAX_TENSOR_BYTES=$((64 << 20)) "$retort" run -e "csv(\"$scratch/bomb.csv.gz\")"
check "save writes a PNG by the path's extension" 0 '^89504e47$' -- bash -c \
    "'$retort' run -e 'save(plot([1, 3, 2]), \"$scratch/p.png\")' && od -An -tx1 -N4 '$scratch/p.png' | tr -d ' \n' && echo"
check "save writes an SVG of 640×360 CSS pixels" 0 'width="640px" height="360px"' -- bash -c \
    "'$retort' run -e 'save(bars([0.2, 0.8]), \"$scratch/b.svg\")' && head -c 400 '$scratch/b.svg'"
check "save writes a PDF" 0 '^%PDF-' -- bash -c \
    "'$retort' run -e 'save(images(digits().x[0:4]), \"$scratch/i.pdf\")' && head -c 5 '$scratch/i.pdf' && echo"
check "a plot in a script shows as text graphics" 0 '└─+┬─+┬.*┘' -- "$retort" run -e 'plot([1, 3, 2])'
check "a bad plot path is an error at the path" 70 'cannot tell the format of "p.gif" \(\.gif\): use \.svg, \.png or \.pdf' -- \
    "$retort" run -e 'save(plot([1, 3, 2]), "p.gif")'

check "fuzz --seconds=nan is refused, not a run of no inputs" 64 'seconds must be a number of seconds > 0 \(got nan\)' -- timeout 10 "$retort" fuzz --seconds=nan
check "fuzz names a corpus path that is not there" 64 "no such file or folder: '/nonexistent-corpus'" -- timeout 10 "$retort" fuzz --count 2 /nonexistent-corpus
check "fuzz runs its inputs" 0 '^fuzz: 20 inputs in [0-9.]+ s \(seed 1, [0-9]+ programs\): .*; 0 crashes, 0 hangs$' -- timeout 60 "$retort" fuzz --count 20 --current "$scratch/fuzz-current.rt"
# Each bench/ and scripts/ command prints its usage for -h/--help before it builds or installs anything.
for script in bench/compare bench/set bench/attention-heads bench/gemm-candidates bench/gemm-shapes bench/int8-kernels \
    bench/kernel bench/placement scripts/demo scripts/test scripts/notebooks scripts/docs-plots scripts/embed-data; do
    check "$script --help prints its usage" 0 "^(Usage: |  )${script}( |$)" -- timeout 10 "$script" --help
done
check "a bench thread count that is no number is refused" 64 "bench/gemm-shapes: a thread count must be a whole number, at least 1 \\(got 'two'\\)" -- bench/gemm-shapes two
check "bench/compare --threads 0 is refused before building" 64 "bench/compare: a thread count must be a whole number, at least 1 \\(got '0'\\)" -- timeout 10 bench/compare --threads 0

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
