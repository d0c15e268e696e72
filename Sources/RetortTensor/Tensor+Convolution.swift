/// The geometry of a 2-D window sliding over an image: kernel, stride, padding and output size.
public struct Window2D: Equatable, Sendable {
    public let kernelHeight, kernelWidth, stride, padding: Int
    public let inputHeight, inputWidth: Int
    public var outputHeight: Int { (inputHeight + 2 * padding - kernelHeight) / stride + 1 }
    public var outputWidth: Int { (inputWidth + 2 * padding - kernelWidth) / stride + 1 }

    /// Validates a window over an input of `height×width`, naming `op` in errors.
    public init(kernel: (Int, Int), stride: Int, padding: Int, height: Int, width: Int, op: String) throws {
        guard kernel.0 > 0, kernel.1 > 0, stride > 0, padding >= 0 else {
            throw TensorError(op, "kernel and stride must be positive and padding non-negative (kernel \(kernel.0)×\(kernel.1), stride \(stride), padding \(padding))")
        }
        guard height + 2 * padding >= kernel.0, width + 2 * padding >= kernel.1 else {
            throw TensorError(op, "kernel \(kernel.0)×\(kernel.1) is larger than the padded input \(height + 2 * padding)×\(width + 2 * padding)")
        }
        kernelHeight = kernel.0
        kernelWidth = kernel.1
        self.stride = stride
        self.padding = padding
        inputHeight = height
        inputWidth = width
    }

    /// Calls `body(outputPosition, kernelPosition, inputOffset?)` for every tap; nil input is padding.
    @inlinable
    func forEachTap(_ body: (Int, Int, Int?) -> Void) {
        for oy in 0..<outputHeight {
            for ox in 0..<outputWidth {
                let o = oy * outputWidth + ox
                for ky in 0..<kernelHeight {
                    let y = oy * stride - padding + ky
                    for kx in 0..<kernelWidth {
                        let x = ox * stride - padding + kx
                        let inside = y >= 0 && y < inputHeight && x >= 0 && x < inputWidth
                        body(o, ky * kernelWidth + kx, inside ? y * inputWidth + x : nil)
                    }
                }
            }
        }
    }
}

extension Tensor {
    /// Unfolds one image `[C, H, W]` (at `image`) into columns `[C·kh·kw, outH·outW]` for a GEMM.
    static func im2col(
        _ image: UnsafePointer<Float>, channels: Int, window w: Window2D, into cols: UnsafeMutablePointer<Float>
    ) {
        let outArea = w.outputHeight * w.outputWidth
        let taps = w.kernelHeight * w.kernelWidth
        for c in 0..<channels {
            let plane = image + c * w.inputHeight * w.inputWidth
            let rows = cols + c * taps * outArea
            for ky in 0..<w.kernelHeight {
                for kx in 0..<w.kernelWidth {
                    let row = rows + (ky * w.kernelWidth + kx) * outArea
                    for oy in 0..<w.outputHeight {
                        let y = oy * w.stride - w.padding + ky
                        let dst = row + oy * w.outputWidth
                        if y < 0 || y >= w.inputHeight {
                            dst.update(repeating: 0, count: w.outputWidth)
                            continue
                        }
                        let src = plane + y * w.inputWidth
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
        _ cols: UnsafePointer<Float>, channels: Int, window w: Window2D, into image: UnsafeMutablePointer<Float>
    ) {
        let outArea = w.outputHeight * w.outputWidth
        let taps = w.kernelHeight * w.kernelWidth
        for c in 0..<channels {
            let plane = image + c * w.inputHeight * w.inputWidth
            let rows = cols + c * taps * outArea
            for ky in 0..<w.kernelHeight {
                for kx in 0..<w.kernelWidth {
                    let row = rows + (ky * w.kernelWidth + kx) * outArea
                    for oy in 0..<w.outputHeight {
                        let y = oy * w.stride - w.padding + ky
                        if y < 0 || y >= w.inputHeight { continue }
                        let src = row + oy * w.outputWidth
                        let dst = plane + y * w.inputWidth
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
    func imageDimensions(op: String) throws -> (n: Int, c: Int, h: Int, w: Int) {
        guard rank == 4 else {
            throw TensorError(op, "expected a 4-D input [N, C, H, W], got \(formatShape(shape))")
        }
        return (shape[0], shape[1], shape[2], shape[3])
    }

    /// 2-D convolution (cross-correlation, as in PyTorch) of `[N, C, H, W]` with `[O, C, kh, kw]`.
    ///
    /// Returns the output and the unfolded columns, which the backward pass reuses.
    public static func conv2d(
        _ input: Tensor, weight: Tensor, bias: Tensor?, stride: Int, padding: Int
    ) throws -> (output: Tensor, columns: Tensor, window: Window2D) {
        let (n, c, h, wd) = try input.imageDimensions(op: "conv2d")
        guard weight.rank == 4, weight.shape[1] == c else {
            throw TensorError("conv2d", "weight \(formatShape(weight.shape)) does not match input \(formatShape(input.shape)): expected [out, \(c), kh, kw]")
        }
        let outChannels = weight.shape[0]
        if let bias, bias.shape != [outChannels] {
            throw TensorError("conv2d", "bias \(formatShape(bias.shape)) does not match \(outChannels) output channels")
        }
        let window = try Window2D(
            kernel: (weight.shape[2], weight.shape[3]), stride: stride, padding: padding, height: h, width: wd, op: "conv2d")
        let area = window.outputHeight * window.outputWidth
        let patch = c * window.kernelHeight * window.kernelWidth
        var columns = Tensor.zeros([n, patch, area])
        var output = Tensor.zeros([n, outChannels, window.outputHeight, window.outputWidth])
        input.withUnsafeBufferPointer { x in
            columns.withUnsafeMutableBufferPointer { cols in
                weight.withUnsafeBufferPointer { wt in
                    output.withUnsafeMutableBufferPointer { out in
                        for i in 0..<n {
                            let col = cols.baseAddress! + i * patch * area
                            im2col(x.baseAddress! + i * c * h * wd, channels: c, window: window, into: col)
                            let dst = out.baseAddress! + i * outChannels * area
                            var beta: Float = 0
                            if let bias {
                                bias.withUnsafeBufferPointer { b in
                                    for o in 0..<outChannels { (dst + o * area).update(repeating: b[o], count: area) }
                                }
                                beta = 1
                            }
                            BLAS.gemm(m: outChannels, n: area, k: patch, a: wt.baseAddress!, b: col, c: dst, beta: beta)
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
        var gradWeight = Tensor.zeros(weight.shape)
        var gradInput: Tensor? = needsInput ? Tensor.zeros(input.shape) : nil
        var scratch = Tensor.zeros([patch, area])
        g.withUnsafeBufferPointer { gy in
            columns.withUnsafeBufferPointer { cols in
                weight.withUnsafeBufferPointer { wt in
                    gradWeight.withUnsafeMutableBufferPointer { gw in
                        for i in 0..<n {
                            let gi = gy.baseAddress! + i * outChannels * area
                            // dW += dY_i [O, area] @ cols_iᵀ [area, patch]
                            BLAS.gemm(
                                m: outChannels, n: patch, k: area, a: gi, b: cols.baseAddress! + i * patch * area,
                                transposeB: true, c: gw.baseAddress!, beta: 1)
                            guard gradInput != nil else { continue }
                            scratch.withUnsafeMutableBufferPointer { s in
                                // dcols = Wᵀ [patch, O] @ dY_i [O, area], folded back into the image.
                                BLAS.gemm(m: patch, n: area, k: outChannels, a: wt.baseAddress!, transposeA: true, b: gi, c: s.baseAddress!)
                                gradInput!.withUnsafeMutableBufferPointer { gx in
                                    col2im(s.baseAddress!, channels: c, window: window, into: gx.baseAddress! + i * c * h * wd)
                                }
                            }
                        }
                    }
                }
            }
        }
        // The bias gradient sums dY over batch and positions.
        let gradBias = try! g.sum(axes: [0, 2, 3])
        return (gradInput, gradWeight, gradBias)
    }

    /// 2-D max pooling; also returns, for each output, the flat input offset it came from.
    public static func maxPool2d(_ input: Tensor, kernel: Int, stride: Int, padding: Int) throws -> (output: Tensor, argmax: [Int32]) {
        let (n, c, h, wd) = try input.imageDimensions(op: "max_pool2d")
        guard padding * 2 <= kernel else {
            throw TensorError("max_pool2d", "padding \(padding) must be at most half the kernel size \(kernel)")
        }
        let window = try Window2D(kernel: (kernel, kernel), stride: stride, padding: padding, height: h, width: wd, op: "max_pool2d")
        let area = window.outputHeight * window.outputWidth
        var argmax = [Int32](repeating: 0, count: n * c * area)
        let output = input.withUnsafeBufferPointer { x in
            Tensor(shape: [n, c, window.outputHeight, window.outputWidth]) { out in
                argmax.withUnsafeMutableBufferPointer { arg in
                    for plane in 0..<(n * c) {
                        let base = plane * h * wd
                        let dst = plane * area
                        for o in 0..<area {
                            out[dst + o] = -.infinity
                            arg[dst + o] = -1
                        }
                        window.forEachTap { o, _, offset in
                            guard let offset else { return }
                            let v = x[base + offset]
                            if v > out[dst + o] || arg[dst + o] < 0 || v.isNaN {
                                out[dst + o] = v
                                arg[dst + o] = Int32(base + offset)
                            }
                        }
                    }
                }
            }
        }
        return (output, argmax)
    }

    /// 2-D average pooling; padding counts as zeros in the average (PyTorch's `count_include_pad`).
    public static func avgPool2d(_ input: Tensor, kernel: Int, stride: Int, padding: Int) throws -> (output: Tensor, window: Window2D) {
        let (n, c, h, wd) = try input.imageDimensions(op: "avg_pool2d")
        guard padding * 2 <= kernel else {
            throw TensorError("avg_pool2d", "padding \(padding) must be at most half the kernel size \(kernel)")
        }
        let window = try Window2D(kernel: (kernel, kernel), stride: stride, padding: padding, height: h, width: wd, op: "avg_pool2d")
        let area = window.outputHeight * window.outputWidth
        let scale = 1 / Float(kernel * kernel)
        let output = input.withUnsafeBufferPointer { x in
            Tensor(shape: [n, c, window.outputHeight, window.outputWidth]) { out in
                out.update(repeating: 0)
                for plane in 0..<(n * c) {
                    window.forEachTap { o, _, offset in
                        if let offset { out[plane * area + o] += x[plane * h * wd + offset] * scale }
                    }
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
                    window.forEachTap { o, _, offset in
                        if let offset { gx[plane * imageArea + offset] += gy[plane * area + o] * scale }
                    }
                }
            }
        }
        return result
    }
}
