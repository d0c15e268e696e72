import Foundation

/// A learning-rate schedule: the rate to use at a given optimizer step (counting from 0).
public enum LearningRateSchedule: Equatable, Sendable {
    /// The base rate throughout.
    case constant
    /// Multiplied by `gamma` every `stepSize` steps (`torch.optim.lr_scheduler.StepLR`).
    case step(stepSize: Int, gamma: Float)
    /// Half a cosine from the base rate down to `minimum` over `period` steps (`CosineAnnealingLR`).
    case cosine(period: Int, minimum: Float)
    /// A linear ramp from `startFactor`·base to base over `warmup` steps, then constant (`LinearLR`).
    case warmupLinear(warmup: Int, startFactor: Float)
    /// A linear warm-up, then cosine decay to `minimum` at `total` steps.
    case warmupCosine(warmup: Int, total: Int, startFactor: Float, minimum: Float)

    /// The learning rate at `step` for a base rate `base`.
    public func rate(at step: Int, base: Float) -> Float {
        let base = Double(base)
        let t = Double(step)
        func cosine(_ t: Double, _ period: Double, _ minimum: Double) -> Double {
            minimum + (base - minimum) * (1 + Foundation.cos(Double.pi * t / period)) / 2
        }
        func ramp(_ t: Double, _ warmup: Int, _ start: Double) -> Double {
            base * (start + (1 - start) * Swift.min(t, Double(warmup)) / Double(Swift.max(warmup, 1)))
        }
        switch self {
        case .constant:
            return Float(base)
        case .step(let size, let gamma):
            return Float(base * Foundation.pow(Double(gamma), Double(step / Swift.max(size, 1))))
        case .cosine(let period, let minimum):
            return Float(cosine(t, Double(Swift.max(period, 1)), Double(minimum)))
        case .warmupLinear(let warmup, let start):
            return Float(ramp(t, warmup, Double(start)))
        case .warmupCosine(let warmup, let total, let start, let minimum):
            if step < warmup { return Float(ramp(t, warmup, Double(start))) }
            return Float(cosine(t - Double(warmup), Double(Swift.max(total - warmup, 1)), Double(minimum)))
        }
    }
}
