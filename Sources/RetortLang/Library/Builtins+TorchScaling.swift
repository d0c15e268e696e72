import Foundation
import RetortExport
import RetortNN
import RetortTensor

extension Builtins {
    /// How train.py scales each process's loss under torchrun, found by running the loss: on the
    /// first batches of the run (at most three), the loss of the whole batch against two parts'
    /// (its halves, as torchrun's two processes split it, and its first example and the rest)
    /// combined three ways: weighted by their examples (a
    /// mean over examples), by their labelled tokens (a mean over those: cross-entropy on sequences,
    /// the prelude's masked means), or added (a sum). The way that gives the whole batch's loss on
    /// every batch probed is the one whose averaged gradient is the whole batch's; where none does
    /// (a mean mixed with an unmasked term, say), the warning says so. Deciding from the data's
    /// shape alone scaled kd on sequences by examples, and a summed loss by its share: both
    /// trained other weights under torchrun than in one process, without a word.
    ///
    /// The models run in eval mode (dropout and batch statistics would blur the comparison) and
    /// without gradients; the loss has already been translated, so it changes no outer name. A
    /// loss that prints is not run (it would print here): the data's shape decides then.
    static func torchScaling(
        _ call: BuiltinCall, student: Model, teachers: [Model], weights: [Double], loss: Value, data: Dataset,
        order: [Int], batch: Int
    ) throws -> (scaling: TorchExport.Scaling, warning: String?) {
        let fallback: TorchExport.Scaling = data.y.rank >= 2 ? .tokens : .examples
        let prelude = call.interpreter.preludeScope
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
        func lossValue(_ rows: [Int]) throws -> Double {
            let x = Variable(data.x.rows(rows))
            let y = data.y.rows(rows)
            let context = TrainingContext()
            return try call.interpreter.withTrainingContext(context) {
                let output = try context.forward(student, x)
                let value: Variable
                if teachers.isEmpty {
                    if case .none = loss {
                        value = try Loss.crossEntropy(output, target: Variable(y))
                    } else {
                        value = try callLoss(call, loss, [.tensor(output), .tensor(Variable(y))], x: x, progress: 0)
                    }
                } else {
                    let logits = try teachers.map { try context.forward($0, x).value }
                    let teacher = teacherValue(logits, weights: weights.isEmpty ? nil : weights)
                    value = try callLoss(call, loss, [.tensor(output), teacher, .tensor(Variable(y))], x: x, progress: 0)
                }
                return Double(value.value.scalar ?? .nan)
            }
        }
        func labelled(_ rows: [Int]) -> Double {
            Double(data.y.rows(rows).scalars.filter { $0 != -1 }.count)
        }

        var consistent: Set<TorchExport.Scaling> = [.examples, .tokens, .sum]
        var compared = 0
        GradMode.withoutGradients {
            for rows in probed {
                // A loss that fails when run here fails the run in Retort too: the data's shape decides.
                guard let whole = try? lossValue(rows), whole.isFinite else { continue }
                // Two splits: torch.tensor_split's halves (the first takes the odd example), and one
                // example against the rest, whose loss differs most from the batch's. The way that
                // holds matched to 1.5e-7 of the loss on the review's models, the others missed by
                // 1.4e-6 or more on some split (a small unmasked term beside kd by 4e-6 to 1e-4).
                for cut in Set([(rows.count + 1) / 2, 1]) {
                    let parts = [Array(rows[..<cut]), Array(rows[cut...])]
                    guard let values = try? parts.map(lossValue) else { continue }
                    compared += 1
                    func weighted(_ counts: [Double]) -> Double {
                        let total = counts.reduce(0, +)
                        guard total > 0 else { return .nan }
                        // A part with nothing to count adds nothing (its mean is 0 / 0).
                        return zip(counts, values).reduce(0) { $0 + ($1.0 > 0 ? $1.0 * $1.1 : 0) } / total
                    }
                    let combined: [TorchExport.Scaling: Double] = [
                        .examples: weighted(parts.map { Double($0.count) }), .tokens: weighted(parts.map(labelled)),
                        .sum: values.reduce(0, +),
                    ]
                    for (scaling, value) in combined
                    where !(Swift.abs(value - whole) <= 1e-6 * Swift.max(Swift.abs(whole), 1e-2)) {
                        consistent.remove(scaling)
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
            "export_torch: under torchrun, train.py cannot reproduce this loss exactly: on the first batches it is neither a mean over examples, nor a mean over labelled tokens, nor a sum (a mean and an unmasked term together, say), so the processes' scaled losses do not add up to the batch's; one process (python train.py) reproduces it\n"
        )
    }
}
