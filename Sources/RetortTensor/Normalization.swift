/// Normalisation and regularisation as functions of variables; the layers in RetortNN hold their state.
public enum Normalization {
    /// Layer normalisation over the trailing `normalizedShape` dimensions (biased variance).
    public static func layerNorm(
        _ x: Variable, normalizedShape: [Int], weight: Variable?, bias: Variable?, eps: Float = 1e-5
    ) throws -> Variable {
        guard normalizedShape.count <= x.value.rank, Array(x.shape.suffix(normalizedShape.count)) == normalizedShape else {
            throw TensorError(
                .shape,
                "layer_norm",
                "normalized shape \(formatShape(normalizedShape)) does not match the end of input \(formatShape(x.shape))")
        }
        let axes = Array((x.value.rank - normalizedShape.count)..<x.value.rank)
        let op = Op(
            "layer_norm",
            [("axes", .ints(axes)), ("eps", .float(eps)), ("weight", .bool(weight != nil)), ("bias", .bool(bias != nil))])
        // Outside tracing, the usual case runs as one primitive (LayerNorm.swift); a trace keeps the
        // composite below, whose primitives the exporters read.
        if Tape.recorder == nil, weight.map({ $0.shape == normalizedShape }) ?? true,
            bias.map({ $0.shape == normalizedShape }) ?? true
        {
            return fusedLayerNorm(x, size: normalizedShape.reduce(1, *), weight: weight, bias: bias, eps: eps, op: op)
        }
        return try Tape.group(op, inputs: [x] + [weight, bias].compactMap { $0 }) {
            try compositeLayerNorm(x, axes: axes, weight: weight, bias: bias, eps: eps)
        }
    }

    /// Layer normalisation built from primitives, each of which a trace records.
    static func compositeLayerNorm(_ x: Variable, axes: [Int], weight: Variable?, bias: Variable?, eps: Float) throws
        -> Variable
    {
        let mean = try x.mean(axes: axes, keepDims: true)
        let centered = try x - mean
        let variance = try (centered * centered).mean(axes: axes, keepDims: true)
        var y = try centered / (variance + eps).sqrt()
        if let weight { y = try y * weight }
        if let bias { y = try y + bias }
        return y
    }

    /// Batch normalisation of `[N, C]` or `[N, C, H, W]` over every axis but the channel.
    ///
    /// In training it normalises with the batch statistics and returns updated running statistics
    /// (the running variance is unbiased, as in PyTorch); in evaluation it uses the running ones.
    public static func batchNorm(
        _ x: Variable, weight: Variable?, bias: Variable?, runningMean: Tensor, runningVar: Tensor,
        training: Bool, momentum: Float = 0.1, eps: Float = 1e-5
    ) throws -> (output: Variable, runningMean: Tensor, runningVar: Tensor) {
        let rank = x.value.rank
        guard rank == 2 || rank == 4 else {
            throw TensorError(.shape, "batch_norm", "expected input [N, C] or [N, C, H, W], got \(formatShape(x.shape))")
        }
        let channels = x.shape[1]
        guard runningMean.shape == [channels], runningVar.shape == [channels] else {
            throw TensorError(
                .shape,
                "batch_norm",
                "running statistics \(formatShape(runningMean.shape)) do not match \(channels) channels of \(formatShape(x.shape))"
            )
        }
        let statShape = rank == 2 ? [1, channels] : [1, channels, 1, 1]
        let axes = rank == 2 ? [0] : [0, 2, 3]
        var newMean = runningMean
        var newVar = runningVar
        let normalized: Variable
        if training {
            let count = axes.reduce(1) { $0 * x.shape[$1] }
            guard count > 1 else {
                throw TensorError(
                    .shape,
                    "batch_norm", "needs more than one value per channel in training, got input \(formatShape(x.shape))")
            }
            let mean = try x.mean(axes: axes, keepDims: true)
            let centered = try x - mean
            let variance = try (centered * centered).mean(axes: axes, keepDims: true)
            normalized = try centered / (variance + eps).sqrt()
            let unbiased = variance.value * (Float(count) / Float(count - 1))
            newMean = try runningMean * (1 - momentum) + mean.value.reshaped([channels]) * momentum
            newVar = try runningVar * (1 - momentum) + unbiased.reshaped([channels]) * momentum
        } else {
            let mean = Variable(try runningMean.reshaped(statShape))
            let std = Variable(try runningVar.reshaped(statShape) + eps).sqrt()
            normalized = try (x - mean) / std
        }
        var y = normalized
        if let weight { y = try y * weight.reshaped(statShape) }
        if let bias { y = try y + bias.reshaped(statShape) }
        return (y, newMean, newVar)
    }

    /// Inverted dropout: zeroes each element with probability `p` and scales the rest by 1/(1−p).
    public static func dropout(_ x: Variable, p: Float, training: Bool, generator: inout RandomGenerator) throws -> Variable {
        guard (0..<1).contains(p) else { throw TensorError(.argument, "dropout", "probability must be in [0, 1), got \(p)") }
        guard training, p > 0 else { return x }
        let keep = 1 - p
        var mask = Tensor.zeros(x.shape)
        mask.withUnsafeMutableBufferPointer { m in
            for i in 0..<m.count { m[i] = generator.nextUnit() < keep ? 1 / keep : 0 }
        }
        return try x * Variable(mask)
    }
}
