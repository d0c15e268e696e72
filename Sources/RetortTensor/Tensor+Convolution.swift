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
    /// Unfolds one image `[C, H, W]` (at `image`) into columns `[C·kh·kw, outH·outW]` for a GEMM.
    ///
    /// Rows are `rowStride` apart, so the images of a batch can fill side-by-side column blocks
    /// of one matrix `[C·kh·kw, N·outH·outW]` and share a single GEMM.
    static func im2col(
        _ image: UnsafePointer<Float>, channels: Int, window w: Window2D, into cols: UnsafeMutablePointer<Float>, rowStride: Int
    ) {
        let taps = w.kernelHeight * w.kernelWidth
        for c in 0..<channels {
            let plane = image + c * w.inputHeight * w.inputWidth
            let rows = cols + c * taps * rowStride
            for ky in 0..<w.kernelHeight {
                for kx in 0..<w.kernelWidth {
                    let row = rows + (ky * w.kernelWidth + kx) * rowStride
                    for oy in 0..<w.outputHeight {
                        let y = oy * w.stride - w.padding + ky
                        let dst = row + oy * w.outputWidth
                        if y < 0 || y >= w.inputHeight {
                            dst.update(repeating: 0, count: w.outputWidth)
                            continue
                        }
                        let src = plane + y * w.inputWidth
                        if w.stride == 1 {
                            // Output columns whose input column x = ox − padding + kx is inside the image.
                            let low = Swift.min(Swift.max(w.padding - kx, 0), w.outputWidth)
                            let high = Swift.max(Swift.min(w.inputWidth + w.padding - kx, w.outputWidth), low)
                            dst.update(repeating: 0, count: low)
                            (dst + low).update(from: src + (low - w.padding + kx), count: high - low)
                            (dst + high).update(repeating: 0, count: w.outputWidth - high)
                            continue
                        }
                        for ox in 0..<w.outputWidth {
                            let x = ox * w.stride - w.padding + kx
                            dst[ox] = (x >= 0 && x < w.inputWidth) ? src[x] : 0
                        }
                    }
                }
            }
        }
    }

    /// Folds columns back into an image, adding overlapping taps (the adjoint of `im2col`).
    static func col2im(
        _ cols: UnsafePointer<Float>, channels: Int, window w: Window2D, into image: UnsafeMutablePointer<Float>, rowStride: Int
    ) {
        let taps = w.kernelHeight * w.kernelWidth
        for c in 0..<channels {
            let plane = image + c * w.inputHeight * w.inputWidth
            let rows = cols + c * taps * rowStride
            for ky in 0..<w.kernelHeight {
                for kx in 0..<w.kernelWidth {
                    let row = rows + (ky * w.kernelWidth + kx) * rowStride
                    for oy in 0..<w.outputHeight {
                        let y = oy * w.stride - w.padding + ky
                        if y < 0 || y >= w.inputHeight { continue }
                        let src = row + oy * w.outputWidth
                        let dst = plane + y * w.inputWidth
                        if w.stride == 1 {
                            let low = Swift.min(Swift.max(w.padding - kx, 0), w.outputWidth)
                            let high = Swift.max(Swift.min(w.inputWidth + w.padding - kx, w.outputWidth), low)
                            let shifted = dst + (kx - w.padding)
                            for ox in low..<high { shifted[ox] += src[ox] }
                            continue
                        }
                        for ox in 0..<w.outputWidth {
                            let x = ox * w.stride - w.padding + kx
                            if x >= 0 && x < w.inputWidth { dst[x] += src[ox] }
                        }
                    }
                }
            }
        }
    }

    /// Checks a 4-D `[N, C, H, W]` input for `op`.
    public func imageDimensions(op: String) throws -> (n: Int, c: Int, h: Int, w: Int) {
        guard rank == 4 else {
            throw TensorError(.shape, op, "expected a 4-D input [N, C, H, W], got \(formatShape(shape))")
        }
        return (shape[0], shape[1], shape[2], shape[3])
    }

    /// 2-D convolution (cross-correlation, as in PyTorch) of `[N, C, H, W]` with `[O, C, kh, kw]`.
    ///
    /// The whole batch is unfolded into one column matrix `[C·kh·kw, N·outH·outW]` so the product
    /// is a single large GEMM. Returns the output and the columns, which the backward pass reuses.
    public static func conv2d(
        _ input: Tensor, weight: Tensor, bias: Tensor?, stride: Int, padding: Int
    ) throws -> (output: Tensor, columns: Tensor, window: Window2D) {
        let (n, c, h, wd) = try input.imageDimensions(op: "conv2d")
        guard weight.rank == 4, weight.shape[1] == c else {
            throw TensorError(
                .shape,
                "conv2d",
                "weight \(formatShape(weight.shape)) does not match input \(formatShape(input.shape)): expected [out, \(c), kh, kw]"
            )
        }
        let outChannels = weight.shape[0]
        if let bias, bias.shape != [outChannels] {
            throw TensorError(.shape, "conv2d", "bias \(formatShape(bias.shape)) does not match \(outChannels) output channels")
        }
        let window = try Window2D(
            kernel: (weight.shape[2], weight.shape[3]), stride: stride, padding: padding, height: h, width: wd, op: "conv2d")
        // The unfolded columns hold a patch per output position: checked, as the output is, before either is made.
        let outputShape = try window.outputShape(images: n, channels: outChannels, op: "conv2d")
        try MemoryBudget.check(
            "conv2d", [c * window.kernelHeight * window.kernelWidth, n, window.outputHeight, window.outputWidth])
        let area = window.outputHeight * window.outputWidth
        let patch = c * window.kernelHeight * window.kernelWidth
        let columns = input.withUnsafeBufferPointer { x in
            Tensor(shape: [patch, n * area]) { cols in
                // Each image fills its own columns.
                Parallel.forEach(n, cost: patch * n * area) { images in
                    for i in images {
                        im2col(
                            x.baseAddress! + i * c * h * wd, channels: c, window: window,
                            into: cols.baseAddress! + i * area, rowStride: n * area)
                    }
                }
            }
        }
        // [O, patch] @ [patch, N·area] = [O, N·area], then reordered to [N, O, area] with the bias.
        let product = weight.withUnsafeBufferPointer { wt in
            columns.withUnsafeBufferPointer { cols in
                Tensor(shape: [outChannels, n * area]) { out in
                    BLAS.gemm(
                        m: outChannels, n: n * area, k: patch, a: wt.baseAddress!, b: cols.baseAddress!, c: out.baseAddress!)
                }
            }
        }
        let biasValues = bias?.scalars ?? [Float](repeating: 0, count: outChannels)
        let output = product.withUnsafeBufferPointer { p in
            Tensor(shape: outputShape) { out in
                Parallel.forEach(n, cost: n * outChannels * area) { images in
                    for i in images {
                        for o in 0..<outChannels {
                            let src = p.baseAddress! + o * n * area + i * area
                            let dst = out.baseAddress! + (i * outChannels + o) * area
                            let b = biasValues[o]
                            for j in 0..<area { dst[j] = src[j] + b }
                        }
                    }
                }
            }
        }
        return (output, columns, window)
    }

    /// The gradients of `conv2d` for its input, weight and bias, from the output gradient.
    public static func conv2dBackward(
        gradient g: Tensor, input: Tensor, weight: Tensor, columns: Tensor, window: Window2D, needsInput: Bool
    ) -> (input: Tensor?, weight: Tensor, bias: Tensor) {
        let (n, c, h, wd) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
        let outChannels = weight.shape[0]
        let area = window.outputHeight * window.outputWidth
        let patch = c * window.kernelHeight * window.kernelWidth
        // dY [N, O, area] reordered to [O, N·area], the layout of the forward product.
        var gradBias = Tensor.zeros([outChannels])
        let dy = g.withUnsafeBufferPointer { gy in
            gradBias.withUnsafeMutableBufferPointer { gb in
                Tensor(shape: [outChannels, n * area]) { out in
                    // Channel by channel, summing each bias gradient as its values are copied.
                    Parallel.forEach(outChannels, cost: outChannels * n * area) { channels in
                        for o in channels {
                            var total: Float = 0
                            for i in 0..<n {
                                let src = gy.baseAddress! + (i * outChannels + o) * area
                                let dst = out.baseAddress! + o * n * area + i * area
                                for j in 0..<area {
                                    dst[j] = src[j]
                                    total += src[j]
                                }
                            }
                            gb[o] = total
                        }
                    }
                }
            }
        }
        let gradWeight = dy.withUnsafeBufferPointer { d in
            columns.withUnsafeBufferPointer { cols in
                Tensor(shape: weight.shape) { gw in
                    // dW = dY [O, N·area] @ colsᵀ [N·area, patch]
                    BLAS.gemm(
                        m: outChannels, n: patch, k: n * area, a: d.baseAddress!, b: cols.baseAddress!, transposeB: true,
                        c: gw.baseAddress!)
                }
            }
        }
        guard needsInput else { return (nil, gradWeight, gradBias) }
        var gradInput = Tensor.zeros(input.shape)
        dy.withUnsafeBufferPointer { d in
            weight.withUnsafeBufferPointer { wt in
                // dcols = Wᵀ [patch, O] @ dY [O, N·area], folded back into each image.
                let dcols = Tensor(shape: [patch, n * area]) { s in
                    BLAS.gemm(
                        m: patch, n: n * area, k: outChannels, a: wt.baseAddress!, transposeA: true, b: d.baseAddress!,
                        c: s.baseAddress!)
                }
                dcols.withUnsafeBufferPointer { s in
                    gradInput.withUnsafeMutableBufferPointer { gx in
                        // Each image gathers into its own gradient.
                        Parallel.forEach(n, cost: patch * n * area) { images in
                            for i in images {
                                col2im(
                                    s.baseAddress! + i * area, channels: c, window: window,
                                    into: gx.baseAddress! + i * c * h * wd, rowStride: n * area)
                            }
                        }
                    }
                }
            }
        }
        return (gradInput, gradWeight, gradBias)
    }

    /// 2-D max pooling; also returns, for each output, the flat input offset it came from.
    public static func maxPool2d(_ input: Tensor, kernel: Int, stride: Int, padding: Int) throws -> (
        output: Tensor, argmax: [Int32]
    ) {
        let (n, c, h, wd) = try input.imageDimensions(op: "max_pool2d")
        guard padding <= kernel / 2 else {
            throw TensorError(.argument, "max_pool2d", "padding \(padding) must be at most half the kernel size \(kernel)")
        }
        let window = try Window2D(
            kernel: (kernel, kernel), stride: stride, padding: padding, height: h, width: wd, op: "max_pool2d")
        _ = try window.outputShape(images: n, channels: c, op: "max_pool2d")
        let area = window.outputHeight * window.outputWidth
        var argmax = [Int32](repeating: 0, count: n * c * area)
        let (outH, outW, imageArea) = (window.outputHeight, window.outputWidth, h * wd)
        let output = input.withUnsafeBufferPointer { xb in
            Tensor(shape: [n, c, outH, outW]) { ob in
                argmax.withUnsafeMutableBufferPointer { ab in
                    let (x, out, arg) = (xb.baseAddress!, ob.baseAddress!, ab.baseAddress!)
                    if kernel == 2, stride == 2, padding == 0 {
                        Parallel.forEach(n * c, cost: n * c * area * 4) { planes in
                            maxPool2x2(x, planes: planes, height: h, width: wd, into: out, argmax: arg)
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
        return (output, argmax)
    }

    /// Max pooling over 2×2 windows with stride 2 and no padding, the common case, without the
    /// general loop's bookkeeping: four loads and three compare-and-selects per output, same result
    /// (the first of equal values wins; a NaN wins and is never hidden). Does the planes in `planes`.
    static func maxPool2x2(
        _ x: UnsafePointer<Float>, planes: Range<Int>, height h: Int, width w: Int, into out: UnsafeMutablePointer<Float>,
        argmax arg: UnsafeMutablePointer<Int32>
    ) {
        let (outH, outW) = (h / 2, w / 2)
        for plane in planes {
            let base = plane * h * w
            for oy in 0..<outH {
                let r0 = base + 2 * oy * w
                let r1 = r0 + w
                let o = plane * outH * outW + oy * outW
                // Four outputs at a time: each row's eight inputs split into even and odd columns, the
                // same three compare-and-selects per lane as the scalar loop below, which takes the rest.
                var ox = 0
                while ox + 4 <= outW {
                    let top = r0 + 2 * ox, bottom = r1 + 2 * ox
                    let upper = UnsafeRawPointer(x + top).loadUnaligned(as: SIMD8<Float>.self)
                    let lower = UnsafeRawPointer(x + bottom).loadUnaligned(as: SIMD8<Float>.self)
                    let lanes = SIMD4<Int32>(0, 2, 4, 6)
                    var best = upper.evenHalf
                    var offset = SIMD4<Int32>(repeating: Int32(top)) &+ lanes
                    // Written out three times: a loop over an array of the taps allocated per step.
                    var v = upper.oddHalf
                    var better = (v .> best) .^ (v .!= v)
                    best.replace(with: v, where: better)
                    offset.replace(with: SIMD4(repeating: Int32(top + 1)) &+ lanes, where: better)
                    v = lower.evenHalf
                    better = (v .> best) .^ (v .!= v)
                    best.replace(with: v, where: better)
                    offset.replace(with: SIMD4(repeating: Int32(bottom)) &+ lanes, where: better)
                    v = lower.oddHalf
                    better = (v .> best) .^ (v .!= v)
                    best.replace(with: v, where: better)
                    offset.replace(with: SIMD4(repeating: Int32(bottom + 1)) &+ lanes, where: better)
                    UnsafeMutableRawPointer(out + o + ox).storeBytes(of: best, as: SIMD4<Float>.self)
                    UnsafeMutableRawPointer(arg + o + ox).storeBytes(of: offset, as: SIMD4<Int32>.self)
                    ox += 4
                }
                while ox < outW {
                    let (top, bottom) = (r0 + 2 * ox, r1 + 2 * ox)
                    var offset = top
                    var best = x[top]
                    for candidate in [top + 1, bottom, bottom + 1] {
                        let v = x[candidate]
                        let better = (v > best) != (v != v)
                        best = better ? v : best
                        offset = better ? candidate : offset
                    }
                    out[o + ox] = best
                    arg[o + ox] = Int32(offset)
                    ox += 1
                }
            }
        }
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
