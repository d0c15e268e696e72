import RetortNN

/// Learning-rate schedules counted in optimizer steps, as `torch.optim.lr_scheduler` stepped once
/// per batch: `adam(lr: 1e-3, schedule: cosine_lr(steps: 500))`.
extension Builtins {
    static let scheduleRules = """
        A schedule counts the optimizer's steps (one per batch), from 0 at its first step; it scales the base lr the optimizer \
        was made with, so changing the rate never resets Adam's moments. opt.lr is the rate of the last step.
        """

    static func schedule(_ call: BuiltinCall, _ schedule: LearningRateSchedule) -> Value { .schedule(schedule) }

    /// A factor in (0, 1] (start_factor, gamma).
    static func factor(_ call: BuiltinCall, _ name: String) throws -> Float {
        let f = try call.number(name)
        guard f > 0, f <= 1 else { throw call.fail(name, "a number in (0, 1]") }
        return Float(f)
    }

    static func minimumRate(_ call: BuiltinCall) throws -> Float {
        let m = try call.number("min")
        guard m >= 0, m.isFinite else { throw call.fail("min", "a non-negative learning rate") }
        return Float(m)
    }

    static let scheduleBuiltins: [Builtin] = [
        Builtin(
            "step_lr", [.init("every"), .init("gamma", .number(0.1))], category: "optimizer",
            summary: "The lr multiplied by gamma every `every` steps (torch's StepLR). " + scheduleRules,
            example: "sgd(lr: 0.1, schedule: step_lr(every: 100, gamma: 0.5))"
        ) { call in
            .schedule(.step(stepSize: try call.int("every", minimum: 1), gamma: try factor(call, "gamma")))
        },
        Builtin(
            "cosine_lr", [.init("steps"), .init("min", .number(0))], category: "optimizer",
            summary: "Half a cosine from the lr down to `min` over `steps` steps (torch's CosineAnnealingLR, T_max = steps). "
                + scheduleRules,
            example: "adam(lr: 1e-3, schedule: cosine_lr(steps: 600))"
        ) { call in
            .schedule(.cosine(period: try call.int("steps", minimum: 1), minimum: try minimumRate(call)))
        },
        Builtin(
            "warmup_lr", [.init("steps"), .init("start", .number(0.1))], category: "optimizer",
            summary: "A linear ramp from start·lr to lr over `steps` steps, then constant (torch's LinearLR). " + scheduleRules,
            example: "adam(lr: 1e-3, schedule: warmup_lr(steps: 50))"
        ) { call in
            .schedule(.warmupLinear(warmup: try call.int("steps", minimum: 1), startFactor: try factor(call, "start")))
        },
        Builtin(
            "warmup_cosine_lr", [.init("warmup"), .init("steps"), .init("start", .number(0.1)), .init("min", .number(0))],
            category: "optimizer",
            summary:
                "Linear warm-up over `warmup` steps, then cosine decay to `min` at `steps` (torch's SequentialLR of LinearLR and CosineAnnealingLR). "
                + scheduleRules,
            example: "adamw(lr: 1e-3, schedule: warmup_cosine_lr(warmup: 50, steps: 600))"
        ) { call in
            let warmup = try call.int("warmup", minimum: 1)
            let steps = try call.int("steps", minimum: 1)
            guard steps > warmup else { throw call.fail("steps", "more than warmup (\(warmup))") }
            return .schedule(
                .warmupCosine(
                    warmup: warmup, total: steps, startFactor: try factor(call, "start"), minimum: try minimumRate(call)))
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
