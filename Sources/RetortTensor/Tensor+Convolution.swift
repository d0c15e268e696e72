/// The geometry of a 2-D window sliding over an image: kernel, stride, padding and output size.
public struct Window2D: Equatable, Sendable {
    public let kernelHeight, kernelWidth, stride, padding: Int
    public let inputHeight, inputWidth: Int
    public var outputHeight: Int { (inputHeight + 2 * padding - kernelHeight) / stride + 1 }
    public var outputWidth: Int { (inputWidth + 2 * padding - kernelWidth) / stride + 1 }

    /// Validates a window over an input of `height×width`, naming `op` in errors.
    public init(kernel: (Int, Int), stride: Int, padding: Int, height: Int, width: Int, op: String) throws {
        guard kernel.0 > 0, kernel.1 > 0, stride > 0, padding >= 0 else {
            throw TensorError(
                .argument,
                op,
                "kernel and stride must be positive and padding non-negative (kernel \(kernel.0)×\(kernel.1), stride \(stride), padding \(padding))"
            )
        }
        // Sizes from a user's numbers (padding: 1e12) are added without overflow; `outputShape` then checks
        // the output against the memory budget before any op allocates it.
        guard let paddedHeight = Self.padded(height, padding), let paddedWidth = Self.padded(width, padding) else {
            throw TensorError(.budget, op, "padding \(padding) makes the padded input larger than memory can address")
        }
        guard paddedHeight >= kernel.0, paddedWidth >= kernel.1 else {
            throw TensorError(
                .shape,
                op, "kernel \(kernel.0)×\(kernel.1) is larger than the padded input \(paddedHeight)×\(paddedWidth)")
        }
        kernelHeight = kernel.0
        kernelWidth = kernel.1
        self.stride = stride
        self.padding = padding
        inputHeight = height
        inputWidth = width
    }

    /// `size + 2 * padding`, or nil when that overflows.
    private static func padded(_ size: Int, _ padding: Int) -> Int? {
        let (twice, overflow) = padding.multipliedReportingOverflow(by: 2)
        let (sum, overflow2) = size.addingReportingOverflow(twice)
        return overflow || overflow2 ? nil : sum
    }

    /// The shape `[n, channels, outputHeight, outputWidth]` of the output for `n` images of
    /// `channels`, checked against the memory budget before anything is allocated.
    public func outputShape(images n: Int, channels: Int, op: String) throws -> [Int] {
        let shape = [n, channels, outputHeight, outputWidth]
        try MemoryBudget.check(op, shape)
        return shape
    }

    /// Calls `body(plane offset of the output, input offset)` for every in-bounds tap of one plane;
    /// taps that fall on padding are skipped.
    @inline(__always)
    func forEachTap(_ body: (_ output: Int, _ input: Int) -> Void) {
        for oy in 0..<outputHeight {
            let y0 = oy * stride - padding
            for ox in 0..<outputWidth {
                let x0 = ox * stride - padding
                let o = oy * outputWidth + ox
                for y in Swift.max(y0, 0)..<Swift.min(y0 + kernelHeight, inputHeight) {
                    for x in Swift.max(x0, 0)..<Swift.min(x0 + kernelWidth, inputWidth) {
                        body(o, y * inputWidth + x)
                    }
                }
            }
        }
    }
}

extension Tensor {
    /// Checks a 4-D `[N, C, H, W]` input for `op`.
    public func imageDimensions(op: String) throws -> (n: Int, c: Int, h: Int, w: Int) {
        try Self.imageDimensions(of: shape, op: op)
    }

    /// Checks that `shape` is a 4-D `[N, C, H, W]` input for `op` (for a layer planning from a
    /// shape before any tensor of it exists).
    public static func imageDimensions(of shape: [Int], op: String) throws -> (n: Int, c: Int, h: Int, w: Int) {
        guard shape.count == 4 else {
            throw TensorError(.shape, op, "expected a 4-D input [N, C, H, W], got \(formatShape(shape))")
        }
        return (shape[0], shape[1], shape[2], shape[3])
    }

    /// 2-D convolution (cross-correlation, as in PyTorch) of `[N, C, H, W]` with `[O, C, kh, kw]`,
    /// for training: a few images at a time (`Convolution`), each chunk unfolded into a buffer that
    /// stays in cache and multiplied there. Nothing unfolded is kept: the backward pass unfolds each
    /// chunk again, which costs less than writing the whole batch's columns to memory and reading
    /// them back twice. With `relu`, ReLU as the bias is added: the same values as `relu()` on the
    /// output, without a second pass over it.
    public static func conv2d(
        _ input: Tensor, weight: Tensor, bias: Tensor?, stride: Int, padding: Int, relu: Bool = false
    ) throws -> (output: Tensor, window: Window2D) {
        let conv = try Convolution(input: input, weight: weight, bias: bias, stride: stride, padding: padding)
        let (patch, area, perChunk) = (conv.patch, conv.area, conv.imagesPerChunk)
        // One chunk's unfolded columns: checked, as the output is, before either is made.
        try MemoryBudget.check("conv2d", [patch, perChunk, conv.window.outputHeight, conv.window.outputWidth])
        let biasValues = bias?.scalars ?? [Float](repeating: 0, count: conv.outChannels)
        let columnsSize = patch * perChunk * area
        let output = input.withUnsafeBufferPointer { x in
            weight.withUnsafeBufferPointer { w in
                Tensor(shape: conv.outputShape) { out in
                    conv.forEachChunk(scratch: columnsSize + conv.outChannels * perChunk * area) {
                        _, first, count, buffer in
                        conv.run(
                            x.baseAddress!, weight: w.baseAddress!, bias: biasValues, relu: relu, first: first,
                            count: count,
                            columns: buffer, product: buffer + columnsSize, into: out.baseAddress!, at: first)
                    }
                }
            }
        }
        return (output, conv.window)
    }

    /// The same convolution for inference, with no columns kept: a few images at a time through one
    /// buffer per thread, channels last (`Convolution.multiplyChannelsLast`: the same values as
    /// `conv2d` up to the order of the sums). `relu` applies ReLU as the bias is added: the same
    /// values as `relu()` on the output (NaN passes through, as there) without a second pass over it.
    /// `maxPool2x2` then pools each chunk's output over 2×2 windows, stride 2, while it is still in
    /// cache, and returns the pooled `[N, O, outH / 2, outW / 2]`: the same values as
    /// `maxPool2d(kernel: 2)` on the output.
    public static func conv2dInference(
        _ input: Tensor, weight: Tensor, bias: Tensor?, stride: Int, padding: Int, relu: Bool = false,
        maxPool2x2: Bool = false
    ) throws -> Tensor {
        let conv = try Convolution(input: input, weight: weight, bias: bias, stride: stride, padding: padding)
        return try conv2dInference(input, conv, weight: weight, bias: bias, relu: relu, maxPool2x2: maxPool2x2)
    }

    /// Whether inference convolves a layer of few taps (kh·kw·C, fewer than 4 channels; at most 16
    /// with AVX-512, 9 with AVX2) directly, each tap's weights in a register (`ImageKernels.convolvesFewTaps`); off,
    /// it unfolds channels first for a GEMM (`retort bench --ab few-taps`).
    nonisolated(unsafe) public static var convolvesFewTapsDirectly = true

    /// `conv2dInference` by a convolution already checked, whose input `input` is channels first
    /// or, when `conv.paddedInput`, padded channels last. With `outputPadding`, the output is left
    /// padded channels last for a next convolution (`[N, outH + 2p, outW + 2p, O]`, pooled sizes when
    /// pooled); the caller makes sure no bias is infinite then (the pool goes first).
    static func conv2dInference(
        _ input: Tensor, _ conv: Convolution, weight: Tensor, bias: Tensor?, relu: Bool, maxPool2x2: Bool,
        outputPadding: Int? = nil
    ) throws -> Tensor {
        var conv = conv
        conv.evenChunks = conv.method == .direct
        let (patch, area, perChunk, outChannels) = (conv.patch, conv.area, conv.imagesPerChunk, conv.outChannels)
        try MemoryBudget.check("conv2d", [patch, perChunk, conv.window.outputHeight, conv.window.outputWidth])
        let biasValues = bias?.scalars ?? [Float](repeating: 0, count: outChannels)
        let (oh, ow) = (conv.window.outputHeight, conv.window.outputWidth)
        var shape = maxPool2x2 ? [conv.images, outChannels, oh / 2, ow / 2] : conv.outputShape
        if let p = outputPadding { shape = [shape[0], shape[2] + 2 * p, shape[3] + 2 * p, outChannels] }
        // The pool's window checked as the pooling layer checks it: the same error for an image too small.
        if maxPool2x2 { _ = try Window2D(kernel: (2, 2), stride: 2, padding: 0, height: oh, width: ow, op: "max_pool2d") }
        let pooledArea = (oh / 2) * (ow / 2)
        let outputArea = maxPool2x2 ? pooledArea : area
        return input.withUnsafeBufferPointer { x in
            let weights = weight.withUnsafeBufferPointer { conv.channelsLastWeights($0.baseAddress!) }
            return Tensor(shape: shape) { out in
                // Without an infinite bias the pool goes first and the bias and ReLU touch a quarter of
                // the values: the same floats, as adding a bias that is finite (rounded) or NaN, and
                // ReLU, never reorder two values nor make a NaN of a number; an infinite bias could
                // (-inf + inf), so then the bias goes first, channels first, and the pool after.
                let poolsFirst = !biasValues.contains { $0.isInfinite }
                let productSize = outChannels * perChunk * area
                // A second product-sized buffer for the pool's output, unless the pool writes
                // straight into the next convolution's padded image.
                let poolsApart = maxPool2x2 && (outputPadding == nil || !poolsFirst)
                let scratch = conv.channelsLastScratch + productSize * (poolsApart ? 2 : 1)
                conv.forEachChunk(scratch: scratch) { _, first, count, buffer in
                    let product = buffer + conv.channelsLastScratch
                    let pooled = product + productSize
                    conv.multiplyChannelsLast(
                        x.baseAddress!, weight: weights, first: first, count: count, scratch: buffer, product: product)
                    if maxPool2x2, !poolsFirst {
                        for i in 0..<count {
                            ImageKernels.toChannelsFirst(
                                product + i * area * outChannels, area: area, channels: outChannels, bias: biasValues,
                                relu: relu, into: pooled + i * outChannels * area)
                        }
                        return ImageKernels.maxPool2x2(
                            pooled, planes: 0..<(count * outChannels), height: oh, width: ow,
                            into: out.baseAddress! + first * outChannels * pooledArea, argmax: nil)
                    }
                    if maxPool2x2, let p = outputPadding {
                        let paddedSize = (oh / 2 + 2 * p) * (ow / 2 + 2 * p) * outChannels
                        for i in 0..<count {
                            ImageKernels.poolFinishChannelsLast(
                                product + i * area * outChannels, height: oh, width: ow, channels: outChannels,
                                bias: biasValues, relu: relu, padding: p, into: out.baseAddress! + (first + i) * paddedSize)
                        }
                        return
                    }
                    if maxPool2x2 {
                        ImageKernels.maxPool2x2ChannelsLast(
                            product, images: count, height: oh, width: ow, channels: outChannels, into: pooled)
                    }
                    let result = maxPool2x2 ? pooled : product
                    if let p = outputPadding {
                        let (height, width) = maxPool2x2 ? (oh / 2, ow / 2) : (oh, ow)
                        let paddedSize = (height + 2 * p) * (width + 2 * p) * outChannels
                        for i in 0..<count {
                            ImageKernels.finishChannelsLast(
                                result + i * outputArea * outChannels, height: height, width: width,
                                channels: outChannels, bias: biasValues, relu: relu, padding: p,
                                into: out.baseAddress! + (first + i) * paddedSize)
                        }
                        return
                    }
                    for i in 0..<count {
                        ImageKernels.toChannelsFirst(
                            result + i * outputArea * outChannels, area: outputArea, channels: outChannels,
                            bias: biasValues, relu: relu, into: out.baseAddress! + (first + i) * outChannels * outputArea)
                    }
                }
            }
        }
    }

    /// About how many floats of unfolded columns a convolution fills before each GEMM: 256 KB,
    /// within the L2 cache of a core on the machines we measure. Measured on infer-cnn-28x28/b64:
    /// 64 KB to 4 MB at one thread, 64 KB to 1 MB at two; 256 KB best at both.
    static let chunkFloats = 1 << 16

    /// The gradients of `conv2d` for its input, weight and bias, from the output gradient, chunk by
    /// chunk as the forward pass went, each chunk unfolded again; each chunk's weight and bias
    /// gradients are added up in chunk order, so the sums are the same at any thread count. With
    /// `reluOutput`, the output of `conv2d(..., relu: true)`, ReLU's backward first, as each chunk's
    /// gradient is read (the same values as `relu()`'s backward before it).
    public static func conv2dBackward(
        gradient g: Tensor, reluOutput: Tensor? = nil, input: Tensor, weight: Tensor, window: Window2D,
        needsInput: Bool
    ) -> (input: Tensor?, weight: Tensor, bias: Tensor) {
        let conv = Convolution(input: input.shape, outChannels: weight.shape[0], window: window)
        let (outChannels, patch, area, perChunk) = (conv.outChannels, conv.patch, conv.area, conv.imagesPerChunk)
        var weightParts = [Float](repeating: 0, count: conv.chunks * outChannels * patch)
        var biasParts = [Float](repeating: 0, count: conv.chunks * outChannels)
        var gradInput: Tensor?
        let (dyCount, columnsCount) = (outChannels * perChunk * area, patch * perChunk * area)
        precondition(reluOutput.map { $0.shape == g.shape } ?? true, "conv2dBackward: the ReLU output's shape is the gradient's")
        // The ReLU output when there is one; otherwise g stands in and is never read as a mask.
        let (mask, hasMask) = (reluOutput ?? g, reluOutput != nil)
        g.withUnsafeBufferPointer { gy in
            mask.withUnsafeBufferPointer { pm in
                weight.withUnsafeBufferPointer { w in
                    input.withUnsafeBufferPointer { x in
                        weightParts.withUnsafeMutableBufferPointer { wp in
                            biasParts.withUnsafeMutableBufferPointer { bp in
                                let scratch = dyCount + columnsCount * (needsInput ? 2 : 1)
                                func chunks(_ gx: UnsafeMutablePointer<Float>?) {
                                    conv.forEachChunk(scratch: scratch) { chunk, first, count, buffer in
                                        conv.backward(
                                            gy.baseAddress!, reluOutput: hasMask ? pm.baseAddress! : nil,
                                            input: x.baseAddress!, weight: w.baseAddress!, first: first,
                                            count: count, dy: buffer, columns: buffer + dyCount,
                                            biasGradient: bp.baseAddress! + chunk * outChannels,
                                            weightGradient: wp.baseAddress! + chunk * outChannels * patch,
                                            dcolumns: buffer + dyCount + columnsCount, inputGradient: gx)
                                    }
                                }
                                guard needsInput else { return chunks(nil) }
                                var gx = Tensor.zeros(input.shape)
                                gx.withUnsafeMutableBufferPointer { chunks($0.baseAddress!) }
                                gradInput = gx
                            }
                        }
                    }
                }
            }
        }
        // Each gradient summed over the chunks in chunk order, a whole chunk's part at a time.
        func total(_ parts: [Float], _ count: Int, shape: [Int]) -> Tensor {
            var sum = Tensor.zeros(shape)
            sum.withUnsafeMutableBufferPointer { out in
                for chunk in 0..<conv.chunks {
                    for k in 0..<count { out[k] += parts[chunk * count + k] }
                }
            }
            return sum
        }
        let gradWeight = total(weightParts, outChannels * patch, shape: weight.shape)
        let gradBias = total(biasParts, outChannels, shape: [outChannels])
        return (gradInput, gradWeight, gradBias)
    }

    /// 2-D max pooling; also returns, for each output, the flat input offset it came from, which
    /// the backward pass needs. Without `keepsArgmax` the 2×2 stride-2 case skips those offsets and
    /// returns nil for them (inference); every other window returns them either way.
    public static func maxPool2d(_ input: Tensor, kernel: Int, stride: Int, padding: Int, keepsArgmax: Bool = true)
        throws -> (output: Tensor, argmax: [Int32]?)
    {
        let (n, c, h, wd) = try input.imageDimensions(op: "max_pool2d")
        guard padding <= kernel / 2 else {
            throw TensorError(.argument, "max_pool2d", "padding \(padding) must be at most half the kernel size \(kernel)")
        }
        let window = try Window2D(
            kernel: (kernel, kernel), stride: stride, padding: padding, height: h, width: wd, op: "max_pool2d")
        _ = try window.outputShape(images: n, channels: c, op: "max_pool2d")
        let area = window.outputHeight * window.outputWidth
        let twoByTwo = kernel == 2 && stride == 2 && padding == 0
        var argmax = [Int32](repeating: 0, count: keepsArgmax || !twoByTwo ? n * c * area : 1)
        let (outH, outW, imageArea) = (window.outputHeight, window.outputWidth, h * wd)
        let output = input.withUnsafeBufferPointer { xb in
            Tensor(shape: [n, c, outH, outW]) { ob in
                argmax.withUnsafeMutableBufferPointer { ab in
                    let (x, out, arg) = (xb.baseAddress!, ob.baseAddress!, ab.baseAddress!)
                    if twoByTwo {
                        Parallel.forEach(n * c, cost: n * c * area * 4) { planes in
                            ImageKernels.maxPool2x2(
                                x, planes: planes, height: h, width: wd, into: out, argmax: keepsArgmax ? arg : nil)
                        }
                        return
                    }
                    Parallel.forEach(n * c, cost: n * c * area * kernel * kernel) { planes in
                        for plane in planes {
                            let base = plane * imageArea
                            for oy in 0..<outH {
                                let y0 = oy * stride - padding
                                let (yLow, yHigh) = (Swift.max(y0, 0), Swift.min(y0 + kernel, h))
                                for ox in 0..<outW {
                                    let x0 = ox * stride - padding
                                    let (xLow, xHigh) = (Swift.max(x0, 0), Swift.min(x0 + kernel, wd))
                                    var bestOffset = base + yLow * wd + xLow
                                    var best = x[bestOffset]
                                    var y = yLow
                                    while y < yHigh {
                                        let row = base + y * wd
                                        var xi = xLow
                                        while xi < xHigh {
                                            let v = x[row + xi]
                                            // A larger value, or a NaN (never hidden, as in PyTorch); selects, not
                                            // branches, because which tap wins is unpredictable.
                                            // `!=` on the two tests, not `||`: no short-circuit branch
                                            // (a NaN is never larger, so the two cannot both hold).
                                            let better = (v > best) != (v != v)
                                            best = better ? v : best
                                            bestOffset = better ? row + xi : bestOffset
                                            xi += 1
                                        }
                                        y += 1
                                    }
                                    let o = plane * outH * outW + oy * outW + ox
                                    out[o] = best
                                    arg[o] = Int32(bestOffset)
                                }
                            }
                        }
                    }
                }
            }
        }
        return (output, keepsArgmax || !twoByTwo ? argmax : nil)
    }

    /// 2-D average pooling; padding counts as zeros in the average (PyTorch's `count_include_pad`).
    public static func avgPool2d(_ input: Tensor, kernel: Int, stride: Int, padding: Int) throws -> (
        output: Tensor, window: Window2D
    ) {
        let (n, c, h, wd) = try input.imageDimensions(op: "avg_pool2d")
        guard padding <= kernel / 2 else {
            throw TensorError(.argument, "avg_pool2d", "padding \(padding) must be at most half the kernel size \(kernel)")
        }
        let window = try Window2D(
            kernel: (kernel, kernel), stride: stride, padding: padding, height: h, width: wd, op: "avg_pool2d")
        let outputShape = try window.outputShape(images: n, channels: c, op: "avg_pool2d")
        let area = window.outputHeight * window.outputWidth
        let scale = 1 / Float(window.kernelHeight) / Float(window.kernelWidth)
        let output = input.withUnsafeBufferPointer { x in
            Tensor(shape: outputShape) { out in
                out.update(repeating: 0)
                for plane in 0..<(n * c) {
                    window.forEachTap { o, offset in out[plane * area + o] += x[plane * h * wd + offset] * scale }
                }
            }
        }
        return (output, window)
    }

    /// The adjoint of `avgPool2d`: each output gradient spread evenly over its window.
    public static func avgPool2dBackward(gradient g: Tensor, inputShape: [Int], window: Window2D) -> Tensor {
        let planes = inputShape[0] * inputShape[1]
        let area = window.outputHeight * window.outputWidth
        let imageArea = inputShape[2] * inputShape[3]
        let scale = 1 / Float(window.kernelHeight * window.kernelWidth)
        var result = Tensor.zeros(inputShape)
        result.withUnsafeMutableBufferPointer { gx in
            g.withUnsafeBufferPointer { gy in
                for plane in 0..<planes {
                    window.forEachTap { o, offset in gx[plane * imageArea + offset] += gy[plane * area + o] * scale }
                }
            }
        }
        return result
    }
}
