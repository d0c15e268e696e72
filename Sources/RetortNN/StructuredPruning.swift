import RetortTensor

/// Structured pruning: whole output channels (rows of a Linear, filters of a Conv2d) are removed,
/// with the batch norm that follows and the matching inputs of the next Linear or Conv2d, so the
/// model is smaller in every sense: fewer parameters, smaller matrices, a smaller file, less time.
///
/// The model must be a flat sequence of Linear, Conv2d, BatchNorm and parameter-free layers
/// (activations, pooling, dropout, flatten). The last Linear or Conv2d keeps its outputs (they are
/// the model's), and every pruned layer keeps at least one channel.
public enum StructuredPruning {
    public struct Refusal: Error, CustomStringConvertible {
        public let description: String
    }

    /// What changed in one layer, for the sparsity table.
    public struct Change {
        public let name: String
        public let before: [Int]
        public let after: [Int]
    }

    /// The layers whose output channels would be pruned (every Linear or Conv2d but the last), by index.
    public static func prunableLayers(_ model: Sequential) throws -> [Int] {
        var weighted: [Int] = []
        var seen: [ObjectIdentifier: Int] = [:]
        for (i, layer) in model.layers.enumerated() where !layer.namedParameters.isEmpty {
            if let first = seen.updateValue(i, forKey: ObjectIdentifier(layer)) {
                throw Refusal(
                    description:
                        "layers \(first) and \(i) are the same layer; pruning would give each its own smaller copy and untie them"
                )
            }
        }
        for (i, layer) in model.layers.enumerated() {
            switch layer {
            case is Linear, is Conv2d: weighted.append(i)
            case is BatchNorm: continue
            default:
                guard layer.namedParameters.isEmpty, !(layer is Sequential) else {
                    throw Refusal(
                        description:
                            "layer \(i) (\(layer.briefDescription)) is not a Linear, Conv2d, BatchNorm or a layer without parameters, so its channels cannot be followed"
                    )
                }
            }
        }
        return Array(weighted.dropLast())
    }

    /// The weight of a Linear or Conv2d.
    public static func weight(_ layer: Layer) -> Variable? { (layer as? Linear)?.weight ?? (layer as? Conv2d)?.weight }

    /// Removes the `amount` fraction (rounded, at least one channel kept) of each prunable layer's
    /// output channels with the lowest `importance` (one score per channel, ties to the earlier
    /// channel), in place. Returns the shapes before and after.
    public static func prune(_ model: Sequential, amount: Double, importance: [Int: [Float]]) throws -> [Change] {
        let prunable = try prunableLayers(model)
        guard !prunable.isEmpty else {
            throw Refusal(description: "it has a single Linear or Conv2d, whose outputs are the model's: nothing to prune")
        }
        var kept: [Int: [Int]] = [:]
        for index in prunable {
            guard let w = weight(model.layers[index]) else { continue }
            let channels = w.shape[0]
            let scores = importance[index] ?? []
            guard scores.count == channels else {
                throw Refusal(description: "layer \(index) has \(channels) channels but \(scores.count) importance scores")
            }
            let keep = Swift.max(1, channels - Int((amount * Double(channels)).rounded()))
            let order = scores.indices.sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
            kept[index] = order.prefix(keep).sorted()
        }
        var changes: [Change] = []
        var layers = model.layers
        // The channels reaching the current layer's input: nil when all of them.
        var incoming: [Int]?
        for (i, layer) in model.layers.enumerated() {
            switch layer {
            case let linear as Linear:
                var inputs: [Int]?
                if let channels = incoming, let before = previousChannels(model, before: i) {
                    // After a Conv2d and Flatten, each channel is a block of height × width features.
                    guard linear.inFeatures % before == 0 else {
                        throw Refusal(
                            description:
                                "layer \(i) (\(linear.description)) takes \(linear.inFeatures) features, not a multiple of the \(before) channels before it"
                        )
                    }
                    inputs = expand(channels, factor: linear.inFeatures / before)
                }
                let outputs = kept[i]
                let w = select(linear.weight.value, rows: outputs, columns: inputs)
                let made = Linear(
                    weight: carried(linear.weight, w), bias: linear.bias.map { carried($0, select($0.value, rows: outputs)) })
                made.isTraining = linear.isTraining
                layers[i] = made
                record(&changes, i, linear.weight, w)
                incoming = outputs
            case let conv as Conv2d:
                let outputs = kept[i]
                let w = select(conv.weight.value, rows: outputs, columns: incoming)
                let made = Conv2d(
                    weight: carried(conv.weight, w), bias: conv.bias.map { carried($0, select($0.value, rows: outputs)) },
                    stride: conv.stride, padding: conv.padding)
                made.isTraining = conv.isTraining
                layers[i] = made
                record(&changes, i, conv.weight, w)
                incoming = outputs
            case let norm as BatchNorm:
                guard let channels = incoming else { continue }
                let made = try norm.keeping(channels)
                layers[i] = made
                record(&changes, i, norm.weight, made.weight.value)
            default:
                continue
            }
        }
        model.replaceLayers(layers)
        return changes
    }

    /// The output channels of the last Linear or Conv2d before layer `index`, as it was.
    private static func previousChannels(_ model: Sequential, before index: Int) -> Int? {
        model.layers[..<index].reversed().lazy.compactMap { weight($0)?.shape[0] }.first
    }

    /// Column indices of `channels`, each standing for `factor` consecutive features.
    private static func expand(_ channels: [Int], factor: Int) -> [Int] {
        channels.flatMap { c in (c * factor)..<((c + 1) * factor) }
    }

    private static func record(_ changes: inout [Change], _ index: Int, _ old: Variable, _ new: Tensor) {
        if old.shape != new.shape { changes.append(Change(name: "\(index)", before: old.shape, after: new.shape)) }
    }

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
}

extension BatchNorm {
    /// A batch norm over the given channels only, with their parameters and running statistics.
    func keeping(_ channels: [Int]) throws -> BatchNorm {
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
