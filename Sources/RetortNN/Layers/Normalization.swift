import RetortTensor

/// Batch normalisation for `[N, C]` (1d) or `[N, C, H, W]` (2d) inputs, with running statistics.
public final class BatchNorm: Layer {
    public let weight: Variable
    public let bias: Variable
    public private(set) var runningMean: Tensor
    public private(set) var runningVar: Tensor
    public let momentum: Float
    public let eps: Float
    public var isTraining = true
    /// Training-mode forward passes so far: PyTorch's `num_batches_tracked`.
    public private(set) var batchesTracked = 0

    public init(_ channels: Int, momentum: Float = 0.1, eps: Float = 1e-5) {
        weight = Variable(.ones([channels]), requiresGrad: true)
        bias = Variable(.zeros([channels]), requiresGrad: true)
        runningMean = .zeros([channels])
        runningVar = .ones([channels])
        self.momentum = momentum
        self.eps = eps
    }

    public var description: String { "BatchNorm(\(weight.shape[0]))" }

    public func copy() -> Layer {
        let c = BatchNorm(weight.shape[0], momentum: momentum, eps: eps)
        c.weight.update { $0 = weight.value }
        c.bias.update { $0 = bias.value }
        c.runningMean = runningMean
        c.runningVar = runningVar
        c.batchesTracked = batchesTracked
        c.isTraining = isTraining
        return c
    }
    public var namedParameters: [(name: String, variable: Variable)] { [("weight", weight), ("bias", bias)] }
    public var namedBuffers: [(name: String, tensor: Tensor)] { [("running_mean", runningMean), ("running_var", runningVar)] }
    public var namedCounts: [(name: String, count: Int)] { [("num_batches_tracked", batchesTracked)] }
    public func setCount(_ name: String, _ count: Int) {
        if name == "num_batches_tracked" { batchesTracked = count }
    }

    public func setBuffer(_ name: String, _ tensor: Tensor) throws {
        guard tensor.shape == runningMean.shape else {
            throw TensorError(
                .shape,
                "load", "\(name) has shape \(formatShape(tensor.shape)), expected \(formatShape(runningMean.shape))")
        }
        switch name {
        case "running_mean": runningMean = tensor
        case "running_var": runningVar = tensor
        default: throw TensorError(.argument, "load", "BatchNorm has no buffer named '\(name)'")
        }
    }

    /// Whether `freeze` froze it (weight and bias): then it keeps its running statistics and
    /// normalises with them even in train mode (timm's FrozenBatchNorm2d), so a frozen part of a
    /// model stays as it is through `fit`, which puts every layer in train mode. PyTorch's
    /// `requires_grad_(False)` alone leaves the statistics moving.
    public var isFrozen: Bool { !weight.requiresGrad && !bias.requiresGrad }

    public func forward(_ input: Variable) throws -> Variable {
        let isTraining = self.isTraining && !isFrozen
        // One group for a trace: an exporter writes BatchNormalization with this layer's statistics.
        let op = Op("batch_norm", [("eps", .float(eps)), ("momentum", .float(momentum)), ("training", .bool(isTraining))])
        return try Tape.group(
            op, inputs: [input, weight, bias, Variable(runningMean), Variable(runningVar)], owner: self
        ) {
            let result = try RetortTensor.Normalization.batchNorm(
                input, weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar,
                training: isTraining, momentum: momentum, eps: eps)
            // Running statistics never carry a graph: they are state, not part of the loss.
            runningMean = result.runningMean
            runningVar = result.runningVar
            if isTraining { batchesTracked += 1 }
            return result.output
        }
    }
}

/// Layer normalisation over the trailing dimensions, with an elementwise affine transform.
public final class LayerNorm: Layer {
    public let normalizedShape: [Int]
    public let weight: Variable
    public let bias: Variable
    public let eps: Float
    public var isTraining = true

    public init(_ normalizedShape: [Int], eps: Float = 1e-5) {
        self.normalizedShape = normalizedShape
        weight = Variable(.ones(normalizedShape), requiresGrad: true)
        bias = Variable(.zeros(normalizedShape), requiresGrad: true)
        self.eps = eps
    }

    public var description: String { "LayerNorm(\(formatShape(normalizedShape)))" }

    public func copy() -> Layer {
        let c = LayerNorm(normalizedShape, eps: eps)
        c.weight.update { $0 = weight.value }
        c.bias.update { $0 = bias.value }
        c.isTraining = isTraining
        return c
    }
    public var namedParameters: [(name: String, variable: Variable)] { [("weight", weight), ("bias", bias)] }
    public func forward(_ input: Variable) throws -> Variable {
        try RetortTensor.Normalization.layerNorm(input, normalizedShape: normalizedShape, weight: weight, bias: bias, eps: eps)
    }
}
