import RetortNN

/// The fixed parts of an exported folder: model.py's header, train.py and the README, filled in
/// from the job's settings.
enum TorchScripts {
    static func modelHeader(_ job: TorchExport.Job) -> String {
        modelHeader(
            weights: (["student_init.safetensors"] + job.teacherFiles.map(\.file)).joined(separator: ", "),
            task: job.isDistillation ? "distillation" : "training run")
    }

    static func modelHeader(weights: String, task: String) -> String {
        """
        \"\"\"The models of a Retort \(task) as PyTorch modules, written by export_torch.

        Each class builds a module tree with Retort's state-dict names (standard nn modules where a
        Retort layer is one, plain containers otherwise) and a forward that replays the model's traced
        graph as torch ops, for any batch size. Their weights: \(weights) (load_state_dict, strict).
        \"\"\"
        import math

        import torch
        import torch.nn.functional as F
        from torch import nn


        class Container(nn.Module):
            \"\"\"A Retort layer that holds others (a sequence, a block, a function layer): what it computes is
            written out in the forward of the model holding it.\"\"\"

            def forward(self, *inputs):
                raise RuntimeError("a Retort container runs inside its model's forward, not on its own")
        """
    }

    /// The rate rule: the base rate (a number, or loss.py's function of p) through the step schedule.
    static func learningRate(_ optimizer: TorchExport.Optimizer) -> String {
        let base = optimizer.learningRate.map(Python.number) ?? "retort_loss.learning_rate(p)"
        var lines = ["def learning_rate(step, p):"]
        let f = { (x: Float) in Python.float(x) }
        switch optimizer.schedule {
        case .constant:
            lines += [
                "    \"\"\"The rate of optimizer step `step` (from 0) at training progress p.\"\"\"", "    return \(base)",
            ]
        case .step(let size, let gamma):
            lines += [
                "    \"\"\"The rate of step `step` (from 0): torch's StepLR(step_size=\(size), gamma=\(f(gamma))) stepped per batch.\"\"\"",
                "    return \(base) * \(f(gamma)) ** (step // \(size))",
            ]
        case .cosine(let period, let minimum):
            lines += [
                "    \"\"\"The rate of step `step` (from 0): torch's CosineAnnealingLR(T_max=\(period), eta_min=\(f(minimum))) stepped per batch.\"\"\"",
                "    base = \(base)",
                "    return \(f(minimum)) + (base - \(f(minimum))) * (1 + math.cos(math.pi * step / \(period))) / 2",
            ]
        case .warmupLinear(let warmup, let start):
            lines += [
                "    \"\"\"The rate of step `step` (from 0): torch's LinearLR(start_factor=\(f(start)), total_iters=\(warmup)) stepped per batch.\"\"\"",
                "    return \(base) * (\(f(start)) + (1 - \(f(start))) * min(step, \(warmup)) / \(warmup))",
            ]
        case .warmupCosine(let warmup, let total, let start, let minimum):
            lines += [
                "    \"\"\"The rate of step `step` (from 0): torch's SequentialLR of LinearLR(start_factor=\(f(start)), total_iters=\(warmup))",
                "    and CosineAnnealingLR(T_max=\(total - warmup), eta_min=\(f(minimum))) at milestone \(warmup), stepped per batch.\"\"\"",
                "    base = \(base)", "    if step < \(warmup):",
                "        return base * (\(f(start)) + (1 - \(f(start))) * step / \(warmup))",
                "    return \(f(minimum)) + (base - \(f(minimum))) * (1 + math.cos(math.pi * (step - \(warmup)) / \(total - warmup))) / 2",
            ]
        }
        return lines.joined(separator: "\n")
    }

    static func optimizer(_ optimizer: TorchExport.Optimizer) -> String {
        // The rate is set before every step by learning_rate; the one given here is step 0's placeholder.
        switch optimizer.kind {
        case .sgd:
            return
                "torch.optim.SGD(parameters, lr=0.0, momentum=\(Python.number(optimizer.momentum)), nesterov=\(optimizer.nesterov ? "True" : "False"), weight_decay=\(Python.number(optimizer.weightDecay)))"
        case .adam, .adamw:
            return
                "torch.optim.\(optimizer.kind == .adam ? "Adam" : "AdamW")(parameters, lr=0.0, betas=(\(Python.number(optimizer.betas.0)), \(Python.number(optimizer.betas.1))), eps=1e-08, weight_decay=\(Python.number(optimizer.weightDecay)))"
        }
    }

    static func train(_ job: TorchExport.Job) -> String {
        let teachers = job.teacherFiles
        let imports = (["Student"] + teachers.map(\.className)).joined(separator: ", ")
        let teacherList =
            teachers.isEmpty
            ? "TEACHERS = []"
            : "TEACHERS = [\(teachers.map { "(\($0.className), \(Python.string($0.file)))" }.joined(separator: ", "))]"
        let teacherValue: String
        if teachers.count > 1 {
            teacherValue =
                "{\"logits\": outputs, \"weights\": [\(job.teacherWeights.map(Python.number).joined(separator: ", "))]}"
        } else {
            teacherValue = "outputs[0]"
        }
        let lossCall =
            job.isDistillation ? "retort_loss.loss(out, teacher_value(xb), yb, p, xb)" : "retort_loss.loss(out, yb, p, xb)"
        return """
            #!/usr/bin/env python3
            \"\"\"\(job.isDistillation ? "Distils the student from its teacher" : "Trains the model") as Retort's run does, exported by export_torch from:

                \(job.call)

            `python train.py` runs it in one process; under torchrun each process takes its share of every
            batch (DistributedDataParallel: NCCL on CUDA, gloo otherwise). The batches and their order,
            the optimizer, its learning-rate rule, clipping and the loss are Retort's, so the student ends
            as Retort's own run leaves it (README.md says where that cannot hold). Rank 0 writes
            student.safetensors, which Retort reads back with load(path, into: student), and history.json.
            \"\"\"
            import json
            import math
            import os
            import struct
            import sys

            import torch
            import torch.distributed as dist
            from torch.nn.parallel import DistributedDataParallel

            import loss as retort_loss
            from model import \(imports)

            HERE = os.path.dirname(os.path.abspath(__file__))
            EPOCHS = \(job.epochs)
            BATCH = \(job.batch)
            # The largest global gradient norm (torch's clip_grad_norm_), or None.
            CLIP = \(job.clip.map(Python.number) ?? "None")
            # Student parameters frozen in Retort: not trained here either.
            FROZEN = \(Python.strings(job.frozen))
            \(teacherList)
            # How each process's loss is scaled so the averaged gradient is the whole batch's:
            # "examples" by its share of the batch's examples (exact for losses that are means over
            # examples), "tokens" by its share of the labelled tokens (exact for means over them),
            # "sum" by the number of processes (exact for sums). Retort chose it by running the loss
            # on the first batches and on two splits of each (halves, and one example against the
            # rest), at the training progress p = 0, 0.5 and 1.
            SCALING = \(Python.string(job.scaling.rawValue))


            \(learningRate(job.optimizer))


            def make_optimizer(parameters):
                \"\"\"Retort's \(job.optimizer.kind.rawValue); the loop sets the rate before every step.\"\"\"
                return \(optimizer(job.optimizer))


            def progress(step, total):
                \"\"\"Retort's training progress p: 0 at the first batch, 1 at the last, evenly between.\"\"\"
                return step / (total - 1) if total > 1 else 0.0


            DTYPES = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64, "I32": torch.int32,
                      "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool}


            def load_safetensors(path):
                \"\"\"A safetensors file as a dict of tensors (the format is simple enough to read here).\"\"\"
                with open(path, "rb") as f:
                    (length,) = struct.unpack("<Q", f.read(8))
                    header = json.loads(f.read(length))
                    data = f.read()
                tensors = {}
                for name, info in header.items():
                    if name == "__metadata__":
                        continue
                    begin, end = info["data_offsets"]
                    dtype = DTYPES[info["dtype"]]
                    flat = torch.frombuffer(bytearray(data[begin:end]), dtype=dtype) if end > begin else torch.empty(0, dtype=dtype)
                    tensors[name] = flat.reshape(info["shape"]).clone()
                return tensors


            def save_safetensors(path, tensors):
                \"\"\"Writes tensors as safetensors (float32 and int64), by way of a temporary file.\"\"\"
                names = {torch.float32: "F32", torch.int64: "I64"}
                header, blobs, offset = {}, [], 0
                for name in sorted(tensors):
                    t = tensors[name].detach().to("cpu").contiguous().clone()
                    blob = bytes(t.untyped_storage()) if t.numel() else b""
                    header[name] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
                    blobs.append(blob)
                    offset += len(blob)
                text = json.dumps(header, separators=(",", ":")).encode()
                text += b" " * (-len(text) % 8)
                with open(path + ".tmp", "wb") as f:
                    f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
                os.replace(path + ".tmp", path)


            def share_scale(share, batch, y, world):
                \"\"\"This process's loss factor: its share of the batch (examples or labelled tokens), times the
                number of processes, since DistributedDataParallel averages their gradients.\"\"\"
                if SCALING == "sum":
                    return float(world) if len(share) else 0.0
                if SCALING == "tokens":
                    local, total = (y[share] != -1).sum().item(), (y[batch] != -1).sum().item()
                else:
                    local, total = len(share), len(batch)
                return local / total * world if total else 0.0


            def main():
                world = int(os.environ.get("WORLD_SIZE", "1"))
                rank = int(os.environ.get("RANK", "0"))
                local_rank = int(os.environ.get("LOCAL_RANK", "0"))
                cuda = torch.cuda.is_available()
                device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
                if cuda:
                    torch.cuda.set_device(device)
                if world > 1:
                    dist.init_process_group("nccl" if cuda else "gloo")
                # Dropout masks only (Retort's cannot be reproduced here); one seed per process, so the
                # processes draw independent masks for their shares of the batch.
                torch.manual_seed(rank)
                retort_loss.DEVICE = device

                data = load_safetensors(os.path.join(HERE, "data.safetensors"))
                x, y, order = data["x"].to(device), data["y"].to(device), data["order"]
                count = x.shape[0]

                student = Student()
                student.load_state_dict(load_safetensors(os.path.join(HERE, "student_init.safetensors")))
                for name, parameter in student.named_parameters():
                    parameter.requires_grad_(name not in FROZEN)
                # Student.train keeps a batch norm whose weight and bias are frozen in its running
                # statistics, as Retort does (model.py).
                student.to(device).train()
                teachers = []
                for make, file in TEACHERS:
                    teacher = make()
                    teacher.load_state_dict(load_safetensors(os.path.join(HERE, file)))
                    teacher.to(device).eval().requires_grad_(False)
                    teachers.append(teacher)

                def teacher_value(xb):
                    with torch.no_grad():
                        outputs = [teacher(xb) for teacher in teachers]
                    return \(teacherValue)

                model = student
                if world > 1:
                    model = DistributedDataParallel(student, device_ids=[local_rank] if cuda else None)
                parameters = [p for p in student.parameters() if p.requires_grad]
                optimizer = make_optimizer(parameters)

                batches = (count + BATCH - 1) // BATCH
                total = EPOCHS * batches
                history = {"loss": []}
                for epoch in range(EPOCHS):
                    sums = {}
                    for b in range(batches):
                        step = epoch * batches + b
                        p = progress(step, total)
                        batch = order[epoch, b * BATCH:(b + 1) * BATCH].to(device)
                        share = torch.tensor_split(batch, world)[rank]
                        scale = share_scale(share, batch, y, world)
                        for group in optimizer.param_groups:
                            group["lr"] = learning_rate(step, p)
                        optimizer.zero_grad(set_to_none=True)
                        retort_loss.TERMS.clear()
                        # Nothing of this batch here (or no labelled token): the loss runs on one
                        # example for its terms' names, and the gradient is zero, so every process
                        # still takes part in the averaging.
                        empty = scale == 0
                        rows = batch[:1] if empty else share
                        xb, yb = x[rows], y[rows]
                        out = model(xb)
                        value = \(lossCall)
                        parts = [("loss", value)] + list(retort_loss.TERMS)
                        if empty:
                            (out.sum() * 0.0).backward()
                            shares = torch.zeros(len(parts), dtype=torch.float64, device=device)
                        else:
                            (value * scale).backward()
                            # The batch's loss and terms: each process's scaled share, summed and averaged.
                            shares = torch.stack([v.detach().double().reshape(()) * scale for _, v in parts])
                        names = [name for name, _ in parts]
                        if world > 1:
                            dist.all_reduce(shares)
                        # Weighted by the batch's examples, as Retort's epoch loss: a short last batch counts less.
                        for name, v in zip(names, (shares / world).tolist()):
                            sums[name] = sums.get(name, 0.0) + v * len(batch)
                        if CLIP is not None:
                            torch.nn.utils.clip_grad_norm_(parameters, CLIP)
                        optimizer.step()
                    for name, v in sums.items():
                        history.setdefault(name, []).append(v / count)
                    if rank == 0:
                        parts = ", ".join(f"{name} {history[name][-1]:.6f}" for name in sums)
                        print(f"epoch {epoch + 1}/{EPOCHS}: {parts}", flush=True)

                if rank == 0:
                    save_safetensors(os.path.join(HERE, "student.safetensors"), student.state_dict())
                    with open(os.path.join(HERE, "history.json"), "w") as f:
                        json.dump(history, f, indent=1)
                if world > 1:
                    # Every process reaches here (rank 0's files written) before any tears down, and the
                    # DistributedDataParallel wrapper, which holds the group, goes first: a rank that left
                    # while another still held the group was seen to abort in gloo's teardown.
                    dist.barrier()
                    del model
                    dist.destroy_process_group()
                    # Even so, about one two-process run in a hundred here aborted at exit, after all
                    # of the above, in PyTorch's own teardown ("terminate called without an active
                    # exception"). With every file written and the group gone, the process leaves
                    # without running it.
                    sys.stdout.flush()
                    sys.stderr.flush()
                    os._exit(0)


            if __name__ == "__main__":
                main()

            """
    }

    /// What each process's loss is scaled by, for the README.
    static func shareText(_ scaling: TorchExport.Scaling) -> String {
        switch scaling {
        case .examples: return "its share of the batch's examples times the number of processes"
        case .tokens: return "its share of the batch's labelled tokens times the number of processes"
        case .sum: return "the number of processes (each process's sum is its share of the batch's)"
        }
    }

    /// Which losses the scaling makes exact under torchrun.
    static func exactness(_ scaling: TorchExport.Scaling) -> String {
        switch scaling {
        case .examples:
            return "means over examples (kd, soft_kd, reverse_kd, dkd, cross-entropy on classes, mse, "
                + "kl_div with batchmean or mean, and sums of them)"
        case .tokens:
            return "means over labelled tokens (cross-entropy of [N, T, V] logits against [N, T] labels, -1 not counted; "
                + "kd, reverse_kd, jsd and the other masked means on sequences)"
        case .sum:
            return "sums over the batch's examples (reduction: \"sum\")"
        }
    }

    static func readme(_ job: TorchExport.Job) -> String {
        let task = job.isDistillation ? "distillation" : "training run"
        let teacherFiles = job.teacherFiles.map { "`\($0.file)`" }.joined(separator: ", ")
        return """
            # A Retort \(task) in PyTorch

            Exported by Retort's `export_torch` from:

            ```
            \(job.call)
            ```

            ## Run it

            One process (CUDA if there is one, else the CPU):

                python train.py

            Several processes on one machine (one per GPU, or CPU processes with gloo):

                torchrun --standalone --nproc-per-node 2 train.py

            Several machines (run on each, with its own `--node-rank`):

                torchrun --nnodes 2 --nproc-per-node 4 --node-rank 0 --master-addr 10.0.0.1 --master-port 29500 train.py

            Rank 0 writes `student.safetensors` (read it back in Retort with
            `load("student.safetensors", into: student)`) and `history.json` (the loss per epoch, and
            each term the loss names).

            ## The files

            - `model.py`: the student\(job.isDistillation ? " and the teacher" + (job.teachers.count > 1 ? "s" : "") : "") as `nn.Module` classes with Retort's state-dict names; `forward` replays the traced graph.
            - `loss.py`: the loss, translated from its Retort source (functions it calls and schedules of the progress p included).
            - `train.py`: the loop: each epoch's batch order, the optimizer (\(job.optimizer.kind.rawValue)) and its rate rule per step\(job.clip.map { ", gradient clipping at \(Python.number($0))" } ?? ""), \(job.isDistillation ? "the teacher frozen in eval mode, " : "")the student in train mode.
            - `data.safetensors`: `x`, `y` and `order` (each epoch's order of the examples, as Retort draws it).
            - `student_init.safetensors`\(teacherFiles.isEmpty ? "" : ", " + teacherFiles): the weights at the start.

            ## Where the result equals Retort's

            Batches are taken in the order Retort's own run takes them: the orders were drawn from a
            copy of the session's random generator at the time of the export, so the same
            `\(job.isDistillation ? "distill" : "fit")(...)` called right after `export_torch(...)` takes the same batches.

            With one process the student ends as Retort's does, within float rounding. Under torchrun
            each global batch is split among the processes and each process's loss is scaled by
            \(shareText(job.scaling)), so the averaged
            gradient is the whole batch's. That is exact for losses that are \(exactness(job.scaling)).

            It cannot hold for dropout (PyTorch draws other masks); for batch norm in train mode under
            torchrun (each process normalises with its own share's statistics, and the running
            statistics follow rank 0's); for a bias just before a batch norm in train mode (its
            gradient is rounding noise, which Adam scales up: it drifts apart, while the model
            computes the same); or for a loss that is not such a mean. model.py replays the forward
            pass traced at the data's shapes: any batch size and, for a language model, any length up
            to its block (so a sampling loop can feed it a growing prefix); the other sizes as
            traced (other sizes, or a length past the block, raise a ValueError).

            """
    }
}
