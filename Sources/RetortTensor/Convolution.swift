/// One 2-D convolution's sizes, checked once, and its forward step over a chunk of images: what
/// the training and inference forms of `Tensor.conv2d` and the backward pass share.
///
/// Both forms go a few images at a time (`imagesPerChunk`, about `Tensor.chunkFloats` of unfolded
/// columns), so each chunk's columns are still in cache when its GEMM reads them; with more than
/// one thread each takes whole chunks and runs their GEMMs itself (oneDNN's GEMM inside a parallel
/// loop stays on its thread). Chunks are the same at any thread count, so results are too.
struct Convolution {
    let images, channels, height, width, outChannels: Int
    let window: Window2D
    /// Output positions per image, and taps per output position (the unfolded columns' rows).
    var area: Int { window.outputHeight * window.outputWidth }
    var patch: Int { channels * window.kernelHeight * window.kernelWidth }
    var outputShape: [Int] { [images, outChannels, window.outputHeight, window.outputWidth] }
    var imagesPerChunk: Int {
        let most = Swift.max(1, Swift.min(images, Tensor.chunkFloats / (patch * area)))
        guard evenChunks else { return most }
        let chunks = (images + most - 1) / most
        return (images + chunks - 1) / chunks
    }
    var chunks: Int { (images + imagesPerChunk - 1) / imagesPerChunk }

    /// Whether the input is already channels last and padded (`[N, H + 2p, W + 2p, C]`, a previous
    /// convolution's output in `Tensor.conv2dInferenceChain`); only with `.direct`.
    var paddedInput = false

    /// Whether chunks are as even as the same number of chunks allows (64 images at most 9 a chunk:
    /// 8 of 8, not 7 of 9 and 1 of 1, which gave one of two threads 36 images). Only where no value
    /// depends on which images share a chunk: inference's `.direct` convolution, image by image.
    var evenChunks = false

    /// Checks `[N, C, H, W]` input, `[O, C, kh, kw]` weight and `[O]` bias, naming "conv2d".
    init(input: Tensor, weight: Tensor, bias: Tensor?, stride: Int, padding: Int) throws {
        _ = try input.imageDimensions(op: "conv2d")
        try self.init(inputShape: input.shape, weight: weight, bias: bias, stride: stride, padding: padding)
    }

    /// The same checks for an input of shape `[N, C, H, W]`, wherever its values are.
    init(inputShape shape: [Int], weight: Tensor, bias: Tensor?, stride: Int, padding: Int) throws {
        let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        guard weight.rank == 4, weight.shape[1] == c else {
            throw TensorError(
                .shape,
                "conv2d",
                "weight \(formatShape(weight.shape)) does not match input \(formatShape(shape)): expected [out, \(c), kh, kw]"
            )
        }
        if let bias, bias.shape != [weight.shape[0]] {
            throw TensorError(
                .shape, "conv2d", "bias \(formatShape(bias.shape)) does not match \(weight.shape[0]) output channels")
        }
        let window = try Window2D(
            kernel: (weight.shape[2], weight.shape[3]), stride: stride, padding: padding, height: h, width: w, op: "conv2d")
        _ = try window.outputShape(images: n, channels: weight.shape[0], op: "conv2d")
        self.init(input: shape, outChannels: weight.shape[0], window: window)
    }

    /// The sizes of a convolution already checked (the backward pass's).
    init(input shape: [Int], outChannels: Int, window: Window2D) {
        (images, channels, height, width) = (shape[0], shape[1], shape[2], shape[3])
        self.outChannels = outChannels
        self.window = window
    }

    /// Calls `body(chunk, first image, image count, scratch)` for every chunk, shared out over
    /// Parallel's threads; each thread gets its own `scratch` floats.
    func forEachChunk(
        scratch: Int, _ body: (_ chunk: Int, _ first: Int, _ count: Int, _ scratch: UnsafeMutablePointer<Float>) -> Void
    ) {
        let (perChunk, n) = (imagesPerChunk, images)
        Parallel.forEach(chunks, cost: outChannels * patch * n * area) { mine in
            // On a cache line: a channels-last kernel row of 16 channels is 3 whole lines, so its
            // 64-byte stores then never straddle two.
            let raw = UnsafeMutableRawPointer.allocate(
                byteCount: Swift.max(scratch, 1) * MemoryLayout<Float>.stride, alignment: 64)
            defer { raw.deallocate() }
            let buffer = raw.bindMemory(to: Float.self, capacity: Swift.max(scratch, 1))
            for chunk in mine {
                let first = chunk * perChunk
                body(chunk, first, Swift.min(perChunk, n - first), buffer)
            }
        }
    }

    /// Images [first, first + count) of `x` unfolded into `columns` (rows count·area long), then
    /// [O, patch] @ [patch, count·area] = [O, count·area] into `product`, reordered to
    /// [count, O, area] in `out` with the bias, image `first` at image `at` of `out` (`first` itself
    /// when `out` is the whole output); with `relu`, ReLU as the bias is added (the same values as
    /// `relu()` after). Training's forward step; inference's is `multiplyChannelsLast`.
    func run(
        _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: [Float], relu: Bool = false, first: Int,
        count: Int, columns: UnsafeMutablePointer<Float>, product: UnsafeMutablePointer<Float>,
        into out: UnsafeMutablePointer<Float>, at: Int
    ) {
        for i in 0..<count {
            ImageKernels.im2col(
                x + (first + i) * channels * height * width, channels: channels, window: window,
                into: columns + i * area, rowStride: count * area)
        }
        BLAS.gemm(m: outChannels, n: count * area, k: patch, a: weight, b: columns, c: product)
        for i in 0..<count {
            for o in 0..<outChannels {
                let from = product + o * count * area + i * area
                let dst = out + ((at + i) * outChannels + o) * area
                let b = bias[o]
                if relu {
                    // As `Tensor.relu`: x < 0 ? 0 : x, so NaN and -0 pass through.
                    for j in 0..<area {
                        let v = from[j] + b
                        dst[j] = v < 0 ? 0 : v
                    }
                } else {
                    for j in 0..<area { dst[j] = from[j] + b }
                }
            }
        }
    }

    /// The backward step of one chunk: dY of its images reordered to [O, count·area] in `dy`, the
    /// chunk's bias gradient into `biasGradient` [O], its images unfolded again into `columns` and
    /// its weight gradient into `weightGradient` [O, patch] (dY @ columnsᵀ), and, when
    /// `inputGradient` is given, Wᵀ @ dY into `dcolumns`, folded into each image's gradient. With
    /// `reluOutput` (the forward's output when it applied ReLU), ReLU's backward on dY first.
    func backward(
        _ g: UnsafePointer<Float>, reluOutput: UnsafePointer<Float>? = nil, input x: UnsafePointer<Float>,
        weight: UnsafePointer<Float>, first: Int, count: Int,
        dy: UnsafeMutablePointer<Float>, columns: UnsafeMutablePointer<Float>, biasGradient: UnsafeMutablePointer<Float>,
        weightGradient: UnsafeMutablePointer<Float>, dcolumns: UnsafeMutablePointer<Float>,
        inputGradient: UnsafeMutablePointer<Float>?
    ) {
        let (area, patch) = (area, patch)
        // Each channel's bias gradient in 16 running sums (each image's values from lane 0), added
        // up in lane order: a fixed order, so the same bits at any thread count.
        var sums = [Float](repeating: 0, count: 16)
        sums.withUnsafeMutableBufferPointer { lanes in
            for o in 0..<outChannels {
                lanes.update(repeating: 0)
                for i in 0..<count {
                    let at = ((first + i) * outChannels + o) * area
                    ImageKernels.copySumming(
                        g + at, maskedBy: reluOutput.map { $0 + at }, into: dy + o * count * area + i * area,
                        count: area, sums: lanes.baseAddress!)
                }
                biasGradient[o] = lanes.reduce(0, +)
            }
        }
        for i in 0..<count {
            ImageKernels.im2col(
                x + (first + i) * channels * height * width, channels: channels, window: window,
                into: columns + i * area, rowStride: count * area)
        }
        BLAS.gemm(
            m: outChannels, n: patch, k: count * area, a: dy, b: columns, transposeB: true, c: weightGradient)
        guard let inputGradient else { return }
        BLAS.gemm(m: patch, n: count * area, k: outChannels, a: weight, transposeA: true, b: dy, c: dcolumns)
        for i in 0..<count {
            ImageKernels.col2im(
                dcolumns + i * area, channels: channels, window: window,
                into: inputGradient + (first + i) * channels * height * width, rowStride: count * area)
        }
    }
}
