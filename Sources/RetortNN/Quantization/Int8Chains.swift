import RetortTensor

/// Whether int8 layers in a row hand each other bytes on the next one's grid (`QuantizedConv2d.chain`,
/// `QuantizedLinear.chain`) rather than floats the next quantises again: the same values either
/// way; the bench switches it to measure what the chains save.
public enum Int8Chain {
    nonisolated(unsafe) public static var isEnabled = true
}

extension QuantizedConv2d {
    /// Int8 convolutions in a row, each with the ReLU after it (and a 2×2 max pool where
    /// `maxPool2x2`), then maybe a flatten and int8 linear layers (`linears`), as `Sequential` runs
    /// them: each convolution requantises straight onto the next layer's input grid, channels last,
    /// the bytes the next would make of the floats, so the same values as the layers one after
    /// another. A linear layer after the flatten reads the images channels last with its weights
    /// permuted to match (`packedForChannelsLast`). Nil where the layers must run apart (a trace,
    /// an infinite bias, nothing to chain) or the shapes do not follow, so the layers give their
    /// own errors.
    static func chain(
        _ input: Variable, steps: [(conv: QuantizedConv2d, maxPool2x2: Bool)],
        then linears: [(linear: QuantizedLinear, relu: Bool)] = []
    ) throws -> Variable? {
        guard Int8Chain.isEnabled, Tape.recorder == nil, !steps.isEmpty, steps.count > 1 || !linears.isEmpty,
            steps.allSatisfy(\.conv.fuses),
            var plans = try? [steps[0].conv.plan(input.value.shape, maxPool2x2: steps[0].maxPool2x2)]
        else { return nil }
        for step in steps.dropFirst() {
            guard let plan = try? step.conv.plan(plans[plans.count - 1].outputShape, maxPool2x2: step.maxPool2x2) else {
                return nil
            }
            plans.append(plan)
        }
        let images = plans[plans.count - 1].outputShape
        let (channels, area) = (images[1], images[2] * images[3])
        var outputShape = images
        if let last = linears.last?.linear.weights {
            guard QuantizedLinear.follow(linears, depth: channels * area) else { return nil }
            outputShape = [images[0], last.outputs]
            try MemoryBudget.check("linear", outputShape)
        }
        let packed = linears.first?.linear.packedForChannelsLast(channels: channels, area: area)
        return Variable(
            input.value.withUnsafeBufferPointer { px in
                Tensor(shape: outputShape) { po in
                    guard let output = po.baseAddress else { return }
                    var q = steps[0].conv.quantizedChannelsLast(px, plans[0])
                    defer { q.deallocate() }
                    for i in steps.indices {
                        let grid = i + 1 < steps.count ? steps[i + 1].conv.weights.input : linears.first?.linear.weights.input
                        guard let grid else {
                            steps[i].conv.convolve(
                                q, plans[i], relu: true, maxPool2x2: steps[i].maxPool2x2, into: .floats(output))
                            return
                        }
                        let next = UnsafeMutablePointer<UInt8>.allocate(capacity: Swift.max(plans[i].outputCount, 1))
                        steps[i].conv.convolve(q, plans[i], relu: true, maxPool2x2: steps[i].maxPool2x2, into: .bytes(next, grid))
                        q.deallocate()
                        q = next
                    }
                    if let packed {
                        QuantizedLinear.run(
                            linears, rows: images[0], input: .bytes(UnsafePointer(q)), firstPacked: packed, into: output)
                    }
                }
            })
    }
}

extension QuantizedLinear {
    /// What a run of int8 linear layers starts from: float rows it quantises onto the first
    /// layer's grid, or rows already on it.
    enum ChainInput {
        case floats(UnsafePointer<Float>)
        case bytes(UnsafePointer<UInt8>)
    }

    /// Whether each layer's inputs are the one before's outputs, the first's `depth`.
    static func follow(_ steps: [(linear: QuantizedLinear, relu: Bool)], depth: Int) -> Bool {
        steps.first?.linear.weights.depth == depth
            && zip(steps, steps.dropFirst()).allSatisfy { $0.linear.weights.outputs == $1.linear.weights.depth }
    }

    /// Int8 linear layers in a row, each with the ReLU after it where `relu`, as `Sequential` runs
    /// them: each block of rows goes through every layer while in cache (`run`). Nil while a trace
    /// records, with fewer than two, or when the shapes do not follow, so the layers give their own
    /// errors.
    static func chain(_ input: Variable, steps: [(linear: QuantizedLinear, relu: Bool)]) throws -> Variable? {
        let x = input.value
        guard Int8Chain.isEnabled, Tape.recorder == nil, steps.count > 1, x.rank >= 1,
            follow(steps, depth: x.shape[x.rank - 1]), let first = steps.first?.linear.weights,
            let last = steps.last?.linear.weights
        else { return nil }
        let rows = x.count / Swift.max(first.depth, 1)
        let outputShape = Array(x.shape.dropLast()) + [last.outputs]
        try MemoryBudget.check("linear", outputShape)
        return Variable(
            x.withUnsafeBufferPointer { px in
                Tensor(shape: outputShape) { po in
                    guard let input = px.baseAddress, let output = po.baseAddress else { return }
                    run(steps, rows: rows, input: .floats(input), firstPacked: first.packed, into: output)
                }
            })
    }

    /// Blocks of whole groups of four rows (the kernel's step) over Parallel's threads, each block
    /// through every layer while in cache, each layer but the last requantising straight onto the
    /// next one's input grid (the bytes the next would make of the floats); the last writes floats
    /// `[rows, outputs]`. The first layer multiplies by `firstPacked` (its weights, or those
    /// permuted for channels-last images: the same integer sums).
    static func run(
        _ steps: [(linear: QuantizedLinear, relu: Bool)], rows: Int, input: ChainInput, firstPacked: Int8Kernel.Packed,
        into output: UnsafeMutablePointer<Float>
    ) {
        guard let first = steps.first?.linear.weights, rows > 0 else { return }
        let widest = steps.map { Swift.max($0.linear.weights.depth, $0.linear.weights.outputs) }.max() ?? 0
        let cost = rows * steps.map { $0.linear.weights.outputs * $0.linear.weights.depth }.reduce(0, +) / 64
        Parallel.forEach((rows + 3) / 4, cost: cost) { groups in
            let start = groups.lowerBound * 4
            let count = Swift.min(groups.upperBound * 4, rows) - start
            guard count > 0 else { return }
            var q = UnsafeMutablePointer<UInt8>.allocate(capacity: count * widest)
            var next = UnsafeMutablePointer<UInt8>.allocate(capacity: steps.count > 1 ? count * widest : 1)
            let acc = UnsafeMutablePointer<Int32>.allocate(capacity: count * widest)
            defer {
                q.deallocate()
                next.deallocate()
                acc.deallocate()
            }
            for (i, step) in steps.enumerated() {
                let weights = step.linear.weights
                // Inside the loop each product stays on this thread; on one thread (or with
                // OpenBLAS, where Parallel does not split) it splits its rows itself.
                if i > 0 {
                    Int8Kernel.gemm(q, m: count, weights.packed, into: acc)
                } else {
                    switch input {
                    case .floats(let x):
                        first.quantizeInput(
                            UnsafeBufferPointer(start: x + start * first.depth, count: count * first.depth), into: q)
                        Int8Kernel.gemm(q, m: count, firstPacked, into: acc)
                    case .bytes(let bytes):
                        Int8Kernel.gemm(bytes + start * first.depth, m: count, firstPacked, into: acc)
                    }
                }
                guard i + 1 < steps.count else {
                    weights.requantize(acc, rows: start..<start + count, relu: step.relu, into: output)
                    break
                }
                Int8Kernel.requantize(
                    acc, rows: count, outputs: weights.outputs, corrections: weights.corrections,
                    scales: weights.outputScales, bias: weights.offsets, relu: step.relu,
                    onto: steps[i + 1].linear.weights.input, into: next)
                swap(&q, &next)
            }
        }
    }

    /// The weights packed for an input flattened from channels-last images of `channels` ×
    /// `area` (`[area, channels]` order) rather than `[channels, area]`: each output's weights
    /// permuted to match, so each int32 sum adds the same products (integer sums in any order are
    /// the same number), and each row sums to the same correction. Made once per image shape.
    func packedForChannelsLast(channels: Int, area: Int) -> Int8Kernel.Packed {
        if let made = channelsLastPacking, made.channels == channels, made.area == area { return made.packed }
        let (outputs, depth) = (weights.outputs, weights.depth)
        var permuted = weights.values
        for o in 0..<outputs {
            for c in 0..<channels {
                for p in 0..<area { permuted[o * depth + p * channels + c] = weights.values[o * depth + c * area + p] }
            }
        }
        let packed = Int8Kernel.pack(permuted, rows: outputs, depth: depth)
        channelsLastPacking = (channels, area, packed)
        return packed
    }
}
