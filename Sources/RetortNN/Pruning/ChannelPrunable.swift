import RetortTensor

/// A layer whose output channels (a Linear's rows, a Conv2d's filters) channel pruning can remove,
/// and whose input channels follow the channels of the layer before it.
public protocol ChannelPrunable: Layer {
    var weight: Variable { get }
    var bias: Variable? { get }
    /// A copy keeping only the given output channels and input channels (nil keeps all), in order.
    /// An input channel may stand for `factor` consecutive features (a filter flattened).
    func keeping(outputs: [Int]?, inputs: [Int]?) -> Layer
}

extension ChannelPrunable {
    public var outputChannels: Int { weight.shape[0] }
}

extension Linear: ChannelPrunable {
    public func keeping(outputs: [Int]?, inputs: [Int]?) -> Layer {
        let made = Linear(
            weight: ChannelSelection.carried(weight, ChannelSelection.select(weight.value, rows: outputs, columns: inputs)),
            bias: bias.map { ChannelSelection.carried($0, ChannelSelection.select($0.value, rows: outputs)) })
        made.isTraining = isTraining
        return made
    }
}

extension Conv2d: ChannelPrunable {
    public func keeping(outputs: [Int]?, inputs: [Int]?) -> Layer {
        let made = Conv2d(
            weight: ChannelSelection.carried(weight, ChannelSelection.select(weight.value, rows: outputs, columns: inputs)),
            bias: bias.map { ChannelSelection.carried($0, ChannelSelection.select($0.value, rows: outputs)) },
            stride: stride, padding: padding)
        made.isTraining = isTraining
        return made
    }
}

extension BatchNorm {
    /// A batch norm over the given channels only, with their parameters and running statistics.
    public func keeping(_ channels: [Int]) throws -> BatchNorm {
        let made = BatchNorm(channels.count, momentum: momentum, eps: eps)
        made.weight.update { $0 = weight.value.rows(channels) }
        made.bias.update { $0 = bias.value.rows(channels) }
        made.weight.requiresGrad = weight.requiresGrad
        made.bias.requiresGrad = bias.requiresGrad
        try made.setBuffer("running_mean", runningMean.rows(channels))
        try made.setBuffer("running_var", runningVar.rows(channels))
        made.setCount("num_batches_tracked", batchesTracked)
        made.isTraining = isTraining
        return made
    }
}

/// Cutting rows and columns out of weights.
enum ChannelSelection {
    /// A new parameter holding `value`, as trainable and as trained as `old`.
    static func carried(_ old: Variable, _ value: Tensor) -> Variable {
        let made = Variable(value, requiresGrad: old.requiresGrad, name: old.name)
        made.updates = old.updates
        return made
    }

    /// The sub-tensor of the given rows (first axis) and columns (second axis); nil keeps all.
    static func select(_ t: Tensor, rows: [Int]?, columns: [Int]? = nil) -> Tensor {
        let picked = rows.map { t.rows($0) } ?? t
        guard let columns, t.rank > 1 else { return picked }
        let (count, width) = (picked.shape[0], picked.shape[1])
        let inner = picked.count / Swift.max(count * width, 1)
        var shape = picked.shape
        shape[1] = columns.count
        return picked.withUnsafeBufferPointer { src in
            Tensor(shape: shape) { dst in
                var o = 0
                for r in 0..<count {
                    for c in columns {
                        (dst.baseAddress! + o).update(from: src.baseAddress! + (r * width + c) * inner, count: inner)
                        o += inner
                    }
                }
            }
        }
    }

    /// Column indices of `channels`, each standing for `factor` consecutive features.
    static func expand(_ channels: [Int], factor: Int) -> [Int] {
        factor == 1 ? channels : channels.flatMap { c in (c * factor)..<((c + 1) * factor) }
    }
}
