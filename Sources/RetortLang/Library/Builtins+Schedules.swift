import RetortNN

/// Learning-rate schedules counted in optimizer steps, as `torch.optim.lr_scheduler` stepped once
/// per batch: `adam(lr: 1e-3, schedule: cosine_lr(steps: 500))`.
extension Builtins {
    static let scheduleRules = """
        A schedule counts the optimizer's steps (one per batch), from 0 at its first step; it scales the base lr the optimizer \
        was made with, so changing the rate never resets Adam's moments. opt.lr is the rate of the last step.
        """

    static func schedule(_ call: BuiltinCall, _ schedule: LearningRateSchedule) -> Value { .schedule(schedule) }

    /// A factor of the lr (start_factor, gamma).
    static let factorType = ParameterType.number(.between(0, 1, includingLow: false, includingHigh: true))
    /// The lowest lr a schedule reaches.
    static let minimumRateType = ParameterType.number(.atLeast(0, finite: true))

    static let scheduleBuiltins: [Builtin] = [
        Builtin(
            "step_lr", [.init("every", .wholeNumber(min: 1)), .init("gamma", factorType, .number(0.1))], category: "optimizer",
            summary: "The lr multiplied by gamma every `every` steps (torch's StepLR). " + scheduleRules,
            example: "sgd(lr: 0.1, schedule: step_lr(every: 100, gamma: 0.5))"
        ) { call in
            .schedule(.step(stepSize: try call.int("every"), gamma: try call.float("gamma")))
        },
        Builtin(
            "cosine_lr", [.init("steps", .wholeNumber(min: 1)), .init("min", minimumRateType, .number(0))], category: "optimizer",
            summary:
                "Half a cosine from the lr down to `min` over `steps` steps (torch's CosineAnnealingLR, T_max = steps); past `steps` it rises again along the cosine, as PyTorch's does, so give steps: the run's whole length (epochs × batches per epoch). "
                + scheduleRules,
            example: "adam(lr: 1e-3, schedule: cosine_lr(steps: 600))"
        ) { call in
            .schedule(.cosine(period: try call.int("steps"), minimum: try call.float("min")))
        },
        Builtin(
            "warmup_lr", [.init("steps", .wholeNumber(min: 1)), .init("start", factorType, .number(0.1))], category: "optimizer",
            summary: "A linear ramp from start·lr to lr over `steps` steps, then constant (torch's LinearLR). " + scheduleRules,
            example: "adam(lr: 1e-3, schedule: warmup_lr(steps: 50))"
        ) { call in
            .schedule(.warmupLinear(warmup: try call.int("steps"), startFactor: try call.float("start")))
        },
        Builtin(
            "warmup_cosine_lr",
            [
                .init("warmup", .wholeNumber(min: 1)), .init("steps", .wholeNumber(min: 1)),
                .init("start", factorType, .number(0.1)), .init("min", minimumRateType, .number(0)),
            ],
            category: "optimizer",
            summary:
                "Linear warm-up over `warmup` steps, then cosine decay to `min` at `steps` (torch's SequentialLR of LinearLR and CosineAnnealingLR); past `steps` the cosine rises again, as PyTorch's does. "
                + scheduleRules,
            example: "adamw(lr: 1e-3, schedule: warmup_cosine_lr(warmup: 50, steps: 600))"
        ) { call in
            let warmup = try call.int("warmup")
            let steps = try call.int("steps")
            guard steps > warmup else { throw call.fail("steps", "more than warmup (\(warmup))") }
            return .schedule(
                .warmupCosine(
                    warmup: warmup, total: steps, startFactor: try call.float("start"), minimum: try call.float("min")))
        },
    ]
}

extension LearningRateSchedule {
    /// The call that makes this schedule.
    var displayText: String {
        switch self {
        case .constant: return "constant"
        case .step(let size, let gamma): return "step_lr(every: \(size), gamma: \(formatNumber(Double(gamma))))"
        case .cosine(let period, let minimum): return "cosine_lr(steps: \(period), min: \(formatNumber(Double(minimum))))"
        case .warmupLinear(let warmup, let start): return "warmup_lr(steps: \(warmup), start: \(formatNumber(Double(start))))"
        case .warmupCosine(let warmup, let total, let start, let minimum):
            return
                "warmup_cosine_lr(warmup: \(warmup), steps: \(total), start: \(formatNumber(Double(start))), min: \(formatNumber(Double(minimum))))"
        }
    }
}
