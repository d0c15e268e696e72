import Foundation
import RetortTensor

/// Evaluation helpers for trained models (the language's accuracy, predict and distill use them).
public enum Training {
    /// The model's outputs in evaluation mode, without building a graph.
    public static func predict(_ model: Layer, _ x: Tensor) throws -> Tensor {
        let wasTraining = model.isTraining
        model.isTraining = false
        defer { model.isTraining = wasTraining }
        return try GradMode.withoutGradients { try model(Variable(x)).value }
    }

    /// The fraction of examples whose highest-scoring class is the label.
    public static func accuracy(_ model: Layer, on data: Dataset) throws -> Float {
        let predicted = try predict(model, data.x).argmax(axis: 1).scalars
        let correct = zip(predicted, data.y.scalars).filter { $0 == $1 }.count
        return Float(correct) / Float(Swift.max(data.count, 1))
    }
}
