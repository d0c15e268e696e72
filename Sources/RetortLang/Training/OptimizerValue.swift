import RetortNN
import RetortTensor

/// An optimizer's settings and, once it has trained, its state (Adam's moments, momentum).
///
/// The rule users rely on (`help(adam)`): an optimizer belongs to the first model `fit` or
/// `distill` trains with it, as a PyTorch optimizer belongs to the parameters it was built with;
/// training another model with it is an error that says so. Each step updates the parameters
/// the loss depends on and are not frozen (an adapter used in the loss joins), in `step` also
/// those an earlier `backward()` left a gradient on (as PyTorch's `opt.step()`), and clears their
/// gradients afterwards, so no training call leaves gradients behind.
public final class OptimizerValue {
    public enum Kind: String { case sgd, adam, adamw }
    public let kind: Kind
    /// The base learning rate, or nil when `lr` is a function of the training progress.
    public let learningRate: Double?
    /// `lr: fn(p) = ...`: the rate at progress p in [0, 1].
    let learningRateFunction: Value?
    public let momentum: Double
    public let nesterov: Bool
    public let weightDecay: Double
    public let betas: (Double, Double)
    /// A step-counted schedule of the base rate, as `torch.optim.lr_scheduler` steps once per batch.
    public let schedule: LearningRateSchedule
    var optimizer: Optimizer?
    /// Optimizer steps taken, the count schedules read.
    var steps = 0
    /// The model this optimizer was first used to train, and its name for messages.
    private(set) weak var owner: Sequential?
    private(set) var ownerName = ""
    /// The rate the last step used.
    private(set) var lastRate: Double?

    init(
        kind: Kind, learningRate: Double?, learningRateFunction: Value? = nil, momentum: Double = 0, nesterov: Bool = false,
        weightDecay: Double = 0, betas: (Double, Double) = (0.9, 0.999), schedule: LearningRateSchedule = .constant
    ) {
        self.kind = kind
        self.learningRate = learningRate
        self.learningRateFunction = learningRateFunction
        self.momentum = momentum
        self.nesterov = nesterov
        self.weightDecay = weightDecay
        self.betas = betas
        self.schedule = schedule
    }

    /// `adam(lr: 0.001)`, with every setting that is not its default (momentum, weight decay,
    /// betas: `sgd(lr: 0.1, momentum: 0.9, nesterov: true)` once showed as `sgd(lr: 0.1)`), the
    /// schedule and the owner when there are.
    var displayText: String {
        var parts = ["lr: " + (learningRate.map { formatNumber($0) } ?? "fn(p)")]
        if momentum != 0 { parts.append("momentum: \(formatNumber(momentum))") }
        if nesterov { parts.append("nesterov: true") }
        if kind != .sgd, betas != (0.9, 0.999) { parts.append("betas: [\(formatNumber(betas.0)), \(formatNumber(betas.1))]") }
        if weightDecay != 0 { parts.append("weight_decay: \(formatNumber(weightDecay))") }
        if schedule != .constant { parts.append("schedule: \(schedule.displayText)") }
        var text = "\(kind.rawValue)(\(parts.joined(separator: ", ")))"
        if owner != nil { text += ", training \(ownerName), \(steps) steps taken" }
        return text
    }

    /// Every setting that shapes its updates, for a checkpoint's record of the run:
    /// `adam(lr: 0.001, betas: [0.9, 0.999], weight_decay: 0)`, an lr function by its source.
    var settingsText: String {
        var parts: [String] = []
        if let learningRateFunction, case .function(let f) = learningRateFunction {
            if case .closure(let c) = f { parts.append("lr: \(c.declaration.sourceText)") } else { parts.append("lr: \(f.name)") }
        } else {
            parts.append("lr: " + formatNumber(learningRate ?? 0))
        }
        if kind == .sgd {
            parts.append("momentum: \(formatNumber(momentum))")
            if nesterov { parts.append("nesterov: true") }
        } else {
            parts.append("betas: [\(formatNumber(betas.0)), \(formatNumber(betas.1))]")
        }
        parts.append("weight_decay: \(formatNumber(weightDecay))")
        if schedule != .constant { parts.append("schedule: \(schedule.displayText)") }
        return "\(kind.rawValue)(\(parts.joined(separator: ", ")))"
    }

    /// Binds this optimizer to `model` on first use; nil when that is fine, else the complaint. An
    /// optimizer that `step` has used before must have updated some of `model`'s parameters.
    func claim(_ model: Model) -> String? {
        if let owner {
            guard owner === model.network else {
                return
                    "this \(kind.rawValue) optimizer already trains \(ownerName); an optimizer belongs to one model (its moments and step count are that model's). Make a new one for \(model.name ?? "this model"): opt: \(kind.rawValue)(...)"
            }
            return nil
        }
        // `step` before any fit: the parameters it updated must be (some of) this model's, else its
        // step count, schedule position and the other parameters' moments would carry into this run.
        if let stepped = optimizer?.parameters, !stepped.isEmpty {
            let held = Set(model.network.namedParameters.map { ObjectIdentifier($0.variable) })
            if !stepped.contains(where: { held.contains(ObjectIdentifier($0)) }) {
                let shapes = stepped.prefix(3).map { formatShape($0.shape) }.joined(separator: ", ")
                return
                    "this \(kind.rawValue) optimizer has already taken \(steps) step\(steps == 1 ? "" : "s") on \(stepped.count) parameters \(model.name ?? "this model") does not hold (\(shapes)\(stepped.count > 3 ? ", ..." : "")); its step count and moments are theirs. Make a new one for \(model.name ?? "this model"): opt: \(kind.rawValue)(...)"
            }
        }
        owner = model.network
        ownerName = model.name ?? "another model"
        return nil
    }

    /// Nil when `step` may update `parameters` with this optimizer, else the complaint: once `fit`
    /// or `distill` has bound it to a model, a step may update that model's parameters and those
    /// it already updates (an adapter that joined), not another model's, whose moments and
    /// schedule position would be the first model's.
    func refusal(toStep parameters: [Variable]) -> String? {
        guard let owner else { return nil }
        var known = Set(owner.namedParameters.map { ObjectIdentifier($0.variable) })
        for p in optimizer?.parameters ?? [] { known.insert(ObjectIdentifier(p)) }
        let foreign = parameters.filter { !known.contains(ObjectIdentifier($0)) }
        guard !foreign.isEmpty else { return nil }
        let shapes = foreign.prefix(3).map { formatShape($0.shape) }.joined(separator: ", ")
        return
            "this \(kind.rawValue) optimizer trains \(ownerName); the step would update \(foreign.count) trainable parameters \(ownerName) does not hold (\(shapes)\(foreign.count > 3 ? ", ..." : ""): the loss's, or ones an earlier backward() left a gradient on). An optimizer belongs to one model (its moments and step count are that model's): make a new one for the other model, or freeze what it should not train"
    }

    /// The rate for the next step, at training progress `progress` (nil outside fit and distill).
    func rate(progress: Double?, interpreter: Interpreter, at range: SourceRange) throws -> Double {
        let base: Double
        if let learningRateFunction {
            guard let progress else {
                throw interpreter.diagnostic(
                    .argument,
                    "this optimizer's lr is a function of the training progress p; step(opt, loss, progress: p) must say what p is",
                    at: range)
            }
            let value = try interpreter.callFunction(learningRateFunction, [.number(progress)], at: range)
            guard case .number(let n) = value, n.isFinite, n >= 0 else {
                throw interpreter.diagnostic(
                    .type, "the lr function must return a non-negative number, got \(describeShort(value)) at p = \(progress)",
                    at: range)
            }
            base = n
        } else {
            base = learningRate ?? 0
        }
        return Double(schedule.rate(at: steps, base: Float(base)))
    }

    /// Applies one update to `parameters` (the loss's trainable leaves, gradients already computed)
    /// and clears their gradients.
    func step(_ parameters: [Variable], rate: Double) throws {
        defer { for p in parameters { p.zeroGrad() } }
        let optimizer = try bound(to: parameters)
        optimizer.learningRate = Float(rate)
        lastRate = rate
        optimizer.step(only: parameters)
        steps += 1
    }

    /// Restores saved state for `parameters` (a checkpoint), binding to them first.
    func restore(_ states: [(Variable, ParameterState)], steps: Int, owner model: Model) throws {
        _ = claim(model)
        let optimizer = try bound(to: states.map(\.0))
        for (parameter, state) in states { try optimizer.restore(state, for: parameter) }
        self.steps = steps
        // `opt.lr` is the rate of the last step: a resumed run that has no step left to take
        // showed the base rate. (An lr function's last p is the run's to know; it shows on the next step.)
        if steps > 0, learningRateFunction == nil, let learningRate {
            lastRate = Double(schedule.rate(at: steps - 1, base: Float(learningRate)))
        }
    }

    /// Each of `parameters`' saved state, for a checkpoint.
    func states(of parameters: [Variable]) -> [ParameterState?] {
        parameters.map { optimizer?.state(of: $0) }
    }

    private func bound(to parameters: [Variable]) throws -> Optimizer {
        if let optimizer {
            optimizer.include(parameters)
            return optimizer
        }
        let made: Optimizer
        let lr = Float(learningRate ?? 0)
        switch kind {
        case .sgd:
            made = try SGD(
                parameters, learningRate: lr, momentum: Float(momentum), nesterov: nesterov, weightDecay: Float(weightDecay))
        case .adam, .adamw:
            made = try Adam(
                parameters, learningRate: lr, beta1: Float(betas.0), beta2: Float(betas.1), weightDecay: Float(weightDecay),
                decoupled: kind == .adamw)
        }
        optimizer = made
        return made
    }
}
