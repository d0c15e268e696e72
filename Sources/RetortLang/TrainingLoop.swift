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
    /// The loss on the validation data in evaluation mode, given the training progress.
    var validationLoss: ((Dataset, Double) throws -> Double)? = nil
    /// Report only the start and the end (and an interrupt), not every batch and epoch.
    let quiet: Bool
    let range: SourceRange

    /// The loss for one batch: given the example indices and the training progress in [0, 1],
    /// returns the loss to minimise and the model's outputs (for the running accuracy).
    typealias BatchLoss = (_ indices: [Int], _ x: Tensor, _ y: Tensor, _ progress: Double) throws -> (
        loss: Variable, output: Variable
    )

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
        model.network.isTraining = true
        interpreter.collectingTerms = true
        defer {
            model.network.isTraining = false
            interpreter.collectingTerms = false
            interpreter.loggedTerms.removeAll()
        }
        event(.started, 0, 0, .nan)
        for epoch in 1...epochs {
            let order = shuffle ? interpreter.generator.permutation(data.count) : Array(0..<data.count)
            var total: Double = 0
            var correct = 0
            var terms: [(name: String, total: Double)] = []
            for b in 0..<batches {
                if interpreter.interrupt.isRequested {
                    interpreter.interrupt.clear()
                    let place = "epoch \(epoch) of \(epochs), batch \(b + 1) of \(batches)"
                    history.stoppedAt = place
                    event(.interrupted, epoch, b, total / Double(Swift.max(b, 1)))
                    throw interpreter.diagnostic(
                        .interrupted,
                        "\(task) interrupted at \(place); \(model.name ?? "the model") keeps the weights of the last completed batch",
                        at: range)
                }
                let indices = Array(order[(b * batchSize)..<Swift.min((b + 1) * batchSize, data.count)])
                let part = data.subset(indices)
                let progress = (Double(epoch - 1) + Double(b) / Double(batches)) / Double(epochs)
                interpreter.loggedTerms.removeAll()
                let (loss, output) = try batchLoss(indices, part.x, part.y, progress)
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
                let parameters = loss.parameterLeaves
                guard !parameters.isEmpty else {
                    throw interpreter.diagnostic(
                        .runtime, "the loss does not depend on any trainable parameter of \(model.name ?? "the model")", at: range
                    )
                }
                for p in parameters { p.zeroGrad() }
                do {
                    try loss.backward()
                } catch {
                    throw interpreter.wrap(error, at: range)
                }
                try optimizer.step(parameters)
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
                    let value = try GradMode.withoutGradients { try validationLoss(validation, Double(epoch) / Double(epochs)) }
                    model.network.isTraining = true
                    metrics.append(("val_loss", value))
                }
                metrics.append(("val_accuracy", Double(try Training.accuracy(model.network, on: validation))))
            }
            history.append(epoch: epoch, metrics: metrics)
            event(.epoch, epoch, batches, total / Double(batches), Dictionary(uniqueKeysWithValues: metrics))
        }
        event(.finished, epochs, batches, history.values("loss")?.last ?? .nan)
        return history
    }
}
