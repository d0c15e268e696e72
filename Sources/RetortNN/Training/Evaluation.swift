import Foundation
import RetortTensor

/// Evaluation of trained models: predictions in eval mode without a graph, and accuracy.
public enum Evaluation {
    /// The model's outputs in evaluation mode, without building a graph; the mode is restored.
    public static func predict(_ model: Layer, _ x: Tensor) throws -> Tensor {
        Contention.check()
        let modes = Modes(of: model)
        model.isTraining = false
        defer { modes.restore() }
        return try GradMode.withoutGradients { try model(Variable(x)).value }
    }

    /// The fraction of labels (positions labelled −1 aside) whose top-scoring class is the label,
    /// predicted in batches of `batch` so a large set needs no more memory than one batch.
    public static func accuracy(_ model: Layer, on data: Dataset, batch: Int = 1024) throws -> Float {
        var metric = Accuracy()
        for start in stride(from: 0, to: data.count, by: batch) {
            let part = data.subset(Array(start..<Swift.min(start + batch, data.count)))
            let output = try predict(model, part.x)
            try Accuracy.check(output: output.shape, labels: part.y.shape, op: "accuracy")
            metric.add(output: output, labels: part.y)
        }
        return Float(metric.value ?? 0)
    }
}
