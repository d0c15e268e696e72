import RetortTensor

/// What an int8 layer shares: int8 weights `[out, in…]` with a symmetric scale per output channel
/// (or one), a float bias, and the affine 7-bit grid its float input is quantised onto.
///
/// Forward: the input is quantised (`q = clamp(round(x / s) + z, 0, 127)`), multiplied by the int8
/// weights with int32 accumulation, and requantised to float with `s · sᵥ[o] · (acc − z · Σw[o])`
/// plus the bias. No gradients flow: an int8 model predicts, it is not trained.
public struct Int8Weights {
    public let shape: [Int]
    public let values: [Int8]
    public let scales: [Float]
    public let bias: [Float]?
    public let input: QuantParams
    let packed: Int8Kernel.Packed
    /// What requantising each output needs, made once: `z · Σw[o]`, `s · sᵥ[o]` and the bias (or 0).
    /// A convolution's weights packed for `Int8Kernel.convolveDirectly`, where it runs and the input
    /// channels are 1 or a multiple of 4; nil otherwise.
    let direct: [Int8]?
    let corrections: [Int32]
    let outputScales: [Float]
    let offsets: [Float]

    /// Checks what a file could get wrong: a scale that is not positive and finite, or a zero point
    /// off the 7-bit grid, would otherwise give wrong numbers without a word.
    public init(shape: [Int], values: [Int8], scales: [Float], bias: [Float]?, input: QuantParams) throws {
        guard values.count == shape.reduce(1, *), scales.count == 1 || scales.count == shape[0],
            bias == nil || bias?.count == shape[0]
        else {
            throw TensorError(.shape, "int8", "weights, scales and bias do not agree with the shape \(formatShape(shape))")
        }
        guard (scales + [input.scale]).allSatisfy({ $0 > 0 && $0.isFinite }) else {
            throw TensorError(.value, "int8", "every weight scale and the input scale must be positive and finite")
        }
        guard (QuantGrid.activations.min...QuantGrid.activations.max).contains(input.zeroPoint) else {
            throw TensorError(.value, "int8", "the input zero point \(input.zeroPoint) is outside 0…127")
        }
        self.shape = shape
        self.values = values
        self.scales = scales
        self.bias = bias
        self.input = input
        let outputs = shape[0]
        packed = Int8Kernel.pack(
            Self.packingOrder(values, shape: shape), rows: outputs, depth: values.count / Swift.max(outputs, 1))
        direct =
            shape.count == 4 && (shape[1] == 1 || shape[1] % 4 == 0) && Int8Kernel.convolvesDirectly
            ? Int8Kernel.packDirect(values, shape: shape) : nil
        corrections = packed.rowSums.map { Int32(input.zeroPoint) &* $0 }
        outputScales = (0..<outputs).map { input.scale * scales[scales.count == 1 ? 0 : $0] }
        offsets = bias ?? [Float](repeating: 0, count: outputs)
    }

    /// The weights in the order the kernel multiplies them: a convolution's `[out, c, kh, kw]` as
    /// `[out, kh, kw, c]`, the order of the channels-last patches `Int8Kernel.im2col` unfolds.
    static func packingOrder(_ values: [Int8], shape: [Int]) -> [Int8] {
        guard shape.count == 4 else { return values }
        let (outputs, c, kh, kw) = (shape[0], shape[1], shape[2], shape[3])
        var ordered = values
        for o in 0..<outputs {
            for ch in 0..<c {
                for ky in 0..<kh {
                    for kx in 0..<kw {
                        ordered[((o * kh + ky) * kw + kx) * c + ch] = values[((o * c + ch) * kh + ky) * kw + kx]
                    }
                }
            }
        }
        return ordered
    }

    /// From a float weight and bias and the observed input range.
    public init(weight: Tensor, bias: Tensor?, perChannel: Bool, inputRange: (min: Float, max: Float)) throws {
        let scales = WeightQuantization.scales(weight, perChannel: perChannel)
        try self.init(
            shape: weight.shape, values: WeightQuantization.quantize(weight, scales: scales), scales: scales,
            bias: bias?.scalars, input: QuantParams.affine(min: inputRange.min, max: inputRange.max, grid: .activations))
    }

    var outputs: Int { shape[0] }
    var depth: Int { values.count / Swift.max(shape[0], 1) }

    /// The tensors as saved: `weight` int8, the rest float32 (see `SafeTensors.save`).
    var namedBuffers: [(name: String, tensor: Tensor)] {
        var buffers: [(name: String, tensor: Tensor)] = [
            ("weight_scale", Tensor(scales)), ("input_scale", Tensor(input.scale)),
        ]
        if let bias { buffers.append(("bias", Tensor(bias))) }
        return buffers
    }
    var namedInt8Buffers: [(name: String, tensor: Tensor)] {
        // Whole numbers in −127…127 (and 0…127): exact in float, written back as int8.
        [
            ("weight", Tensor(shape: shape) { out in for (i, v) in values.enumerated() { out[i] = Float(v) } }),
            ("input_zero_point", Tensor(Float(input.zeroPoint))),
        ]
    }

    /// A copy with one tensor replaced from a file (values already checked to be whole int8 where needed).
    func replacing(_ name: String, _ t: Tensor) throws -> Int8Weights {
        func whole(_ range: ClosedRange<Float>) throws -> [Int8] {
            try t.scalars.map { v in
                guard v == v.rounded(), range.contains(v) else {
                    throw TensorError(.value, "load", "\(name) holds \(v), not a whole number in \(range)")
                }
                return Int8(v)
            }
        }
        let expected = ["weight": values.count, "weight_scale": scales.count, "bias": bias?.count ?? 0]
        guard t.count == expected[name, default: 1] else {
            throw TensorError(.shape, "load", "\(name) holds \(t.count) values, the int8 layer \(expected[name, default: 1])")
        }
        switch name {
        case "weight":
            return try Int8Weights(shape: shape, values: whole(-127...127), scales: scales, bias: bias, input: input)
        case "weight_scale":
            return try Int8Weights(shape: shape, values: values, scales: t.scalars, bias: bias, input: input)
        case "bias":
            return try Int8Weights(shape: shape, values: values, scales: scales, bias: t.scalars, input: input)
        case "input_scale":
            return try Int8Weights(
                shape: shape, values: values, scales: scales, bias: bias,
                input: QuantParams(scale: t.scalars[0], zeroPoint: input.zeroPoint))
        case "input_zero_point":
            return try Int8Weights(
                shape: shape, values: values, scales: scales, bias: bias,
                input: QuantParams(scale: input.scale, zeroPoint: Int(try whole(0...127)[0])))
        default:
            throw TensorError(.argument, "load", "int8 layer has no tensor named '\(name)'")
        }
    }

    /// Quantises floats onto the input grid (NaN lands on 0, infinities on the ends), exactly as
    /// the fake-quantised forward pass rounds them.
    func quantizeInput(_ x: UnsafeBufferPointer<Float>, into q: UnsafeMutablePointer<UInt8>) {
        Int8Kernel.quantize(x, inverse: 1 / input.scale, zero: input.zeroPoint, into: q)
    }

    /// `acc[rows × outputs]` to float: `s · sᵥ[o] · (acc − z · Σw[o]) + b[o]`, row-major, or laid out
    /// `[images, outputs, area]` for a convolution with `area` positions per image.
    func requantize(
        _ acc: UnsafePointer<Int32>, rows: Range<Int>, area: Int? = nil, relu: Bool = false,
        into out: UnsafeMutablePointer<Float>
    ) {
        Int8Kernel.requantize(
            acc, rows: rows, outputs: outputs, corrections: corrections, scales: outputScales, bias: offsets, area: area,
            relu: relu, into: out)
    }

    /// Positions `rows` of a convolution with `area` positions per image (`acc` holds just those)
    /// requantised, with ReLU when asked, into `output`.
    func requantize(_ acc: UnsafePointer<Int32>, positions rows: Range<Int>, area: Int, relu: Bool, into output: Int8Output) {
        switch output {
        case .floats(let out):
            requantize(acc, rows: rows, area: area, relu: relu, into: out)
        case .bytes(let out, let grid):
            Int8Kernel.requantize(
                acc, rows: rows.count, outputs: outputs, corrections: corrections, scales: outputScales, bias: offsets,
                relu: relu, onto: grid, into: out + rows.lowerBound * outputs)
        }
    }

    /// Two output rows of `image` (`acc`: `2 · width` positions) requantised, with ReLU when asked,
    /// and pooled over 2×2 windows into pooled row `row` of `pooledHeight` in `output`.
    func requantizePooled(
        _ acc: UnsafePointer<Int32>, image: Int, row: Int, width: Int, pooledHeight: Int, relu: Bool,
        into output: Int8Output
    ) {
        let pooledWidth = width / 2
        switch output {
        case .floats(let out):
            let plane = pooledHeight * pooledWidth
            Int8Kernel.requantizePooled(
                acc, width: width, outputs: outputs, corrections: corrections, scales: outputScales, bias: offsets,
                relu: relu, plane: plane, into: out + image * outputs * plane + row * pooledWidth)
        case .bytes(let out, let grid):
            Int8Kernel.requantizePooled(
                acc, width: width, outputs: outputs, corrections: corrections, scales: outputScales, bias: offsets,
                relu: relu, onto: grid, into: out + (image * pooledHeight + row) * pooledWidth * outputs)
        }
    }
}

/// Where an int8 convolution's requantised outputs go: floats `[images, outputs, h, w]`, as the layer
/// returns them, or bytes on the next int8 convolution's input grid, channels last
/// `[images, h, w, outputs]`: the bytes that layer would make of the floats.
enum Int8Output {
    case floats(UnsafeMutablePointer<Float>)
    case bytes(UnsafeMutablePointer<UInt8>, QuantParams)
}

/// The layers of an int8 model share this: the stored weights, which `save` writes.
public protocol QuantizedLayer: Layer {
    var weights: Int8Weights { get }
}

extension QuantizedLayer {
    public var namedParameters: [(name: String, variable: Variable)] { [] }
    public var namedBuffers: [(name: String, tensor: Tensor)] { weights.namedBuffers }
    public var namedInt8Buffers: [(name: String, tensor: Tensor)] { weights.namedInt8Buffers }
}

/// An int8 fully connected layer.
public final class QuantizedLinear: QuantizedLayer {
    public private(set) var weights: Int8Weights {
        didSet { channelsLastPacking = nil }
    }
    public var isTraining = false
    /// The weights packed for inputs flattened from channels-last images, for one image shape
    /// (`packedForChannelsLast`), made when first asked.
    var channelsLastPacking: (channels: Int, area: Int, packed: Int8Kernel.Packed)?

    public init(_ weights: Int8Weights) { self.weights = weights }
    public func copy() -> Layer { QuantizedLinear(weights) }
    public var description: String {
        "QuantizedLinear(\(weights.shape[1]) → \(weights.shape[0]), int8\(weights.scales.count == 1 ? ", per tensor" : ""))"
    }
    public func setBuffer(_ name: String, _ tensor: Tensor) throws { weights = try weights.replacing(name, tensor) }

    public func forward(_ input: Variable) throws -> Variable {
        let result = Variable(try linear(input.value, relu: false))
        // The weights are not variables: a trace names this layer as the node's owner.
        Tape.record(Op("int8_linear"), inputs: [input], output: result, owner: self)
        return result
    }

    /// This layer and the ReLU after it in one pass, as `Sequential` runs them: the same values as
    /// the two layers (requantising, then `x < 0 ? 0 : x`, ReLU's rule). Nil while a trace records,
    /// which needs the layers apart.
    func forwardFused(_ input: Variable) throws -> Variable? {
        guard Tape.recorder == nil else { return nil }
        return Variable(try linear(input.value, relu: true))
    }

    /// Blocks of whole groups of four rows (the kernel's step), over Parallel's threads, each
    /// quantised, multiplied and requantised while its rows are in cache. The input grid is the
    /// layer's, one scale for every row, so each value gets the same bytes as one pass over all rows.
    /// (`QuantizedLinear.run` does this for a run of layers; one layer sent through it ran the
    /// int8 MLP at batch 1, layer by layer, about 0.87× as fast, so a single layer keeps this loop.)
    private func linear(_ x: Tensor, relu: Bool) throws -> Tensor {
        let depth = weights.depth
        guard x.rank >= 1, x.shape[x.rank - 1] == depth else {
            throw TensorError(
                .shape,
                "linear", "input \(formatShape(x.shape)) does not match int8 weight \(formatShape(weights.shape))")
        }
        let rows = x.count / Swift.max(depth, 1)
        let outputs = weights.outputs
        // Many rows of a narrow input times many outputs is a product larger than either: checked, as matmul's is.
        let outputShape = Array(x.shape.dropLast()) + [outputs]
        try MemoryBudget.check("linear", outputShape)
        return x.withUnsafeBufferPointer { px in
            Tensor(shape: outputShape) { po in
                let q = UnsafeMutablePointer<UInt8>.allocate(capacity: Swift.max(px.count, 1))
                let acc = UnsafeMutablePointer<Int32>.allocate(capacity: Swift.max(rows * outputs, 1))
                defer {
                    q.deallocate()
                    acc.deallocate()
                }
                guard let input = px.baseAddress, let output = po.baseAddress, rows > 0 else { return }
                Parallel.forEach((rows + 3) / 4, cost: rows * outputs * depth / 64) { groups in
                    let first = groups.lowerBound * 4
                    let end = Swift.min(groups.upperBound * 4, rows)
                    guard end > first else { return }
                    weights.quantizeInput(
                        UnsafeBufferPointer(start: input + first * depth, count: (end - first) * depth),
                        into: q + first * depth)
                    // Inside the loop the product stays on this thread; on one thread (or with
                    // OpenBLAS, where Parallel does not split) it splits its rows itself.
                    Int8Kernel.gemm(q + first * depth, m: end - first, weights.packed, into: acc + first * outputs)
                    weights.requantize(acc + first * outputs, rows: first..<end, relu: relu, into: output)
                }
            }
        }
    }
}

/// An int8 2-D convolution: the quantised input is unfolded (padding takes the zero point, which
/// stands for 0.0) and multiplied by the int8 kernels.
public final class QuantizedConv2d: QuantizedLayer {
    public private(set) var weights: Int8Weights
    public let stride: Int
    public let padding: Int
    public var isTraining = false

    public init(_ weights: Int8Weights, stride: Int, padding: Int) {
        self.weights = weights
        self.stride = stride
        self.padding = padding
    }
    public func copy() -> Layer { QuantizedConv2d(weights, stride: stride, padding: padding) }
    public var description: String {
        "QuantizedConv2d(\(weights.shape[1]) → \(weights.shape[0]), kernel \(weights.shape[2]), stride \(stride), padding \(padding), int8)"
    }
    public func setBuffer(_ name: String, _ tensor: Tensor) throws { weights = try weights.replacing(name, tensor) }

    public func forward(_ input: Variable) throws -> Variable {
        let result = Variable(try convolve(input.value, relu: false, maxPool2x2: false))
        Tape.record(
            Op("int8_conv2d", [("stride", .int(stride)), ("padding", .int(padding))]), inputs: [input], output: result,
            owner: self)
        return result
    }

    /// This convolution, the ReLU after it and a 2×2 max pool (stride 2) after that in one pass, as
    /// `Sequential` runs them: the same values as the three layers. Nil while a trace records, which
    /// needs the layers apart.
    func forwardFused(_ input: Variable, maxPool2x2: Bool) throws -> Variable? {
        guard Tape.recorder == nil, fuses else { return nil }
        return Variable(try convolve(input.value, relu: true, maxPool2x2: maxPool2x2))
    }

    /// Pooling the sums first gives the layers' values because requantising is nondecreasing and
    /// makes no NaN of a number; an infinite bias (a huge scale times a sum can overflow, and
    /// inf − inf is NaN) breaks that, so such a layer runs apart.
    var fuses: Bool { !weights.offsets.contains(where: \.isInfinite) }

    /// Whether a layer whose weights have a direct packing (`Int8Weights.direct`) uses it; tests
    /// turn it off to run the unfolding on a CPU that has both.
    nonisolated(unsafe) static var convolvesDirectly = true

    /// What one call convolves: the input's images and the window over them, and the output's shape
    /// (pooled when asked), checked as the layers apart check them.
    struct Plan {
        let images: Int
        let channels: Int
        let window: Window2D
        let outputShape: [Int]
        var outputCount: Int { outputShape.reduce(1, *) }
    }

    func plan(_ shape: [Int], maxPool2x2: Bool) throws -> Plan {
        let (n, c, h, wd) = try Tensor.imageDimensions(of: shape, op: "conv2d")
        guard weights.shape[1] == c else {
            throw TensorError(
                .shape,
                "conv2d", "int8 weight \(formatShape(weights.shape)) does not match input \(formatShape(shape))")
        }
        let window = try Window2D(
            kernel: (weights.shape[2], weights.shape[3]), stride: stride, padding: padding, height: h, width: wd,
            op: "conv2d")
        var outputShape = try window.outputShape(images: n, channels: weights.outputs, op: "conv2d")
        if maxPool2x2 {
            // Checked as the pooling layer checks it: the same error for an output too small to pool.
            let pool = try Window2D(
                kernel: (2, 2), stride: 2, padding: 0, height: window.outputHeight, width: window.outputWidth,
                op: "max_pool2d")
            outputShape = [n, weights.outputs, pool.outputHeight, pool.outputWidth]
        }
        return Plan(images: n, channels: c, window: window, outputShape: outputShape)
    }

    /// The float input quantised onto this layer's grid, channels last (the caller deallocates it).
    func quantizedChannelsLast(_ x: UnsafeBufferPointer<Float>, _ plan: Plan) -> UnsafeMutablePointer<UInt8> {
        let q = UnsafeMutablePointer<UInt8>.allocate(capacity: Swift.max(x.count, 1))
        Int8Kernel.quantizeChannelsLast(
            x, channels: plan.channels, area: plan.window.inputHeight * plan.window.inputWidth,
            inverse: 1 / weights.input.scale, zero: weights.input.zeroPoint, into: q)
        return q
    }

    private func convolve(_ x: Tensor, relu: Bool, maxPool2x2: Bool) throws -> Tensor {
        let plan = try plan(x.shape, maxPool2x2: maxPool2x2)
        return x.withUnsafeBufferPointer { px in
            Tensor(shape: plan.outputShape) { po in
                guard let output = po.baseAddress else { return }
                let q = quantizedChannelsLast(px, plan)
                defer { q.deallocate() }
                convolve(q, plan, relu: relu, maxPool2x2: maxPool2x2, into: .floats(output))
            }
        }
    }

    /// Quantised channels-last images `q` convolved, requantised (with ReLU and the pool when asked)
    /// into `output`, directly where the weights have a direct packing, unfolded otherwise.
    func convolve(
        _ q: UnsafePointer<UInt8>, _ plan: Plan, relu: Bool, maxPool2x2: Bool, into output: Int8Output
    ) {
        if let direct = weights.direct, Self.convolvesDirectly {
            convolveDirectly(q, direct, plan, relu: relu, maxPool2x2: maxPool2x2, into: output)
        } else {
            convolveUnfolded(q, plan, relu: relu, maxPool2x2: maxPool2x2, into: output)
        }
    }

    /// Image by image (over Parallel's threads) with `Int8Kernel.convolveDirectly`, then requantised
    /// (and pooled) as the unfolding's sums are: the same sums, so the same values.
    private func convolveDirectly(
        _ q: UnsafePointer<UInt8>, _ packed: [Int8], _ plan: Plan, relu: Bool, maxPool2x2: Bool,
        into output: Int8Output
    ) {
        let (window, n, c) = (plan.window, plan.images, plan.channels)
        let (h, wd, oh, ow) = (window.inputHeight, window.inputWidth, window.outputHeight, window.outputWidth)
        let (outputs, zero) = (weights.outputs, UInt8(weights.input.zeroPoint))
        let padded = (h + 2 * padding) * (wd + 2 * padding) * c + 4
        let cost = n * oh * ow * window.kernelHeight * window.kernelWidth * c * outputs / 64
        Parallel.forEach(n, cost: cost) { range in
            let image = UnsafeMutablePointer<UInt8>.allocate(capacity: Swift.max(padded, 1))
            let acc = UnsafeMutablePointer<Int32>.allocate(capacity: Swift.max(oh * ow * outputs, 1))
            defer {
                image.deallocate()
                acc.deallocate()
            }
            for i in range {
                Int8Kernel.padChannelsLast(q + i * h * wd * c, channels: c, window: window, zero: zero, into: image)
                let done = Int8Kernel.convolveDirectly(image, channels: c, window: window, packed, outputs: outputs, into: acc)
                assert(done, "Int8Weights.direct is packed only where the direct kernel runs")
                guard maxPool2x2 else {
                    weights.requantize(acc, positions: i * oh * ow..<(i + 1) * oh * ow, area: oh * ow, relu: relu, into: output)
                    continue
                }
                for row in 0..<(oh / 2) {
                    weights.requantizePooled(
                        acc + 2 * row * ow * outputs, image: i, row: row, width: ow, pooledHeight: oh / 2, relu: relu,
                        into: output)
                }
            }
        }
    }

    /// Unfolded (padding takes the zero point) into patches and multiplied by the packed weights, in
    /// blocks of output rows over Parallel's threads.
    private func convolveUnfolded(
        _ q: UnsafePointer<UInt8>, _ plan: Plan, relu: Bool, maxPool2x2: Bool, into output: Int8Output
    ) {
        let window = plan.window
        let (oh, ow) = (window.outputHeight, window.outputWidth)
        let patch = plan.channels * window.kernelHeight * window.kernelWidth
        let outputs = weights.outputs
        let zero = UInt8(weights.input.zeroPoint)
        // The unit of work: one output row, or the two a pooled row is made of (a last odd row,
        // which the pool drops, is not computed).
        let unitRows = maxPool2x2 ? 2 : 1
        let unitsPerImage = oh / unitRows
        let units = plan.images * unitsPerImage
        let unitPositions = unitRows * ow
        // Units in blocks whose patches (about 128 KB) stay in cache between unfolding and the
        // product; blocks write disjoint outputs, so they are shared out over Parallel's threads.
        let perBlock = Swift.max(1, Swift.min(units, (128 << 10) / Swift.max(patch * unitPositions, 1)))
        let blocks = (units + perBlock - 1) / perBlock
        Parallel.forEach(blocks, cost: units * unitPositions * patch * outputs / 64) { range in
            let rows = perBlock * unitPositions
            let columns = UnsafeMutablePointer<UInt8>.allocate(capacity: Swift.max(rows * patch, 1))
            let acc = UnsafeMutablePointer<Int32>.allocate(capacity: Swift.max(rows * outputs, 1))
            defer {
                columns.deallocate()
                acc.deallocate()
            }
            for index in range {
                let block = index * perBlock..<Swift.min((index + 1) * perBlock, units)
                let positions = block.count * unitPositions
                guard maxPool2x2 else {
                    Int8Kernel.im2col(q, channels: plan.channels, window: window, zero: zero, outputRows: block, into: columns)
                    Int8Kernel.gemm(columns, m: positions, weights.packed, into: acc)
                    let first = block.lowerBound * ow
                    weights.requantize(acc, positions: first..<first + positions, area: oh * ow, relu: relu, into: output)
                    continue
                }
                for (offset, unit) in block.enumerated() {
                    let row = (unit / unitsPerImage) * oh + (unit % unitsPerImage) * 2
                    Int8Kernel.im2col(
                        q, channels: plan.channels, window: window, zero: zero, outputRows: row..<row + 2,
                        into: columns + offset * unitPositions * patch)
                }
                Int8Kernel.gemm(columns, m: positions, weights.packed, into: acc)
                for (offset, unit) in block.enumerated() {
                    weights.requantizePooled(
                        acc + offset * unitPositions * outputs, image: unit / unitsPerImage, row: unit % unitsPerImage,
                        width: ow, pooledHeight: unitsPerImage, relu: relu, into: output)
                }
            }
        }
    }
}
