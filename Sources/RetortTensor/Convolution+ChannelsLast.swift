/// Inference's convolution, channels last: each image `[C, H, W]` turned to `[H, W, C]` and
/// convolved into `[positions, O]`, which pools over whole channel vectors and goes back to channels
/// first with the bias and ReLU. Three ways to the product (`Method`), each adding a sum's taps in
/// the same (ky, kx, c) order as the others' GEMMs may not: results agree with `conv2d` (training's
/// channels-first unfolding) up to the order of the sums.
extension Convolution {
    enum Method {
        /// With AVX-512 or AVX2 (`ImageKernels.directVectors`), and 4 channels or more or few taps
        /// (at most 16 with AVX-512, 9 with AVX2, in rows at least 14 or 6 wide: the bench's
        /// one-channel first layer, each tap's weights held in a register): straight from the padded
        /// channels-last image, no unfolded columns (`ImageKernels.convolveChannelsLast`).
        case direct
        /// Without those vectors: unfolded one output position per row, each kernel row one copy of kw·C
        /// floats (the channels-first unfolding copies C·kh·kw rows of outW floats: 14 at a time on
        /// the bench's second layer), then a GEMM.
        case unfoldChannelsLast
        /// Fewer than 4 channels, where a tap is shorter than a vector but a channels-first row is
        /// outW floats long, and not `.direct`: unfolded channels first, and the columns go to the
        /// GEMM transposed. (The general direct loop on the bench's one-channel layer ran at 0.83×
        /// this, a weight load per 7 multiply-adds; the few-taps loop at 1.07× the whole CNN.)
        case unfoldChannelsFirst
    }

    /// Whether `.direct` is used when the CPU has its vectors (tests turn it off to run the unfolding).
    nonisolated(unsafe) static var convolvesDirectly = true

    var method: Method {
        let direct = Self.convolvesDirectly && ImageKernels.directVectors != nil
        guard channels >= 4 else {
            return direct && ImageKernels.convolvesFewTaps(channels: channels, window: window) ? .direct : .unfoldChannelsFirst
        }
        return direct ? .direct : .unfoldChannelsLast
    }

    /// `weight` `[O, C, kh, kw]` in the layout and tap order `method` reads: `[kh·kw·C, O rounded
    /// up to 16]` (zeros after O) for `.direct`, `[O, kh, kw, C]` for `.unfoldChannelsLast`, as it
    /// is for `.unfoldChannelsFirst`.
    func channelsLastWeights(_ weight: UnsafePointer<Float>) -> [Float] {
        let (kh, kw, method) = (window.kernelHeight, window.kernelWidth, method)
        guard method != .unfoldChannelsFirst else { return Array(UnsafeBufferPointer(start: weight, count: outChannels * patch)) }
        let padded = (outChannels + 15) / 16 * 16
        let count = method == .direct ? patch * padded : outChannels * patch
        var result = [Float](repeating: 0, count: count)
        for o in 0..<outChannels {
            for c in 0..<channels {
                for ky in 0..<kh {
                    for kx in 0..<kw {
                        let tap = (ky * kw + kx) * channels + c
                        result[method == .direct ? tap * padded + o : o * patch + tap] =
                            weight[((o * channels + c) * kh + ky) * kw + kx]
                    }
                }
            }
        }
        return result
    }

    /// Scratch floats `multiplyChannelsLast` needs for a chunk: one channels-last image (padded for
    /// `.direct`) and, when unfolding, the chunk's columns.
    var channelsLastScratch: Int {
        switch method {
        case .direct: paddedInput ? 0 : paddedImageSize
        case .unfoldChannelsLast: channels * height * width + patch * imagesPerChunk * area
        case .unfoldChannelsFirst: patch * imagesPerChunk * area
        }
    }

    /// Floats of one padded channels-last image, `.direct`'s input.
    var paddedImageSize: Int { (height + 2 * window.padding) * (width + 2 * window.padding) * channels }

    /// Images [first, first + count) of `x` (channels first, or padded channels last when
    /// `paddedInput`) convolved by `weight` (from `channelsLastWeights`) into `product`
    /// [count·area, O]: each image's outputs channels last.
    func multiplyChannelsLast(
        _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, first: Int, count: Int,
        scratch: UnsafeMutablePointer<Float>, product: UnsafeMutablePointer<Float>
    ) {
        let imageSize = channels * height * width
        switch method {
        case .direct:
            for i in 0..<count {
                var image = UnsafePointer(scratch)
                if paddedInput {
                    image = x + (first + i) * paddedImageSize
                } else {
                    ImageKernels.toChannelsLast(
                        x + (first + i) * imageSize, channels: channels, height: height, width: width,
                        padding: window.padding, into: scratch)
                }
                ImageKernels.convolveChannelsLast(
                    image, channels: channels, window: window, weights: weight, outChannels: outChannels,
                    into: product + i * area * outChannels)
            }
        case .unfoldChannelsLast:
            let (image, columns) = (scratch, scratch + imageSize)
            for i in 0..<count {
                ImageKernels.toChannelsLast(
                    x + (first + i) * imageSize, channels: channels, area: height * width, into: image)
                ImageKernels.im2colChannelsLast(image, channels: channels, window: window, into: columns + i * area * patch)
            }
            BLAS.gemm(m: count * area, n: outChannels, k: patch, a: columns, b: weight, transposeB: true, c: product)
        case .unfoldChannelsFirst:
            // [patch, count·area] columns; with one channel the taps' order is the same either way.
            for i in 0..<count {
                ImageKernels.im2col(
                    x + (first + i) * imageSize, channels: channels, window: window, into: scratch + i * area,
                    rowStride: count * area)
            }
            BLAS.gemm(
                m: count * area, n: outChannels, k: patch, a: scratch, transposeA: true, b: weight, transposeB: true,
                c: product)
        }
    }
}
