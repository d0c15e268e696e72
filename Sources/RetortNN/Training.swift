import Foundation
import RetortTensor

/// What one finished epoch reports to whoever is watching (a progress bar, a live plot).
public struct EpochReport: Sendable {
    public let epoch: Int
    public let epochs: Int
    public let meanLoss: Float
    public let seconds: Double
}

/// Mini-batch training loops shared by every front end; they never print, they report.
public enum Training {
    /// Trains `model` for `epochs` passes over `data` in shuffled mini-batches, minimising
    /// `loss(outputs, batchInputs, batchLabels)` with `optimizer`.
    public static func fit(
        _ model: Layer, on data: Dataset, epochs: Int, batchSize: Int, optimizer: Optimizer,
        generator: inout RandomGenerator,
        loss: (_ output: Variable, _ x: Tensor, _ y: Tensor) throws -> Variable,
        report: (EpochReport) -> Void = { _ in }
    ) throws {
        guard epochs > 0, batchSize > 0 else { throw TensorError("fit", "epochs and batch size must be positive") }
        model.isTraining = true
        defer { model.isTraining = false }
        for epoch in 1...epochs {
            let started = DispatchTime.now().uptimeNanoseconds
            var total: Double = 0
            var shuffler: RandomGenerator? = RandomGenerator(seed: generator.next())
            let batches = data.batches(batchSize, generator: &shuffler)
            for (x, y) in batches {
                let value = try loss(model(Variable(x)), x, y)
                optimizer.zeroGrad()
                try value.backward()
                optimizer.step()
                total += Double(value.value.scalar ?? .nan)
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            report(EpochReport(epoch: epoch, epochs: epochs, meanLoss: Float(total / Double(batches.count)), seconds: seconds))
        }
    }

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

    /// The fraction of examples on which two models predict the same class.
    public static func agreement(_ a: Layer, _ b: Layer, on x: Tensor) throws -> Float {
        let pa = try predict(a, x).argmax(axis: 1).scalars
        let pb = try predict(b, x).argmax(axis: 1).scalars
        return Float(zip(pa, pb).filter { $0 == $1 }.count) / Float(Swift.max(pa.count, 1))
    }
}

/// A multi-layer perceptron: Linear layers with ReLU (and optional dropout) between them.
public func multilayerPerceptron(_ sizes: [Int], dropout: Float = 0, generator g: inout RandomGenerator) -> Sequential {
    var layers: [Layer] = []
    for i in 0..<(sizes.count - 1) {
        layers.append(Linear(sizes[i], sizes[i + 1], generator: &g))
        if i < sizes.count - 2 {
            layers.append(Activation(.relu))
            if dropout > 0 { layers.append(Dropout(dropout, generator: &g)) }
        }
    }
    return Sequential(layers)
}
