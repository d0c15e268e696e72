import Foundation
import RetortNN
import RetortTensor

extension Builtins {
    static let trainingRules = """
        Named arguments the call does not take go to the loss, and must be parameters of it (else an error); a function \
        there is a schedule, called each batch with the training progress p: 0 at the first batch, 1 at the last, evenly \
        between (per batch, not per epoch; a run of one batch is at p = 0). A loss with a parameter x gets the batch's input; features(model, x, k) and \
        model(x) on it reuse the batch's one forward pass. The model trains in train mode and returns to the mode it had. \
        clip: scales gradients to at most that global L2 norm (torch's clip_grad_norm_). checkpoint: "dir" writes the \
        model, its optimizer's state, the epoch and the history to dir/NAME.checkpoint.safetensors (NAME: the model's \
        name), or checkpoint: "file.safetensors" to that file, every `every` epochs (atomically), with a record of the run: \
        the model's architecture, the data, the optimizer and its settings, the loss and its arguments (one equal to the \
        loss's own default is the same run as one left out), batch, shuffle, clip and epochs (and for distill the \
        teachers, their weights as proportions, and on_policy). resume: true starts after the last saved epoch when the \
        record matches this call; a file saved by a run that differs in any of them is an error naming each difference \
        (never a silent continuation of another run: give each run of a sweep its own file). The run then ends bit-identical to an unbroken one (what the loss keeps \
        in the session's names, such as a count of calls, aside): the checkpoint also holds where the session's generator, \
        each dropout layer's and on-policy sampling's are; \
        parameters the run trains that the model does not hold (an adapter the loss reads, by its name there: \
        loss.adapter.0.weight) are saved and restored with it, with their optimizer state; a model the loss only reads (a \
        teacher behind no_grad) is not; one made inside the loss is new each batch, trained one step and dropped (a \
        warning says so). The metric is the task's: accuracy for [N, C] \
        outputs with labels [N], token accuracy for [N, T, V] outputs with labels [N, T] (−1 not counted), none otherwise. \
        The history's loss (and each named term) per epoch is the mean over the epoch's examples: each batch's loss \
        weighted by its size, as PyTorch's running_loss += loss.item() * x.size(0); the last batch may be short and is \
        kept. Its accuracy is counted over the same training outputs, in train mode before each step (dropout on), so it \
        differs from accuracy(model, data) afterwards; val_loss and val_accuracy are over the whole validation set in \
        eval mode. See help(adam) for optimizers.
        """

    static let trainingParameters: [Builtin.Parameter] = [
        .init("epochs", .wholeNumber(min: 1), .number(10)), .init("opt", .optional(.optimizer), Value.none),
        .init("batch", .wholeNumber(min: 1), .number(64)), .init("shuffle", .bool, .bool(true)),
        .init("validation", .optional(.dataset), Value.none), .init("quiet", .bool, .bool(false)),
        .init("clip", clipType, Value.none), .init("checkpoint", .optional(.string), Value.none),
        .init("every", .wholeNumber(min: 1), .number(1)), .init("resume", .bool, .bool(false)),
    ]

    /// `clip:`, a maximum global gradient norm.
    static let clipType = ParameterType.optional(.number(.above(0, finite: true)))

    /// A trainer for `model` on `data` from the call's arguments; `loss` computes each batch's step.
    static func trainer(
        _ call: BuiltinCall, task: String, model: Model, data: Dataset, lossName: String, lossFunction: Value,
        generators: [Checkpoint.Generator] = [],
        loss: @escaping (Trainer.Batch, TrainingContext) throws -> (loss: Variable, output: Variable, labels: Tensor?)
    ) throws -> (trainer: Trainer, resume: Bool) {
        if Quantizer.isQuantized(model.network) {
            throw call.error(
                "\(model.name ?? "this model") is an int8 model: it predicts but cannot be trained (fine-tune the float model, or a qat() copy, then quantise or convert it)"
            )
        }
        let optimizerValue = try call.ifGiven("opt", call.optimizer) ?? OptimizerValue(kind: .adam, learningRate: 1e-3)
        if let complaint = optimizerValue.claim(model) { throw call.error(complaint, at: call.isGiven("opt") ? "opt" : nil) }
        let optimizer = LanguageOptimizer(optimizerValue, interpreter: call.interpreter, range: call.range, owner: model)
        let settings = TrainingSettings(
            epochs: try call.int("epochs"), batchSize: try call.int("batch"), shuffle: try call.bool("shuffle"),
            clip: try call.ifGiven("clip", call.number))
        let interpreter = call.interpreter
        // A loss that reads attentions() needs the maps of the batch's forward pass with gradients.
        let readsAttentions =
            call.isGiven("loss") && LossRecord.reaches("attentions", from: call.value("loss"), prelude: interpreter.preludeScope)
        let trainer = Trainer(task: task, model: model.network, data: data, settings: settings, optimizer: optimizer) { batch in
            let context = TrainingContext(keepsAttentionGraph: readsAttentions)
            let (value, output, labels) = try interpreter.withTrainingContext(context) { try loss(batch, context) }
            return Trainer.Step(loss: value, output: output, terms: context.terms, labels: labels)
        }
        if call.isGiven("validation") { trainer.validation = try call.examples("validation", for: "validate on") }
        trainer.quiet = try call.bool("quiet")
        trainer.onEvent = { [weak interpreter] event in interpreter?.sink.progress(event) }
        trainer.onNewParametersEachStep = { [weak interpreter] in
            interpreter?.sink.writeError(
                "\(task): the loss trains parameters it makes anew each step (a layer made inside the loss, as "
                    + "hint(a, b, linear(8, 16))): each is trained for one step and dropped. Make it once, outside the "
                    + "loss (let adapter = linear(8, 16)), to train it with \(model.name ?? "the model")\n"
            )
        }
        trainer.shouldStop = { [weak interpreter] in
            guard let interpreter, interpreter.interrupt.isRequested else { return false }
            interpreter.interrupt.clear()
            return true
        }
        // What the loss trains beside the model that it holds by name (an adapter): a checkpoint
        // saves it, and it is no layer made anew each batch.
        let (lossParameters, lossModels) =
            call.isGiven("loss")
            ? LossRecord.parameters(
                of: [("loss", call.value("loss"))] + call.extraNamed.map { ($0.label ?? "", $0.value) },
                prelude: interpreter.preludeScope) : ([], [])
        trainer.namedOutsideParameters = Set(lossParameters.map { ObjectIdentifier($0.variable) })
        let resume = try call.bool("resume")
        if call.isGiven("checkpoint") {
            let target = try call.string("checkpoint")
            let path =
                target.hasSuffix(".safetensors")
                ? target : (target as NSString).appendingPathComponent("\(model.name ?? "model").checkpoint.safetensors")
            var checkpoint = Checkpoint(
                path: path, every: try call.int("every"), model: model.network, optimizer: optimizer,
                run: try runRecord(
                    call, model: model, data: data, optimizer: optimizerValue, settings: settings, lossName: lossName,
                    lossFunction: lossFunction))
            checkpoint.lossParameters = lossParameters
            describeLeftOut(&checkpoint, lossFunction: lossFunction, lossName: lossName, prelude: interpreter.preludeScope)
            // Dropouts in the models the loss reads (an adapter's) draw in the run too.
            for (name, network) in lossModels { checkpoint.addDropouts(of: network, prefix: "loss.\(name).") }
            checkpoint.generators += generators
            trainer.checkpoint = checkpoint
            trainer.onResume = { [weak interpreter] reached in
                if let reached {
                    interpreter?.sink.write("\(task): resuming after epoch \(reached) from \(path)\n")
                } else {
                    interpreter?.sink.write("\(task): no checkpoint at \(path) yet; starting at epoch 1\n")
                }
            }
        } else if resume {
            throw call.error("resume: true needs checkpoint: the directory or file the run saved into", at: "resume")
        }
        return (trainer, resume)
    }

    /// What a stopped run's `last_history` holds: the epochs it finished, and a resumed
    /// checkpoint's before them, counted apart so the run is not credited with the checkpoint's.
    static func historyNote(epochs: Int, resumed: Int) -> String {
        func count(_ n: Int) -> String { n == 1 ? "1 epoch" : "\(n) epochs" }
        let finished = epochs - resumed
        guard resumed > 0 else {
            return "the \(count(finished)) it finished \(finished == 1 ? "is" : "are") in last_history (plot(last_history))"
        }
        let own = finished == 0 ? "none this run finished" : "\(finished == 1 ? "the 1" : "the \(finished)") this run finished"
        return "last_history holds \(count(epochs)): \(resumed) from the checkpoint it resumed, \(own) (plot(last_history))"
    }

    /// Runs a trainer, turning the ways a run stops into diagnostics at the call. A run that
    /// stops after finishing an epoch leaves its history in `last_history` (as Keras's fit returns
    /// its history when TerminateOnNaN stops it); the diagnostic says so.
    static func run(_ call: BuiltinCall, _ trainer: Trainer, model: Model, resume: Bool) throws -> History {
        let name = model.name ?? "the model"
        var historyNote: [String] = []
        func keepHistory() {
            let interpreter = call.interpreter
            guard let history = trainer.history, !history.epochs.isEmpty else {
                // An earlier stopped run's last_history would pass for this one's.
                if case .history(let earlier)? = interpreter.globals.lookup("last_history"),
                    earlier === interpreter.stoppedRunHistory
                {
                    interpreter.globals.remove("last_history")
                }
                return
            }
            interpreter.globals.define("last_history", .history(history))
            interpreter.stoppedRunHistory = history
            historyNote = [Self.historyNote(epochs: history.epochs.count, resumed: trainer.resumedEpochs)]
        }
        do {
            return try trainer.run(name: model.name ?? "", random: call.interpreter, resume: resume)
        } catch let error as TrainingError {
            keepHistory()
            switch error {
            case .interrupted(let place, let holds):
                throw call.interpreter.diagnostic(
                    .interrupted, "\(trainer.task) interrupted \(place); \(holds.said(of: name))", at: call.range,
                    notes: historyNote)
            case .nonFiniteLoss(_, _, _, _, _, let weightsFinite):
                let kept =
                    weightsFinite
                    ? trainer.holds.said(of: name)
                    : "\(name)'s weights are no longer finite: the update before overflowed"
                throw call.interpreter.diagnostic(
                    .runtime, "\(error): \(trainer.task) stopped; \(kept)", at: call.range,
                    notes: historyNote + [
                        "common causes: a learning rate too large for the model (try lr: 1e-3, or clip: 1.0), a temperature T of 0 in a distillation loss, log of 0 in a hand-written loss"
                    ])
            case .lossNotScalar:
                throw call.interpreter.diagnostic(.type, error.description, at: call.range)
            case .nothingToTrain(let frozen):
                throw call.interpreter.diagnostic(
                    .runtime,
                    "the loss does not depend on any trainable parameter of \(name)"
                        + (frozen ? " (its parameters are frozen: unfreeze(model))" : ""), at: call.range)
            case .nonFiniteData:
                throw call.interpreter.diagnostic(
                    .runtime, "\(error); \(trainer.task) would end with NaN weights", at: call.range)
            }
        } catch {
            keepHistory()
            let wrapped = call.interpreter.wrap(error, at: call.range)
            guard var diagnostic = wrapped as? Diagnostic else { throw wrapped }
            // An error or an interrupt inside the loss (or in validation, or saving a checkpoint):
            // the model has trained up to here, which the error alone would not say.
            if let place = trainer.stoppedAt {
                diagnostic.notes.append("\(trainer.task) stopped \(place); \(trainer.holds.said(of: name))")
            }
            diagnostic.notes += historyNote
            throw diagnostic
        }
    }

    /// Refuses a named argument that neither the builtin nor the loss takes: a misspelt `epoch:`
    /// must not run ten epochs without a word.
    static func checkExtraNamed(_ call: BuiltinCall, loss: Value, lossName: String) throws {
        var taken: [String] = []
        switch loss {
        case .function(.closure(let c)): taken = c.declaration.parameters.map(\.name)
        case .function(.builtin(let b)): taken = b.parameters.map(\.name)
        default: break
        }
        for extra in call.extraNamed where !taken.contains(extra.label ?? "") {
            let label = extra.label ?? ""
            var notes: [String] = []
            let synonyms = ["temperature": "T", "tau": "T", "batch_size": "batch", "num_epochs": "epochs", "weight": "weights"]
            let known = call.builtin.parameters.map(\.name) + taken
            if let near = synonyms[label.lowercased()].flatMap({ known.contains($0) ? $0 : nil })
                ?? call.interpreter.nearest(to: label, in: known)
            {
                notes.append("did you mean '\(near)'?")
            }
            if label == "lr" || label == "learning_rate" {
                notes.append("the learning rate is the optimizer's: opt: adam(lr: ...)")
            }
            notes.append(
                "named arguments \(call.builtin.name) does not take go to the loss, and \(lossName) takes "
                    + (taken.isEmpty ? "none" : taken.joined(separator: ", ")))
            throw call.interpreter.diagnostic(
                .argument, "\(call.builtin.name) has no parameter '\(label)', and neither has its loss \(lossName)",
                at: extra.range, notes: notes)
        }
    }

    /// The student's trainable parameters a teacher holds too (a layer used in both), by name:
    /// distill freezes them with the teacher, and export_torch's train.py must too.
    static func sharedWithTeachers(_ student: Model, _ teachers: [Model]) -> [String] {
        let held = Set(teachers.flatMap { $0.network.parameters.map(ObjectIdentifier.init) })
        return student.network.namedParameters.filter {
            $0.variable.requiresGrad && held.contains(ObjectIdentifier($0.variable))
        }.map(\.name)
    }

    /// What a distillation loss gets as its teacher argument: one teacher's logits, or several
    /// teachers' as a record of their logits and weights (equal unless given), which the prelude's
    /// kd, soft_kd and multi_kd average.
    static func teacherValue(_ logits: [Tensor], weights: [Double]?) -> Value {
        guard logits.count != 1 else { return .tensor(Variable(logits[0])) }
        let w = weights ?? Array(repeating: 1 / Double(logits.count), count: logits.count)
        return .record(
            Record([("logits", .list(logits.map { .tensor(Variable($0)) })), ("weights", .list(w.map { .number($0) }))]))
    }

    /// Calls a user's loss with positional arguments and any extra named ones; a function among the
    /// extra arguments is a schedule, called with the training progress in [0, 1].
    static func callLoss(_ call: BuiltinCall, _ loss: Value, _ positional: [Value], x: Variable, progress: Double) throws
        -> Variable
    {
        var args = positional.map { CallArgument(label: nil, value: $0, range: call.range) }
        if case .function(.closure(let c)) = loss, c.declaration.parameters.contains(where: { $0.name == "x" }) {
            args.append(CallArgument(label: "x", value: .tensor(x), range: call.range))
        }
        for extra in call.extraNamed {
            var value = extra.value
            if case .function = value {
                value = try call.interpreter.callFunction(value, [.number(progress)], at: extra.range)
            }
            args.append(CallArgument(label: extra.label, value: value, range: extra.range))
        }
        let result = try call.interpreter.call(loss, args, at: call.range, calleeRange: call.range(of: "loss"))
        guard case .tensor(let t) = result else {
            throw call.error("the loss must return a tensor, got \(describeShort(result))", kind: .type, at: "loss")
        }
        return t
    }

    static let trainingBuiltins: [Builtin] = [
        Builtin(
            "fit",
            [
                .init("model", .model), .init("data", .dataset),
                .init("loss", .optional(.function(of: "(output, labels)")), Value.none),
            ] + trainingParameters, category: "training",
            summary:
                "Trains a model on a dataset (default loss cross_entropy(output, labels), optimizer adam(lr: 1e-3)); returns the history. "
                + trainingRules,
            example: "let h = fit(teacher, train, epochs: 40, opt: adam(lr: 1e-3), batch: 64)",
            acceptsExtraNamed: true
        ) { call in
            let model = try call.model("model")
            let data = try call.examples("data", for: "train on")
            let loss = try call.ifGiven("loss", call.function) ?? .none
            let lossName = call.isGiven("loss") ? loss.functionName : "cross_entropy"
            try checkExtraNamed(call, loss: loss, lossName: lossName)
            func batchLoss(_ x: Variable, _ y: Tensor, _ progress: Double, _ context: TrainingContext) throws -> (
                loss: Variable, output: Variable
            ) {
                let output = try context.forward(model, x)
                if case .none = loss { return (try Loss.crossEntropy(output, target: Variable(y)), output) }
                return (try callLoss(call, loss, [.tensor(output), .tensor(Variable(y))], x: x, progress: progress), output)
            }
            let (trainer, resume) = try trainer(
                call, task: "fit \(model.name ?? "model")", model: model, data: data, lossName: lossName, lossFunction: loss
            ) { batch, context in
                let (loss, output) = try batchLoss(batch.x, batch.y, batch.progress, context)
                return (loss, output, nil)
            }
            trainer.validationLoss = { data, progress in
                let context = TrainingContext()
                return try call.interpreter.withTrainingContext(context) {
                    Double(try batchLoss(Variable(data.x), data.y, progress, context).loss.value.scalar ?? .nan)
                }
            }
            let history = try run(call, trainer, model: model, resume: resume)
            return .history(history)
        },
        Builtin(
            "distill",
            [
                .init("student", .model), .init("from", .models), .init("on", .dataset),
                .init("loss", .optional(.function(of: "(student, teacher, labels)")), Value.none),
                .init("weights", .optional(.numbers()), Value.none), .init("precompute", .bool, .bool(false)),
                .init("on_policy", .fraction(includingOne: true), .number(0)),
            ] + trainingParameters,
            category: "training",
            summary:
                "Trains a student on a teacher's outputs: loss(student_logits, teacher_logits, labels) per batch (default: `kd`, the prelude's unless you bind your own; a `kd` that is not a function is an error). The teachers are frozen and in eval mode for the whole call, whatever the loss does with them (features(teacher, x, k) included), then restored; layers the student shares with a teacher are frozen too (a warning names them). `from` may be a list of teachers, whose soft targets kd, soft_kd and multi_kd average with `weights` (proportions: divided by their sum; non-negative, not all zero). precompute: true runs the teachers once over the data. on_policy: λ (a sequence dataset) trains on the student's own samples (drawn at temperature 1, whatever T the loss takes) for a λ share of the batches (chosen at random, seeded by the session), scored by the teachers: GKD's on-policy distillation (Agarwal et al. 2024); the batch keeps its size and block, and the metric reads the samples' labels. on_policy needs loss: given (on the samples the labels are the student's own draws, which a loss's label term, kd's cross-entropy, would train on). "
                + trainingRules,
            example: "distill(student, from: teacher, on: train, loss: kd, epochs: 40, T: 4, alpha: 0.7)",
            acceptsExtraNamed: true
        ) { call in
            let student = try call.model("student")
            let data = try call.examples("on", for: "distill on")
            let teachers = try call.models("from")
            if teachers.contains(where: { $0 === student || $0.network === student.network }) {
                throw call.error("the student cannot be its own teacher", at: "from")
            }
            var weights: [Double]?
            if call.isGiven("weights") {
                let w = try call.numbers("weights")
                let shown = "[" + w.map(formatNumber).joined(separator: ", ") + "]"
                guard w.count == teachers.count else {
                    throw call.error("weights \(shown) must have one number per teacher (\(teachers.count))", at: "weights")
                }
                guard w.allSatisfy({ $0 >= 0 && $0.isFinite }), w.reduce(0, +) > 0 else {
                    throw call.error(
                        "weights \(shown) must be proportions: non-negative and not all zero (they are divided by their sum)",
                        at: "weights")
                }
                // Weights are proportions: the soft targets stay a distribution whatever their sum.
                let total = w.reduce(0, +)
                weights = w.map { $0 / total }
            }
            // The default is whatever `kd` names in the session: the prelude's, or the user's own
            // function; a `kd` bound to anything else is an error that names it, never skipped.
            let loss = call.isGiven("loss") ? try call.function("loss") : (call.interpreter.lookup("kd") ?? .none)
            if !call.isGiven("loss") {
                guard case .function = loss else {
                    throw call.error(
                        "the default loss is `kd`, but `kd` is \(describeShort(loss)) here (your binding hides the prelude's kd); pass loss: a function",
                        at: "student")
                }
            }
            try checkExtraNamed(call, loss: loss, lossName: loss.functionName)
            // Several teachers reach the loss as one record of their logits and weights, which the
            // prelude's kd, soft_kd and multi_kd average; its other losses read one teacher's logits
            // and failed inside the prelude ("'/' cannot combine a record and a number").
            if teachers.count > 1, case .function(.closure(let closure)) = loss,
                closure.environment === call.interpreter.preludeScope, let name = closure.declaration.name,
                !["kd", "soft_kd", "multi_kd"].contains(name)
            {
                throw call.error(
                    "\(name) takes one teacher's logits; several teachers' averaged soft targets go to kd, soft_kd or multi_kd (or distill from one teacher, or write a loss that reads t.logits and t.weights)",
                    at: "loss")
            }
            // Layers the student shares with a teacher are frozen with it: say so rather than leave
            // a student part that silently does not train.
            let shared = sharedWithTeachers(student, teachers)
            if !shared.isEmpty {
                call.interpreter.sink.writeError(
                    "distill: \(student.name ?? "the student") shares \(shared.joined(separator: ", ")) with its teacher; distill freezes the teacher, so these stay as they are (clone the teacher's layers to train them)\n"
                )
            }
            // The teachers are frozen and in evaluation mode for the whole call, whatever the loss
            // does with them (features(teacher, x, k) included); both are restored afterwards.
            let teacherState = teachers.map { t in (Modes(of: t.network), t.network.parameters.map { ($0, $0.requiresGrad) }) }
            for t in teachers {
                t.network.isTraining = false
                for p in t.network.parameters { p.requiresGrad = false }
            }
            defer {
                for (t, state) in zip(teachers, teacherState) {
                    state.0.restore()
                    for (p, requires) in state.1 { p.requiresGrad = requires }
                }
            }
            let cached: [Tensor]? =
                try call.bool("precompute") ? try teachers.map { try Evaluation.predict($0.network, data.x) } : nil
            func batchLoss(_ indices: [Int]?, _ x: Variable, _ y: Tensor, _ progress: Double, _ context: TrainingContext) throws
                -> (loss: Variable, output: Variable)
            {
                let logits: [Tensor] = try teachers.enumerated().map { i, t in
                    if let cached, let indices { return cached[i].rows(indices) }
                    return try GradMode.withoutGradients { try context.forward(t, x).value }
                }
                let output = try context.forward(student, x)
                return (
                    try callLoss(
                        call, loss, [.tensor(output), teacherValue(logits, weights: weights), .tensor(Variable(y))], x: x,
                        progress: progress),
                    output
                )
            }
            // On-policy batches: which ones, and the student's samples, come from a generator of
            // their own, drawn once from the session's (so a call without on_policy draws nothing).
            let onPolicy = try call.number("on_policy")
            var policy: RandomGenerator?
            if onPolicy > 0 {
                guard data.x.rank == 2, data.y.shape == data.x.shape else {
                    throw call.error(
                        "on_policy needs a sequence dataset (sequences(corpus, v, block:)), whose positions the student's samples can fill",
                        at: "on_policy")
                }
                // On the student's samples the labels are what it sampled: the default kd's
                // cross-entropy term would train it on them (self-training), which GKD does not do.
                guard call.isGiven("loss") else {
                    throw call.error(
                        "on_policy: say which loss: on the student's own samples the labels are what it sampled, so the default kd's cross-entropy term would train it on them; GKD (TRL) uses the divergence alone: loss: jsd or loss: soft_kd (loss: kd keeps that term)",
                        at: "on_policy")
                }
                policy = RandomGenerator(seed: call.interpreter.generator.next())
            }
            // A checkpoint saves where the on-policy generator is, so a resumed run samples as the
            // unbroken one would have.
            let policyState = Checkpoint.Generator(
                name: "on-policy", get: { policy?.stateWords ?? [] }, set: { policy?.stateWords = $0 })
            let (trainer, resume) = try trainer(
                call, task: "distill \(student.name ?? "student")", model: student, data: data, lossName: loss.functionName,
                lossFunction: loss, generators: policy == nil ? [] : [policyState]
            ) { batch, context in
                if var g = policy {
                    // The generator moves on every batch, on-policy or not.
                    defer { policy = g }
                    guard g.nextUnit() < Float(onPolicy) else {
                        let (loss, output) = try batchLoss(batch.indices, batch.x, batch.y, batch.progress, context)
                        return (loss, output, nil)
                    }
                    let ids = try Generation.sample(
                        student.network, prompt: [], settings: .init(count: batch.x.shape[0]), block: data.x.shape[1],
                        generator: &g)
                    let own = try Dataset.sequences(ids: ids, block: data.x.shape[1], classes: data.classes, name: "on-policy")
                    let (loss, output) = try batchLoss(nil, Variable(own.x), own.y, batch.progress, context)
                    return (loss, output, own.y)
                }
                let (loss, output) = try batchLoss(batch.indices, batch.x, batch.y, batch.progress, context)
                return (loss, output, nil)
            }
            trainer.validationLoss = { data, progress in
                let context = TrainingContext()
                return try call.interpreter.withTrainingContext(context) {
                    Double(try batchLoss(nil, Variable(data.x), data.y, progress, context).loss.value.scalar ?? .nan)
                }
            }
            let history = try run(call, trainer, model: student, resume: resume)
            return .history(history)
        },
        Builtin(
            "step",
            [
                .init("opt", .optimizer), .init("loss", .tensor), .init("clip", clipType, Value.none),
                .init("progress", .optional(.fraction(includingOne: true)), Value.none),
            ],
            category: "training",
            summary:
                "One training step: back-propagates the loss onto the gradients already there (backward() leaves them, as PyTorch's loss.backward() then opt.step() adds them up), updates the unfrozen parameters it depends on and those an earlier backward() left a gradient on (clipped to a global norm `clip`), clears their gradients. `progress` is the p an lr function or schedule reads.",
            example: "step(opt, kd(student(b.x), no_grad(teacher(b.x)), b.y))"
        ) { call in
            let optimizer = try call.optimizer("opt")
            let loss = try call.tensor("loss")
            guard loss.value.count == 1 else {
                throw call.error("the loss must be one number, got shape \(formatShape(loss.shape))", at: "loss")
            }
            // The loss's parameters, and those an earlier backward() left a gradient on (PyTorch's
            // loss.backward(); opt.step() updates them too): they were once left for a later step,
            // which then added them in again. The update clears their gradients, so they are not
            // noted as left any more.
            var parameters = loss.parameterLeaves
            guard !parameters.isEmpty else {
                throw call.error("the loss does not depend on any trainable (unfrozen) parameter", at: "loss")
            }
            var seen = Set(parameters.map(ObjectIdentifier.init))
            for p in call.interpreter.gradientsLeft where p.requiresGrad && seen.insert(ObjectIdentifier(p)).inserted {
                parameters.append(p)
            }
            if let refusal = optimizer.refusal(toStep: parameters) { throw call.error(refusal, at: "opt") }
            let progress = try call.ifGiven("progress", call.number)
            // `step` trains whatever the loss depends on; the optimizer's first model owns it.
            let owner = Model(Sequential([]))
            try Trainer.update(
                loss, parameters,
                optimizer: LanguageOptimizer(optimizer, interpreter: call.interpreter, range: call.range, owner: owner),
                clip: try call.ifGiven("clip", call.number), progress: progress, accumulating: true)
            return .number(Double(loss.value.scalar ?? .nan))
        },
        Builtin(
            "accuracy", [.init("model", .model), .init("data", .dataset)], category: "training",
            summary: "The fraction of examples whose top-scoring class is the label.", example: "accuracy(student, test)"
        ) { call in
            .number(
                Double(try Evaluation.accuracy(try call.model("model").network, on: try call.examples("data", for: "measure"))))
        },
        Builtin(
            "predict", [.init("model", .model), .init("x", .tensor)], category: "training",
            summary: "The model's outputs in evaluation mode, without gradients.", example: "predict(teacher, test.x)"
        ) { call in
            let m = try call.model("model")
            let x = try call.tensor("x").value
            return try call.tensorOp { Variable(try Evaluation.predict(m.network, x)) }
        },
        Builtin(
            "compare", [.init("models", .list(.model)), .init("data", .dataset)], category: "training",
            summary:
                "A table of models on a dataset: accuracy, loss, parameters, bytes, latency per batch, agreement with and KL from the first model.",
            example: "compare([teacher, alone, student], test)"
        ) { call in
            let models = try call.list("models").compactMap { if case .model(let m) = $0 { return m } else { return nil } }
            guard !models.isEmpty else { throw call.fail("models", "a list of at least one model") }
            return .table(try compareTable(models, try call.examples("data", for: "compare on")))
        },
        Builtin(
            "latency",
            [.init("model", .model), .init("x", .tensor), .init("runs", .wholeNumber(min: 1, max: 10_000), .number(21))],
            category: "training",
            summary:
                "The median time, in milliseconds, of `runs` predictions of the batch x (eval mode, no gradients) after one warm-up: what compare's ms/batch column measures, on a batch you choose.",
            example: "latency(student, test.x[0:1]); latency(student, test.x[0:128])"
        ) { call in
            let m = try call.model("model")
            let x = try call.tensor("x").value
            let runs = try call.int("runs")
            do {
                return .number(try Comparison.medianLatency(m.network, x, runs: runs))
            } catch {
                throw call.interpreter.wrap(error, at: call.range)
            }
        },
    ]

    static func compareTable(_ models: [Model], _ data: Dataset) throws -> Table {
        let reports = try Comparison.reports(models.map(\.network), on: data)
        let batch = Swift.min(64, data.count)
        // A sequence model is measured per token: nats, bits per character and perplexity.
        let sequence = data.y.rank == 2
        let rows = zip(models, reports).enumerated().map { i, pair -> [String] in
            let (m, r) = pair
            let quality =
                sequence
                ? [
                    String(format: "%.4f", r.loss), String(format: "%.4f", r.loss / Foundation.log(2)),
                    String(format: "%.3f", Foundation.exp(r.loss)), String(format: "%.1f%%", 100 * r.accuracy),
                ] : [String(format: "%.1f%%", 100 * r.accuracy), String(format: "%.4f", r.loss)]
            return [m.name ?? "model \(i + 1)"] + quality + [
                "\(r.parameters)", "\(r.nonZero)", "\(r.bytes)", String(format: "%.3f", r.milliseconds),
                String(format: "%.1f%%", 100 * r.agreement), String(format: "%.4f", r.divergence),
            ]
        }
        let quality = sequence ? ["nll", "bits/char", "perplexity", "top-1"] : ["accuracy", "loss"]
        return Table(
            columns: ["model"] + quality + ["params", "nonzero", "bytes", "ms/batch", "agrees", "KL(first‖)"], rows: rows,
            title: sequence
                ? "on \(data.name) (\(data.count) sequences; nll in nats per token, labelled positions only; bytes: the saved file; ms/batch: median of 21 warm runs on \(batch) sequences)"
                : "on \(data.name) (\(data.count) examples; bytes: the saved file; ms/batch: median of 21 warm runs on \(batch) examples)"
        )
    }
}
