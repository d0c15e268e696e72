import Foundation
import RetortTensor

/// How a trainer updates parameters: the learning rate at a point of training, and the update.
public protocol TrainingOptimizer: AnyObject {
    /// The rate for the next step at training progress `progress` in [0, 1] (nil outside a run).
    func rate(progress: Double?) throws -> Double
    /// Updates `parameters` from their gradients at `rate`.
    func step(_ parameters: [Variable], rate: Double) throws
}

/// An optimizer from `Optimizer.swift` at its own fixed learning rate, for training outside the
/// language (the benchmark's steps, tests).
public final class PlainOptimizer: TrainingOptimizer {
    public let optimizer: Optimizer
    public init(_ optimizer: Optimizer) { self.optimizer = optimizer }
    public func rate(progress: Double?) throws -> Double { Double(optimizer.learningRate) }
    public func step(_ parameters: [Variable], rate: Double) throws {
        optimizer.learningRate = Float(rate)
        optimizer.include(parameters)
        optimizer.step(only: parameters)
    }
}

/// What a checkpoint does for a trainer: save a run every few epochs, and restore a saved one.
public protocol TrainingCheckpoint {
    var every: Int { get }
    /// Restores a saved run into the model, optimizer, `history` and `generator`; returns the
    /// epoch it reached, or nil when there is none yet. A saved run made for anything else (another
    /// model, data, optimizer setting, batch size or epoch count) is an error naming what differs.
    func resume(into history: History, generator: inout RandomGenerator) throws -> Int?
    func save(epoch: Int, history: History, generator: RandomGenerator) throws
}

/// Where a run's randomness comes from: the session's generator, which the loss may draw from too
/// (so the trainer reads and writes it in short accesses, never holding it across a batch).
public protocol RandomSource: AnyObject {
    var generator: RandomGenerator { get set }
}

/// The settings of a run that are not functions.
public struct TrainingSettings: Sendable {
    public var epochs: Int
    public var batchSize: Int
    public var shuffle: Bool
    /// The largest global gradient norm a step may use, as `clip_grad_norm_`.
    public var clip: Double?

    public init(epochs: Int, batchSize: Int, shuffle: Bool = true, clip: Double? = nil) {
        (self.epochs, self.batchSize, self.shuffle, self.clip) = (epochs, batchSize, shuffle, clip)
    }
}

/// The mini-batch loop behind `fit`, `distill`, fine-tuning and the benchmark's training steps:
/// batches from a dataset in a seeded order, the loss closure, the optimizer step, progress events,
/// the interrupt check between batches, checkpoints, the task's metric and the history.
///
/// The loop knows nothing of the language: what the loss needs (a teacher's outputs, a schedule
/// evaluated at the batch's progress, terms to log) it computes itself and hands back in the step.
public final class Trainer {
    /// One mini-batch, as the loss closure sees it.
    public struct Batch {
        /// The examples' positions in the dataset.
        public let indices: [Int]
        public let x: Variable
        public let y: Tensor
        /// From 1.
        public let epoch: Int
        /// From 0, within the epoch.
        public let index: Int
        /// 0 at the run's first batch, 1 at its last, evenly between.
        public let progress: Double

        public init(indices: [Int], x: Variable, y: Tensor, epoch: Int = 1, index: Int = 0, progress: Double = 0) {
            (self.indices, self.x, self.y, self.epoch, self.index, self.progress) = (indices, x, y, epoch, index, progress)
        }
    }

    /// What the loss closure returns for a batch: the loss to minimise, the model's outputs (for
    /// the metric) and named parts of the loss to record per epoch.
    public struct Step {
        public let loss: Variable
        public let output: Variable
        public let terms: [(name: String, value: Double)]
        /// The labels the output is to be measured against when they are not the batch's (a batch
        /// the loss replaced with the student's own samples); nil: the batch's.
        public let labels: Tensor?

        public init(loss: Variable, output: Variable, terms: [(name: String, value: Double)] = [], labels: Tensor? = nil) {
            (self.loss, self.output, self.terms, self.labels) = (loss, output, terms, labels)
        }
    }

    public let task: String
    public let model: Layer
    public let data: Dataset
    public let settings: TrainingSettings
    public let optimizer: TrainingOptimizer
    public let loss: (Batch) throws -> Step

    /// Examples scored in eval mode after each epoch.
    public var validation: Dataset?
    /// The loss on the validation data at the given progress, computed in eval mode without a graph.
    public var validationLoss: ((Dataset, Double) throws -> Double)?
    public var checkpoint: TrainingCheckpoint?
    /// Receives the start, every batch (unless `quiet`), every epoch (unless `quiet`), the end, and
    /// an interrupt (`interrupted`) or an error (`stopped`) that ends the run, with its place.
    public var onEvent: (TrainingEvent) -> Void = { _ in }
    /// Report only the start and the end (and an interrupt), not every batch and epoch: a
    /// terminal shows nothing, a notebook one line when the run ends, no live curve.
    public var quiet = false
    /// Polled between batches; true stops the run with `TrainingError.interrupted`.
    public var shouldStop: () -> Bool = { false }
    /// Called after a resumed run is restored, with the epoch it had reached (nil: none saved yet).
    public var onResume: (Int?) -> Void = { _ in }
    /// Told once a run when the loss trains parameters outside the model, and outside
    /// `namedOutsideParameters`, that are new at a second step: a layer made inside the loss
    /// (`hint(a, b, linear(8, 16))`), trained for one step and dropped, where the user meant an
    /// adapter that trains with the model.
    public var onNewParametersEachStep: () -> Void = {}
    /// The parameters outside the model that the loss holds by name (adapters made once, in a
    /// list or record too), which may first train at any step without being new each step.
    public var namedOutsideParameters: Set<ObjectIdentifier> = []
    /// Steps of this run that trained parameters outside the model never updated before.
    private var stepsWithNewParameters = 0

    public init(
        task: String, model: Layer, data: Dataset, settings: TrainingSettings, optimizer: TrainingOptimizer,
        loss: @escaping (Batch) throws -> Step
    ) {
        (self.task, self.model, self.data, self.settings, self.optimizer, self.loss) =
            (task, model, data, settings, optimizer, loss)
    }

    public var batchesPerEpoch: Int { (data.count + settings.batchSize - 1) / Swift.max(settings.batchSize, 1) }

    /// The training progress p of batch `step` (from 0) of `total`: 0 at the first batch, 1 at the
    /// last, evenly between, so a schedule `ramp(a, b)` starts at a and ends at b. A run of one
    /// batch is at its start, p = 0, as PyTorch's schedulers give the first step their first rate
    /// (at p = 1 an lr decaying to 0 trained nothing, full-batch `fit` once per epoch included).
    public static func progress(step: Int, of total: Int) -> Double {
        total > 1 ? Double(step) / Double(total - 1) : 0
    }

    /// The history of the latest run, kept when it stops with an error (a NaN loss, an interrupt):
    /// the epochs it finished are still worth plotting.
    public private(set) var history: History?
    /// Where a run that an error stopped was, once it had changed the model (a batch trained, or a
    /// checkpoint restored), or nil; `holds` says what the model holds then.
    public private(set) var stoppedAt: String?
    public private(set) var holds: TrainingError.Holds = .unchanged
    /// The epochs of the latest run's history that a resumed checkpoint brought (0: none), the rest
    /// being the ones the run finished itself.
    public private(set) var resumedEpochs = 0

    /// Trains for the settings' epochs (after those a resumed checkpoint covers) and returns the
    /// history. The model trains in train mode and goes back to the mode it had; `random`'s
    /// generator shuffles the batches, and a checkpoint saves and restores it.
    public func run(name: String, random: RandomSource, resume: Bool = false) throws -> History {
        stoppedAt = nil
        holds = .unchanged
        resumedEpochs = 0
        stepsWithNewParameters = 0
        let history = History(name: name)
        self.history = history
        let batches = batchesPerEpoch
        let epochs = settings.epochs
        let started = Date()
        func event(
            _ phase: TrainingEvent.Phase, _ epoch: Int, _ batch: Int, _ loss: Double, _ metrics: [String: Double] = [:],
            place: String? = nil
        ) {
            if quiet && (phase == .batch || phase == .epoch) { return }
            onEvent(
                TrainingEvent(
                    phase: phase, task: task, epoch: epoch, epochs: epochs, batch: batch, batches: batches, loss: loss,
                    metrics: metrics, elapsed: Date().timeIntervalSince(started), place: place))
        }
        // Training mode while training, then back to the mode the model had (as PyTorch code
        // that calls model.train() and restores model.eval() afterwards).
        // Each layer's own mode: one left in eval mode (a frozen batch norm) is in eval mode again after.
        let modes = Modes(of: model)
        model.isTraining = true
        defer { modes.restore() }
        try Self.checkFinite(data, what: "the training data")
        if let validation { try Self.checkFinite(validation, what: "the validation data") }
        var firstEpoch = 1
        if resume, let checkpoint {
            var generator = random.generator
            let reached = try checkpoint.resume(into: history, generator: &generator)
            random.generator = generator
            onResume(reached)
            firstEpoch = (reached ?? 0) + 1
            resumedEpochs = reached ?? 0
        }
        event(.started, firstEpoch - 1, 0, .nan)
        // Where the run is, for the live display's last word and the error's note when it stops,
        // and what the model holds then: its own weights, a checkpoint's, or a batch's of this run.
        var place = StopPlace(.after(completed: 0), epoch: firstEpoch, of: epochs, batches: batches)
        holds = firstEpoch > 1 ? .checkpoint(epoch: firstEpoch - 1) : .unchanged
        do {
            for epoch in stride(from: firstEpoch, through: epochs, by: 1) {
                let order = settings.shuffle ? random.generator.permutation(data.count) : Array(0..<data.count)
                // The epoch's loss and terms are means over its examples: each batch's mean weighted by
                // its size (PyTorch's running_loss += loss.item() * x.size(0)), so a short last batch
                // counts for its examples, not as much as a whole one.
                var total: Double = 0
                var seen = 0
                var accuracy = Accuracy()
                var terms: [(name: String, total: Double)] = []
                for b in 0..<batches {
                    if shouldStop() {
                        // The place is the last completed batch, as the live display's last event names it.
                        let here = StopPlace(.after(completed: b), epoch: epoch, of: epochs, batches: batches).description
                        history.stoppedAt = here
                        event(.interrupted, epoch, b, total / Double(Swift.max(seen, 1)), place: here)
                        throw TrainingError.interrupted(place: here, holds: holds)
                    }
                    place = StopPlace(.during(batch: b + 1), epoch: epoch, of: epochs, batches: batches)
                    let indices = Array(order[(b * settings.batchSize)..<Swift.min((b + 1) * settings.batchSize, data.count)])
                    let part = data.subset(indices)
                    let progress = Self.progress(step: (epoch - 1) * batches + b, of: epochs * batches)
                    let batch = Batch(
                        indices: indices, x: Variable(part.x), y: part.y, epoch: epoch, index: b, progress: progress)
                    let result: Step
                    do {
                        result = try train(batch, batches: batches)
                    } catch let error as TrainingError {
                        throw error
                    } catch let error as TensorError
                        where error.op == "batch_norm" && indices.count < settings.batchSize && indices.count == 1
                    {
                        // A batch norm cannot train on one example: say that it is the short last batch.
                        throw TensorError(
                            error.kind, error.op,
                            error.message
                                + " (the epoch's last batch holds 1 example: \(data.count) examples in batches of \(settings.batchSize); a batch size that leaves more than one avoids it)"
                        )
                    }
                    holds = .lastBatch
                    let size = Double(indices.count)
                    for (name, value) in result.terms {
                        if let i = terms.firstIndex(where: { $0.name == name }) {
                            terms[i].total += value * size
                        } else {
                            terms.append((name, value * size))
                        }
                    }
                    let value = Double(result.loss.value.scalar ?? .nan)
                    total += value * size
                    seen += indices.count
                    accuracy.add(output: result.output.value, labels: result.labels ?? part.y)
                    event(.batch, epoch, b + 1, value)
                }
                place.moment = .endOfEpoch
                let examples = Double(Swift.max(seen, 1))
                var metrics: [(String, Double)] = [("loss", total / examples)]
                metrics += terms.map { ($0.name, $0.total / examples) }
                if let value = accuracy.value { metrics.append(("accuracy", value)) }
                if let validation {
                    if let validationLoss {
                        model.isTraining = false
                        let p = Self.progress(step: epoch * batches - 1, of: epochs * batches)
                        let value = try GradMode.withoutGradients { try validationLoss(validation, p) }
                        model.isTraining = true
                        metrics.append(("val_loss", value))
                    }
                    if try measuresAccuracy(validation) {
                        metrics.append(("val_accuracy", Double(try Evaluation.accuracy(model, on: validation))))
                    }
                }
                history.append(epoch: epoch, metrics: metrics)
                if let checkpoint, epoch % checkpoint.every == 0 || epoch == epochs {
                    try checkpoint.save(epoch: epoch, history: history, generator: random.generator)
                }
                event(.epoch, epoch, batches, total / examples, Dictionary(metrics, uniquingKeysWith: { a, _ in a }))
                place = StopPlace(.after(completed: 0), epoch: epoch + 1, of: epochs, batches: batches)
            }
        } catch {
            // The interrupt check sent its own event and set the history's place. Any other error
            // (in the loss, an interrupt inside a loss function, a NaN loss, validation, a
            // checkpoint) ends the live display here; once the run has changed the model, the
            // history and the error's note say where it stopped, as an interrupt's does.
            if (error as? TrainingError)?.isInterrupt != true {
                if holds.changedTheModel {
                    history.stoppedAt = place.description
                    stoppedAt = place.description
                }
                event(.stopped, place.epoch, place.completed, .nan, place: place.description)
            }
            throw error
        }
        event(.finished, epochs, batches, history.values("loss")?.last ?? .nan)
        return history
    }

    /// One training step on `batch`: the loss, its gradients, the update. The benchmark calls this
    /// directly; `run` calls it for every batch.
    @discardableResult
    public func train(_ batch: Batch, batches: Int? = nil) throws -> Step {
        Contention.check()
        let result = try loss(batch)
        guard result.loss.value.count == 1 else { throw TrainingError.lossNotScalar(shape: result.loss.shape) }
        if let value = result.loss.value.scalar, !value.isFinite {
            let weightsFinite = model.parameters.allSatisfy { p in p.value.scalars.allSatisfy(\.isFinite) }
            throw TrainingError.nonFiniteLoss(
                value: value, epoch: batch.epoch, epochs: settings.epochs, batch: batch.index + 1,
                batches: batches ?? batchesPerEpoch, weightsFinite: weightsFinite)
        }
        let parameters = result.loss.parameterLeaves
        guard !parameters.isEmpty else {
            throw TrainingError.nothingToTrain(frozen: model.parameters.contains { !$0.requiresGrad })
        }
        // An adapter made once is new at its first step only, and held by a name; one made in the
        // loss is new at every step, and held by none.
        if stepsWithNewParameters < 2, parameters.contains(where: { $0.updates == 0 }) {
            let known = Set(model.parameters.map(ObjectIdentifier.init)).union(namedOutsideParameters)
            if parameters.contains(where: { $0.updates == 0 && !known.contains(ObjectIdentifier($0)) }) {
                stepsWithNewParameters += 1
                if stepsWithNewParameters == 2 { onNewParametersEachStep() }
            }
        }
        try Self.update(result.loss, parameters, optimizer: optimizer, clip: settings.clip, progress: batch.progress)
        return result
    }

    /// One optimizer step from `loss`: gradients of exactly `parameters` (the loss's trainable
    /// leaves), clipped by global norm if asked, the update at the scheduled rate, and the
    /// gradients cleared again, whatever fails. `accumulating` keeps gradients an earlier
    /// `backward()` left (PyTorch's `loss.backward(); opt.step()` adds to them); otherwise they are
    /// cleared first, as a loop's zero_grad.
    public static func update(
        _ loss: Variable, _ parameters: [Variable], optimizer: TrainingOptimizer, clip: Double?, progress: Double?,
        accumulating: Bool = false
    ) throws {
        if !accumulating { for p in parameters { p.zeroGrad() } }
        defer { for p in parameters { p.zeroGrad() } }
        let rate = try optimizer.rate(progress: progress)
        try loss.backward()
        if let clip { clipGradientNorm(parameters, maxNorm: Float(clip)) }
        try optimizer.step(parameters, rate: rate)
    }

    /// Refuses data holding NaN or infinity: training on it ends in NaN weights without a word.
    public static func checkFinite(_ data: Dataset, what: String) throws {
        let bad = data.x.withUnsafeBufferPointer { values in values.lazy.filter { !$0.isFinite }.count }
        guard bad > 0 else { return }
        let first = data.x.withUnsafeBufferPointer { values in values.firstIndex { !$0.isFinite } ?? 0 }
        let perExample = Swift.max(data.x.count / Swift.max(data.count, 1), 1)
        throw TrainingError.nonFiniteData(what: what, count: bad, firstExample: first / perExample)
    }

    /// Whether the model's outputs and `data`'s labels make a task accuracy measures.
    private func measuresAccuracy(_ data: Dataset) throws -> Bool {
        guard data.count > 0 else { return false }
        let first = data.subset([0])
        return Accuracy.applies(output: try Evaluation.predict(model, first.x).shape, labels: first.y.shape)
    }
}
