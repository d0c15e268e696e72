import Foundation
import RetortExport
import RetortNN
import RetortTensor

extension Builtins {
    /// How train.py scales each process's loss under torchrun, found by running the loss: on the
    /// first batches of the run (at most three), at the training progress p = 0, 0.5 and 1 (so a
    /// term a schedule weighs 0 at the start is seen), the loss of the whole batch against two
    /// parts' (its halves, as torchrun's two processes split it, and its first example against the
    /// rest) combined three ways: weighted by their examples (a mean over examples), by their
    /// labelled tokens (a mean over those: cross-entropy on sequences, the prelude's masked means),
    /// or added (a sum). The way that gives the whole batch's loss every time is the one whose
    /// averaged gradient is the whole batch's; where none does, the warning says so. Deciding from
    /// the data's shape alone scaled kd on sequences by examples, and a summed loss by its share:
    /// both trained other weights under torchrun than in one process, without a word.
    ///
    /// The models run in eval mode (dropout and batch statistics would blur the comparison) and
    /// without gradients; the loss has already been translated, so it changes no outer name. Where
    /// the loss cannot be run here (it prints, or fails) or the batches cannot be split (batch 1),
    /// the scaling is the loss's own: labelled tokens for the default losses and the prelude's on
    /// sequences, examples otherwise (a regression's targets of −1 are targets, not unlabelled).
    static func torchScaling(
        _ call: BuiltinCall, student: Model, teachers: [Model], weights: [Double], loss: Value, data: Dataset,
        order: [Int], batch: Int
    ) throws -> (scaling: TorchExport.Scaling, warning: String?) {
        let prelude = call.interpreter.preludeScope
        let masked: Bool
        switch loss {
        case .none: masked = true
        case .function(.closure(let closure)): masked = closure.environment === prelude
        default: masked = false
        }
        let fallback: TorchExport.Scaling = data.y.rank >= 2 && masked ? .tokens : .examples
        if ["print", "eprint", "display"].contains(where: { LossRecord.reaches($0, from: loss, prelude: prelude) }) {
            return (fallback, nil)
        }
        let probed = stride(from: 0, to: order.count, by: batch).prefix(3)
            .map { Array(order[$0..<Swift.min($0 + batch, order.count)]) }
            .filter { $0.count >= 2 }
        guard !probed.isEmpty else { return (fallback, nil) }

        let modes = ([student] + teachers).map { Modes(of: $0.network) }
        for model in [student] + teachers { model.network.isTraining = false }
        defer { for mode in modes { mode.restore() } }
        let progress = [0, 0.5, 1.0]
        /// The loss of these examples at each progress (the models run once).
        func losses(_ rows: [Int]) throws -> [Double] {
            let x = Variable(data.x.rows(rows))
            let y = Variable(data.y.rows(rows))
            let context = TrainingContext()
            return try call.interpreter.withTrainingContext(context) {
                let output = try context.forward(student, x)
                var arguments: [Value] = [.tensor(output), .tensor(y)]
                if !teachers.isEmpty {
                    let logits = try teachers.map { try context.forward($0, x).value }
                    arguments.insert(teacherValue(logits, weights: weights.isEmpty ? nil : weights), at: 1)
                }
                return try progress.map { p in
                    let value: Variable
                    if case .none = loss {
                        value = try Loss.crossEntropy(output, target: y)
                    } else {
                        value = try callLoss(call, loss, arguments, x: x, progress: p)
                    }
                    return Double(value.value.scalar ?? .nan)
                }
            }
        }
        // Labelled tokens are labels other than −1 among class labels; other targets are all counted.
        let classLabels = data.y.scalars.allSatisfy { $0 == -1 || ($0 >= 0 && $0 == $0.rounded()) }
        func labelled(_ rows: [Int]) -> Double {
            Double(data.y.rows(rows).scalars.filter { $0 != -1 }.count)
        }

        var consistent: Set<TorchExport.Scaling> = classLabels ? [.examples, .tokens, .sum] : [.examples, .sum]
        var compared = 0
        GradMode.withoutGradients {
            for rows in probed {
                // A loss that fails when run here fails the run in Retort too: its own scaling then.
                guard let whole = try? losses(rows) else { continue }
                // Two splits: torch.tensor_split's halves (the first takes the odd example), and one
                // example against the rest, whose loss differs most from the batch's. The way that
                // holds matched to 1.5e-7 of the loss on the review's models, the others missed by
                // 1.4e-6 or more on some split (a small unmasked term beside kd by 4e-6 to 1e-4).
                for cut in Set([(rows.count + 1) / 2, 1]) {
                    let parts = [Array(rows[..<cut]), Array(rows[cut...])]
                    guard let values = try? parts.map(losses) else { continue }
                    let examples = parts.map { Double($0.count) }
                    let tokens = parts.map(labelled)
                    for (i, total) in whole.enumerated() where total.isFinite {
                        compared += 1
                        let part = values.map { $0[i] }
                        func weighted(_ counts: [Double]) -> Double {
                            let all = counts.reduce(0, +)
                            guard all > 0 else { return .nan }
                            // A part with nothing to count adds nothing (its mean is 0 / 0).
                            return zip(counts, part).reduce(0) { $0 + ($1.0 > 0 ? $1.0 * $1.1 : 0) } / all
                        }
                        let combined: [TorchExport.Scaling: Double] = [
                            .examples: weighted(examples), .tokens: weighted(tokens), .sum: part.reduce(0, +),
                        ]
                        for (scaling, value) in combined
                        where !(Swift.abs(value - total) <= 1e-6 * Swift.max(Swift.abs(total), 1e-2)) {
                            consistent.remove(scaling)
                        }
                    }
                }
            }
        }
        guard compared > 0 else { return (fallback, nil) }
        if consistent.contains(fallback) { return (fallback, nil) }
        if let found = [TorchExport.Scaling.examples, .tokens, .sum].first(where: consistent.contains) {
            return (found, nil)
        }
        return (
            fallback,
            "export_torch: under torchrun, train.py cannot reproduce this loss exactly: on the first batches it is neither a mean over examples, nor a mean over labelled tokens, nor a sum (a mean beside a sum, or a mean over tokens beside an unmasked term, say), so the processes' scaled losses do not add up to the batch's; one process (python train.py) reproduces it\n"
        )
    }
}
