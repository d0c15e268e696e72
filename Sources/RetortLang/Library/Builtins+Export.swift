import Foundation
import RetortExport
import RetortNN
import RetortTensor

/// Leaving Retort: a model as an ONNX file, a training run as a PyTorch folder.
extension Builtins {
    static let exportTorchRules = """
        Takes distill's arguments (fit's without from:, default loss cross-entropy), loss arguments and schedules of p \
        included, and writes into the folder: model.py (the student and teachers as nn.Module classes with Retort's \
        state-dict names, at any batch size and, for a language model, any length up to its block; other sizes raise a \
        ValueError), loss.py (the loss translated from its Retort source: the prelude's losses and your own \
        functions, if, let, calls, term, the builtin tensor ops; schedules as functions of p), train.py (the same batches \
        in the same order, the optimizer and its rate rule per step, clip, the teachers frozen in eval mode and the \
        layers the student shares with one frozen as distill freezes them; one process, or DistributedDataParallel under \
        torchrun, NCCL on CUDA and gloo otherwise, each process's loss scaled so the averaged gradient is the whole \
        batch's: by its share of the examples, of the labelled tokens, or by the number of processes for a sum, whichever \
        makes the parts of the first batches add up to the whole when the loss is run on them here; a warning when none \
        does), data.safetensors, the weights and a README. \
        Batch orders: each epoch's order is drawn from a copy of the session's random generator at the time of the call, \
        so the same distill(...) or fit(...) right after export_torch(...) takes the same batches (the session's generator \
        is not advanced). The result equals Retort's run within float rounding in one process, and under torchrun for \
        losses that are means over examples (kd, soft_kd, reverse_kd, dkd, cross-entropy, mse, kl_div), means over \
        labelled tokens (the same losses on sequences) or sums; not for dropout (other masks), batch norm in train mode under torchrun (each process's \
        own statistics), or a bias just before a batch norm in train mode (its gradient is rounding noise that Adam scales \
        up; the model computes the same). The models are traced as export traces them: one that reads a value of its input \
        out as a number (item(), an if condition, a loop over a tensor's values) is refused, naming where. \
        A loss that cannot be translated is refused, naming the operation and its place; so are validation:, \
        checkpoint: and resume: (train.py runs every epoch in one go and records the training loss). The folder is \
        written under a temporary name beside it and renamed at the end: a failure leaves nothing half-written.
        """

    static let exportBuiltins: [Builtin] = [
        Builtin(
            "export_torch",
            [
                .init("dir", .string), .init("student", .model), .init("from", .optional(.models), Value.none),
                .init("on", .dataset), .init("loss", .optional(.function(of: "(student, teacher, labels)")), Value.none),
                .init("weights", .optional(.numbers()), Value.none), .init("precompute", .bool, .bool(false)),
            ] + trainingParameters,
            category: "training",
            summary: "Writes a folder that runs this distillation (or fit) in PyTorch, under python or torchrun. "
                + exportTorchRules,
            example: "export_torch(\"kd_run\", student, from: teacher, on: train, loss: kd, epochs: 5, T: 4, alpha: 0.7)",
            acceptsExtraNamed: true
        ) { call in try exportTorch(call) },
        Builtin(
            "export",
            [
                .init("model", .model), .init("path", .string),
                .init("input", .optional(.oneOf([.tensor, .dataset])), Value.none),
                .init("name", .optional(.string), Value.none),
            ], category: "model",
            summary:
                "Writes the model as an ONNX file (opset 17, the batch dimension dynamic), traced on `input` (a tensor, a dataset's first example or a shape; default: the shape the model last ran on), as graph(m) traces it. A value of the input read out as a number in the forward pass (item(), an if condition, a loop over a tensor's values) would be baked in as the example's, so it is refused; keep it in tensor ops (where, broadcasting). The path must end in .onnx; the file is written atomically.",
            example: "export(student, \"student.onnx\", input: test)"
        ) { call in
            let model = try call.model("model")
            let path = try call.string("path")
            guard path.lowercased().hasSuffix(".onnx") else {
                throw call.error("the path must end in .onnx, got \"\(path)\"", at: "path")
            }
            let example = try graphInput(call, model)
            let name = call.isGiven("name") ? try call.string("name") : (model.name ?? "model")
            do {
                let report = try ONNXExport.export(model.network, example: example, to: path, name: name)
                call.interpreter.sink.write("export: wrote \(path): \(report)\n")
            } catch let e as TensorError {
                throw call.error(e.message, kind: .runtime, at: e.message.contains("cannot write") ? "path" : "model")
            }
            return .none
        },
    ]

    static func exportTorch(_ call: BuiltinCall) throws -> Value {
        let directory = try call.string("dir")
        let student = try call.model("student")
        let data = try call.examples("on", for: "train on")
        if call.isGiven("validation") {
            throw call.error(
                "validation: is not exported (train.py records the training loss per epoch in history.json)", at: "validation")
        }
        if call.isGiven("checkpoint") {
            throw call.error(
                "checkpoint: is not exported (train.py runs every epoch in one go and saves student.safetensors at the end)",
                at: "checkpoint")
        }
        if try call.bool("resume") { throw call.error("resume: is not exported", at: "resume") }
        let distilling = call.isGiven("from")
        let teachers = distilling ? try call.models("from") : []
        if teachers.contains(where: { $0 === student || $0.network === student.network }) {
            throw call.error("the student cannot be its own teacher", at: "from")
        }
        var weights: [Double] = []
        if call.isGiven("weights") {
            guard distilling else { throw call.error("weights: needs teachers (from:)", at: "weights") }
            let w = try call.numbers("weights")
            guard w.count == teachers.count, w.allSatisfy({ $0 >= 0 && $0.isFinite }), w.reduce(0, +) > 0 else {
                throw call.error(
                    "weights must be one non-negative proportion per teacher (\(teachers.count)), not all zero", at: "weights")
            }
            weights = w.map { $0 / w.reduce(0, +) }
        } else if teachers.count > 1 {
            weights = Array(repeating: 1 / Double(teachers.count), count: teachers.count)
        }
        // The same default losses as distill and fit.
        let loss: Value
        if call.isGiven("loss") {
            loss = try call.function("loss")
        } else if distilling {
            loss = call.interpreter.lookup("kd") ?? .none
            guard case .function = loss else {
                throw call.error(
                    "the default loss is `kd`, but `kd` is \(describeShort(loss)) here (your binding hides the prelude's kd); pass loss: a function",
                    at: "student")
            }
        } else {
            loss = .none
        }
        let lossName = call.isGiven("loss") || distilling ? loss.functionName : "cross_entropy"
        try checkExtraNamed(call, loss: loss, lossName: lossName)
        if Quantizer.isQuantized(student.network) {
            throw call.error(
                "\(student.name ?? "the student") is an int8 model: it predicts but cannot be trained", at: "student")
        }

        let epochs = try call.int("epochs")
        let batch = try call.int("batch")
        let shuffle = try call.bool("shuffle")
        let optimizer = call.isGiven("opt") ? try call.optimizer("opt") : OptimizerValue(kind: .adam, learningRate: 1e-3)
        guard optimizer.steps == 0 else {
            throw call.error(
                "this optimizer has taken \(optimizer.steps) step\(optimizer.steps == 1 ? "" : "s"); train.py starts a fresh one, so give export_torch a new optimizer (opt: \(optimizer.kind.rawValue)(...))",
                at: "opt")
        }
        // Each epoch's order, from a copy of the session's generator: the run that follows draws the same.
        var generator = call.interpreter.generator
        let orders = (0..<epochs).map { _ in shuffle ? generator.permutation(data.count) : Array(0..<data.count) }

        var takesInput = false
        if case .function(.closure(let c)) = loss { takesInput = c.declaration.parameters.contains { $0.name == "x" } }
        let callText = sourceText(call)
        let translation = TorchTranslation(interpreter: call.interpreter, sourceName: call.interpreter.currentSourceName)
        let lossSource: String
        do {
            lossSource = try translation.module(
                .init(
                    loss: loss, lossRange: call.range(of: "loss"), isDistillation: distilling, extra: call.extraNamed,
                    takesInput: takesInput,
                    learningRate: optimizer.learningRateFunction.map {
                        ($0, call.isGiven("opt") ? call.range(of: "opt") : call.range)
                    },
                    text: callText))
        } catch let refusal as TorchTranslation.Refusal {
            throw Diagnostic(
                .argument, "export_torch: \(refusal.message)", at: refusal.range, source: refusal.sourceName, trace: refusal.trace
            )
        }

        // Layers the student shares with a teacher: distill freezes them with the teacher (and warns),
        // so train.py, whose student holds its own copy, must not train them either.
        let shared = sharedWithTeachers(student, teachers)
        let frozen = student.network.namedParameters.filter { !$0.variable.requiresGrad }.map(\.name) + shared
        if !shared.isEmpty {
            call.interpreter.sink.writeError(
                "export_torch: \(student.name ?? "the student") shares \(shared.joined(separator: ", ")) with its teacher; train.py freezes them, as distill does (clone the teacher's layers to train them)\n"
            )
        }
        let (scaling, scalingWarning) = try torchScaling(
            call, student: student, teachers: teachers, weights: weights, loss: loss, data: data, order: orders.first ?? [],
            batch: batch)
        let job = TorchExport.Job(
            student: student.network, teachers: teachers.map(\.network), teacherWeights: weights, data: data, orders: orders,
            lossSource: lossSource,
            optimizer: TorchExport.Optimizer(
                kind: TorchExport.Optimizer.Kind(rawValue: optimizer.kind.rawValue) ?? .adam,
                learningRate: optimizer.learningRate,
                betas: optimizer.betas, weightDecay: optimizer.weightDecay, momentum: optimizer.momentum,
                nesterov: optimizer.nesterov, schedule: optimizer.schedule),
            epochs: epochs, batch: batch, clip: try call.ifGiven("clip", call.number),
            scaling: scaling, frozen: frozen, call: callText,
            studentSummary: summary(student, role: "the student"),
            teacherSummaries: teachers.map { summary($0, role: "a teacher") })
        let report: TorchExport.Report
        do {
            report = try TorchExport.write(job, to: directory)
        } catch let e as TensorError {
            throw call.error(e.message, kind: .runtime, at: e.message.hasPrefix("cannot write") ? "dir" : nil)
        }
        if let scalingWarning { call.interpreter.sink.writeError(scalingWarning) }
        call.interpreter.sink.write(
            "export_torch: wrote \(directory) (\(report.files.joined(separator: ", "))); run python \(directory)/train.py, or torchrun --standalone --nproc-per-node 2 \(directory)/train.py\n"
        )
        return .none
    }

    /// `student (Sequential of 3 layers, 2410 parameters)`, for a class's docstring.
    static func summary(_ model: Model, role: String) -> String {
        "\(model.name ?? role) from Retort: \(model.network.briefDescription), \(model.network.parameterCount) parameters"
    }

    /// The text of the call being run, as written (one line).
    static func sourceText(_ call: BuiltinCall) -> String {
        guard let source = call.interpreter.sources[call.interpreter.currentSourceName] else { return "export_torch(...)" }
        let bytes = Array(source.text.utf8)
        let (start, end) = (call.range.start.offset, call.range.end.offset)
        guard start >= 0, end <= bytes.count, start < end else { return "export_torch(...)" }
        let text = String(decoding: bytes[start..<end], as: UTF8.self)
        return text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
    }
}
