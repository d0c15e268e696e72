"""onnxruntime's figures for Retort's inference workloads, on the very models Retort runs.

`retort bench --onnx DIR` exports each inference workload's model (float, and the int8 model in
QDQ form) as DIR/NAME.onnx, with NAME the workload's name and / as _. This times onnxruntime on
each file with the workload's batch, random float32 input made once, warm-up steps not timed;
samples/s = batch * steps / seconds. onnxruntime is the engine a user who deploys would pick.

    python bench/onnxruntime_reference.py DIR --threads 1 --seconds 2 --json
"""

import argparse
import json
import pathlib
import sys
import time

import numpy as np
import onnxruntime as ort

import core_latency
import serving

WARMUP_STEPS = 3


def batch_of(name):
    """The batch a workload name carries: infer-mlp-784-512-512-10/b128/f32 -> 128."""
    return int(next(part[1:] for part in name.split("/") if part.startswith("b") and part[1:].isdigit()))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads (default: onnxruntime's)")
    parser.add_argument("--seconds", type=float, default=3.0, help="time budget per workload")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--only", action="append", default=[], metavar="NAME")
    serving.add_argument(parser, "the selected models' workload names (none if FOLDER has no model --only selects)")
    core_latency.add_argument(parser)
    args = parser.parse_args(argv)
    core_latency.check_arguments(parser, args)
    files = {path.stem.replace("_", "/"): path for path in sorted(pathlib.Path(args.folder).glob("*.onnx"))}
    if not files and not args.serve:
        parser.error(f"no .onnx files in {args.folder} (run retort bench --onnx {args.folder})")
    selected = {name: path for name, path in files.items() if not args.only or any(s in name for s in args.only)}
    if not selected and not args.serve:
        parser.error(f"no model in {args.folder} matches --only ({', '.join(args.only)}); it has: {', '.join(files)}")
    if args.serve:
        serving.announce(selected)
    if not args.json:
        print(f"onnxruntime {ort.__version__}, {args.threads or 'default'} thread(s), {args.seconds:g} s per workload")
    sys.stdout.flush()
    if not args.serve:
        for name, path in selected.items():
            run(name, path, args)
        return
    serving.serve(selected, lambda name: run(name, selected[name], args))


def run(name, path, args):
    """Times onnxruntime on one model file and prints its row."""
    options = ort.SessionOptions()
    if args.threads:
        options.intra_op_num_threads = args.threads
        options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    batch = batch_of(name)
    feed = {}
    for graph_input in session.get_inputs():
        shape = [batch if not isinstance(d, int) else d for d in graph_input.shape]
        shape[0] = batch
        feed[graph_input.name] = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    for _ in range(WARMUP_STEPS):
        session.run(None, feed)

    def timed():
        steps, start = 0, time.perf_counter()
        while True:
            session.run(None, feed)
            steps += 1
            elapsed = time.perf_counter() - start
            if elapsed >= args.seconds:
                return steps, elapsed

    (steps, elapsed), apart = core_latency.around(args, args.threads, timed)
    row = {"workload": name, "samples_per_s": round(batch * steps / elapsed, 1), "steps": steps,
           "seconds": round(elapsed, 3), "threads": args.threads, **apart}
    if args.json:
        print(json.dumps(row))
    else:
        print(f"{name:<36} {row['samples_per_s']:>14,.1f} samples/s {steps:>7} {elapsed:>8.2f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
