import Foundation
import RetortNN
import RetortTensor

/// The mini-batch loop behind `fit` and `distill`: shuffling, the optimizer, progress events,
/// the interrupt check between batches, and the history.
struct TrainingLoop {
    let interpreter: Interpreter
    let task: String
    let model: Model
    let data: Dataset
    let epochs: Int
    let batchSize: Int
    let shuffle: Bool
    let optimizer: OptimizerValue
    let validation: Dataset?
    /// The largest global gradient norm a step may use (`clip:`), as `clip_grad_norm_`.
    let clip: Double?
    /// Where to write a checkpoint every few epochs, and whether to start from the last one.
    let checkpoint: Checkpoint?
    let resume: Bool
    /// The loss on the validation data in evaluation mode, given the training progress.
    var validationLoss: ((Dataset, Double) throws -> Double)? = nil
    /// Report only the start and the end (and an interrupt), not every batch and epoch.
    let quiet: Bool
    let range: SourceRange

    /// The loss for one batch: given the example indices, the batch's input (one variable, so
    /// `features(model, x, k)` in the loss finds the forward pass already recorded for it), the
    /// labels and the training progress in [0, 1], returns the loss to minimise and the model's
    /// outputs (for the running accuracy).
    typealias BatchLoss = (_ indices: [Int], _ x: Variable, _ y: Tensor, _ progress: Double) throws -> (
        loss: Variable, output: Variable
    )

    /// The training progress p of batch `step` (from 0) of `total`: 0 at the first batch, 1 at the
    /// last, evenly between, so a schedule `ramp(a, b)` starts at a and ends at b.
    static func progress(step: Int, of total: Int) -> Double {
        total > 1 ? Double(step) / Double(total - 1) : 1
    }

    func run(name: String, _ batchLoss: BatchLoss) throws -> History {
        let history = History(name: name)
        let batches = (data.count + batchSize - 1) / batchSize
        let started = Date()
        func event(_ phase: ProgressEvent.Phase, _ epoch: Int, _ batch: Int, _ loss: Double, _ metrics: [String: Double] = [:]) {
            if quiet && (phase == .batch || phase == .epoch) { return }
            interpreter.sink.progress(
                ProgressEvent(
                    phase: phase, task: task, epoch: epoch, epochs: epochs, batch: batch, batches: batches, loss: loss,
                    metrics: metrics, elapsed: Date().timeIntervalSince(started)))
        }
        // Training mode while training, then back to the mode the model had (as PyTorch code
        // that calls model.train() and restores model.eval() afterwards).
        let wasTraining = model.network.isTraining
        model.network.isTraining = true
        interpreter.collectingTerms = true
        defer {
            model.network.isTraining = wasTraining
            interpreter.collectingTerms = false
            interpreter.loggedTerms.removeAll()
            interpreter.recordedForwards.removeAll()
        }
        if let complaint = optimizer.claim(model) {
            throw interpreter.diagnostic(.argument, complaint, at: range)
        }
        try checkFinite(data, what: "the training data")
        if let validation { try checkFinite(validation, what: "the validation data") }
        var firstEpoch = 1
        if resume, let checkpoint {
            do {
                if let reached = try checkpoint.load(
                    model: model, optimizer: optimizer, history: history, generator: &interpreter.generator)
                {
                    firstEpoch = reached + 1
                    interpreter.sink.write(
                        "\(task): resuming after epoch \(reached) from \(checkpoint.path(for: model))\n")
                } else {
                    interpreter.sink.write("\(task): no checkpoint in \(checkpoint.directory) yet; starting at epoch 1\n")
                }
            } catch {
                throw interpreter.wrap(error, at: range)
            }
        }
        event(.started, firstEpoch - 1, 0, .nan)
        for epoch in stride(from: firstEpoch, through: epochs, by: 1) {
            let order = shuffle ? interpreter.generator.permutation(data.count) : Array(0..<data.count)
            var total: Double = 0
            var correct = 0
            var terms: [(name: String, total: Double)] = []
            for b in 0..<batches {
                if interpreter.interrupt.isRequested {
                    interpreter.interrupt.clear()
                    // The place is the last completed batch, as the live display's last event names it.
                    let place = "epoch \(epoch) of \(epochs), after batch \(b) of \(batches)"
                    history.stoppedAt = place
                    event(.interrupted, epoch, b, total / Double(Swift.max(b, 1)))
                    throw interpreter.diagnostic(
                        .interrupted,
                        "\(task) interrupted in \(place); \(model.name ?? "the model") keeps the weights of that batch",
                        at: range)
                }
                let indices = Array(order[(b * batchSize)..<Swift.min((b + 1) * batchSize, data.count)])
                let part = data.subset(indices)
                let progress = Self.progress(step: (epoch - 1) * batches + b, of: epochs * batches)
                interpreter.loggedTerms.removeAll()
                interpreter.recordedForwards.removeAll()
                let (loss, output) = try batchLoss(indices, Variable(part.x), part.y, progress)
                interpreter.recordedForwards.removeAll()
                for (name, value) in interpreter.loggedTerms {
                    if let i = terms.firstIndex(where: { $0.name == name }) {
                        terms[i].total += value
                    } else {
                        terms.append((name, value))
                    }
                }
                guard loss.value.count == 1 else {
                    throw interpreter.diagnostic(
                        .type, "the loss must be one number, got a tensor of shape \(formatShape(loss.shape))", at: range)
                }
                if let value = loss.value.scalar, !value.isFinite {
                    throw nonFinite(value, epoch: epoch, batch: b + 1, of: batches)
                }
                let parameters = loss.parameterLeaves
                guard !parameters.isEmpty else {
                    let frozen = model.network.parameters.contains { !$0.requiresGrad }
                    throw interpreter.diagnostic(
                        .runtime,
                        "the loss does not depend on any trainable parameter of \(model.name ?? "the model")"
                            + (frozen ? " (its parameters are frozen: unfreeze(model))" : ""), at: range)
                }
                try Self.update(
                    loss, parameters, optimizer: optimizer, clip: clip, progress: progress, interpreter: interpreter, range: range
                )
                let value = Double(loss.value.scalar ?? .nan)
                total += value
                if output.value.rank == 2, let predicted = try? output.value.argmax(axis: 1).scalars {
                    correct += zip(predicted, part.y.scalars).filter { $0 == $1 }.count
                }
                event(.batch, epoch, b + 1, value)
            }
            var metrics: [(String, Double)] = [("loss", total / Double(batches))]
            metrics += terms.map { ($0.name, $0.total / Double(batches)) }
            metrics.append(("accuracy", Double(correct) / Double(data.count)))
            if let validation {
                if let validationLoss {
                    model.network.isTraining = false
                    let p = Self.progress(step: epoch * batches - 1, of: epochs * batches)
                    let value = try GradMode.withoutGradients { try validationLoss(validation, p) }
                    interpreter.recordedForwards.removeAll()
                    model.network.isTraining = true
                    metrics.append(("val_loss", value))
                }
                metrics.append(("val_accuracy", Double(try Training.accuracy(model.network, on: validation))))
            }
            history.append(epoch: epoch, metrics: metrics)
            if let checkpoint, epoch % checkpoint.every == 0 || epoch == epochs {
                do {
                    try checkpoint.save(
                        model: model, optimizer: optimizer, epoch: epoch, epochs: epochs, history: history,
                        generator: interpreter.generator)
                } catch {
                    throw interpreter.wrap(error, at: range)
                }
            }
            event(.epoch, epoch, batches, total / Double(batches), Dictionary(uniqueKeysWithValues: metrics))
        }
        event(.finished, epochs, batches, history.values("loss")?.last ?? .nan)
        return history
    }

    /// Refuses data holding NaN or infinity: training on it ends in NaN weights without a word.
    func checkFinite(_ data: Dataset, what: String) throws {
        let values = data.x.scalars
        guard let first = values.firstIndex(where: { !$0.isFinite }) else { return }
        let bad = values.lazy.filter { !$0.isFinite }.count
        let perExample = Swift.max(values.count / Swift.max(data.count, 1), 1)
        throw interpreter.diagnostic(
            .runtime,
            "\(what) holds \(bad) value\(bad == 1 ? "" : "s") that \(bad == 1 ? "is" : "are") NaN or infinite (the first in example \(first / perExample)); \(task) would end with NaN weights",
            at: range)
    }

    /// The error for a loss that is NaN or infinite: training stops, the model keeps its weights.
    func nonFinite(_ value: Float, epoch: Int, batch: Int, of batches: Int) -> Diagnostic {
        let weightsFinite = model.network.parameters.allSatisfy { p in p.value.scalars.allSatisfy(\.isFinite) }
        let kept =
            weightsFinite
            ? "\(model.name ?? "the model") keeps the weights of the last completed batch"
            : "\(model.name ?? "the model")'s weights are no longer finite: the update before overflowed"
        return interpreter.diagnostic(
            .runtime,
            "the loss is \(value.isNaN ? "NaN" : value > 0 ? "infinite" : "-infinite") at epoch \(epoch) of \(epochs), batch \(batch) of \(batches): \(task) stopped; \(kept)",
            at: range,
            notes: [
                "common causes: a learning rate too large for the model (try lr: 1e-3, or clip: 1.0), a temperature T of 0 in a distillation loss, log of 0 in a hand-written loss"
            ])
    }

    /// One optimizer step from `loss`: gradients of exactly `parameters` (the loss's trainable
    /// leaves), clipped by global norm if asked, the update at the scheduled rate, and the
    /// gradients cleared again, whatever fails.
    static func update(
        _ loss: Variable, _ parameters: [Variable], optimizer: OptimizerValue, clip: Double?, progress: Double?,
        interpreter: Interpreter, range: SourceRange
    ) throws {
        for p in parameters { p.zeroGrad() }
        defer { for p in parameters { p.zeroGrad() } }
        let rate = try optimizer.rate(progress: progress, interpreter: interpreter, at: range)
        do {
            try loss.backward()
        } catch {
            throw interpreter.wrap(error, at: range)
        }
        if let clip { clipGradientNorm(parameters, maxNorm: Float(clip)) }
        try optimizer.step(parameters, rate: rate)
    }
}
