import Foundation
import RetortNN
import RetortTensor
import XCTest

/// Optimizers, clipping and schedules against `torch.optim` step by step.
final class OptimizerTests: XCTestCase {
    func makeOptimizer(_ kind: String, _ args: [String: Any], _ p: Variable) throws -> Optimizer {
        let lr = (args["lr"] as? NSNumber)?.floatValue ?? 1e-3
        let wd = (args["weight_decay"] as? NSNumber)?.floatValue ?? 0
        let betas = (args["betas"] as? [NSNumber])?.map(\.floatValue) ?? [0.9, 0.999]
        let eps = (args["eps"] as? NSNumber)?.floatValue ?? 1e-8
        switch kind {
        case "sgd":
            return try SGD(
                [p], learningRate: lr, momentum: (args["momentum"] as? NSNumber)?.floatValue ?? 0,
                nesterov: (args["nesterov"] as? Bool) ?? false, weightDecay: wd)
        case "adam", "adamw":
            return try Adam(
                [p], learningRate: lr, beta1: betas[0], beta2: betas[1], eps: eps, weightDecay: wd, decoupled: kind == "adamw")
        default:
            throw TensorError("fixture", "unknown optimizer \(kind)")
        }
    }

    func testOptimizersMatchTorch() throws {
        var checked = 0
        for c in try loadCases("optim") {
            let name = c["name"] as? String ?? "?"
            let kind = c["optimizer"] as? String ?? "?"
            let args = c["args"] as? [String: Any] ?? [:]
            if kind == "clip_grad_norm" {
                let grads = try (c["grads_in"] as? [Any] ?? []).map(tensor)
                let params = grads.map { g -> Variable in
                    let v = Variable(.zeros(g.shape), requiresGrad: true)
                    v.grad = g
                    return v
                }
                let norm = clipGradientNorm(params, maxNorm: (args["max_norm"] as? NSNumber)?.floatValue ?? 1)
                assertClose([norm], [(c["total_norm"] as? NSNumber)?.floatValue ?? .nan], "\(name) norm")
                for (p, want) in zip(params, try (c["grads_out"] as? [Any] ?? []).map(tensor)) {
                    assertClose(p.grad?.scalars ?? [], want.scalars, "\(name) clipped gradient")
                }
                checked += 1
                continue
            }
            let p = Variable(try tensor(c["initial"]), requiresGrad: true)
            let optimizer = try makeOptimizer(kind, args, p)
            let grads = try (c["grads"] as? [Any] ?? []).map(tensor)
            let expected = try (c["params"] as? [Any] ?? []).map(tensor)
            XCTAssertEqual(grads.count, expected.count)
            for (step, (g, want)) in zip(grads, expected).enumerated() {
                p.grad = g
                optimizer.step()
                assertClose(p.value.scalars, want.scalars, "\(name) after step \(step + 1)")
            }
            checked += 1
        }
        XCTAssertEqual(checked, 9)
    }

    func testSchedulesMatchTorch() throws {
        let cases = try loadCases("schedules")
        XCTAssertEqual(cases.count, 9)
        for c in cases {
            let name = c["name"] as? String ?? "?"
            let a = c["args"] as? [String: NSNumber] ?? [:]
            let base = (c["base_lr"] as? NSNumber)?.floatValue ?? 0
            let schedule: LearningRateSchedule
            switch c["schedule"] as? String {
            case "step": schedule = .step(stepSize: a["step_size"]?.intValue ?? 1, gamma: a["gamma"]?.floatValue ?? 1)
            case "cosine": schedule = .cosine(period: a["T_max"]?.intValue ?? 1, minimum: a["eta_min"]?.floatValue ?? 0)
            case "warmup_linear":
                schedule = .warmupLinear(warmup: a["total_iters"]?.intValue ?? 1, startFactor: a["start_factor"]?.floatValue ?? 1)
            case "warmup_cosine":
                schedule = .warmupCosine(
                    warmup: a["warmup_steps"]?.intValue ?? 0, total: a["total_steps"]?.intValue ?? 1,
                    startFactor: a["start_factor"]?.floatValue ?? 1, minimum: a["eta_min"]?.floatValue ?? 0)
            default:
                XCTFail("\(name): unknown schedule")
                continue
            }
            let lrs = (c["lrs"] as? [NSNumber] ?? []).map(\.floatValue)
            assertClose((0..<lrs.count).map { schedule.rate(at: $0, base: base) }, lrs, rtol: 1e-5, atol: 1e-9, name)
        }
    }

    /// The optimizers' updates are split over the pool for large parameters (Parallel.swift): three
    /// steps of each kind on 50,001 values give the same bits at one thread and at two.
    func testUpdatesAreTheSameBitsOnTwoThreads() throws {
        let saved = (BLAS.gemmLibrary, BLAS.threadCount)
        defer { (BLAS.gemmLibrary, BLAS.threadCount) = saved }
        BLAS.gemmLibrary = .oneDNN  // the pool is used only beside oneDNN's GEMM
        let count = 50_001
        func values(_ seed: Int) -> [Float] { (0..<count).map { Float(($0 * 7919 + seed * 104_729) % 997) / 498.5 - 1 } }
        let kinds: [(String, ([Variable]) throws -> Optimizer)] = [
            ("sgd", { try SGD($0, learningRate: 0.01, weightDecay: 0.1) }),
            ("sgd momentum", { try SGD($0, learningRate: 0.01, momentum: 0.9, weightDecay: 0.1) }),
            ("sgd nesterov", { try SGD($0, learningRate: 0.01, momentum: 0.9, nesterov: true) }),
            ("adam", { try Adam($0, learningRate: 0.01, weightDecay: 0.1) }),
            ("adamw", { try Adam($0, learningRate: 0.01, weightDecay: 0.1, decoupled: true) }),
        ]
        func run(threads: Int, _ make: ([Variable]) throws -> Optimizer) throws -> [UInt32] {
            BLAS.threadCount = threads
            let p = Variable(try Tensor(shape: [count], scalars: values(1)), requiresGrad: true)
            let optimizer = try make([p])
            for step in 0..<3 {
                p.grad = try Tensor(shape: [count], scalars: values(2 + step))
                optimizer.step()
            }
            return p.value.scalars.map(\.bitPattern)
        }
        XCTAssertGreaterThan(count * 4, 2 * Parallel.threshold, "the updates must be large enough to split")
        let initial = try Tensor(shape: [count], scalars: values(1)).scalars.map(\.bitPattern)
        for (name, make) in kinds {
            let one = try run(threads: 1, make)
            XCTAssertNotEqual(one, initial, name)
            XCTAssertEqual(one, try run(threads: 2, make), name)
        }
    }
}
