/// One 2-D convolution's sizes, checked once, and its forward step over a run of images: what the
/// training and the inference forms of `Tensor.conv2d` share.
struct Convolution {
    let images, channels, height, width, outChannels: Int
    let window: Window2D
    let outputShape: [Int]
    let biasValues: [Float]
    /// Output positions per image, and taps per output position (the unfolded columns' rows).
    var area: Int { window.outputHeight * window.outputWidth }
    var patch: Int { channels * window.kernelHeight * window.kernelWidth }

    /// Checks `[N, C, H, W]` input, `[O, C, kh, kw]` weight and `[O]` bias, naming "conv2d".
    init(input: Tensor, weight: Tensor, bias: Tensor?, stride: Int, padding: Int) throws {
        (images, channels, height, width) = try input.imageDimensions(op: "conv2d")
        guard weight.rank == 4, weight.shape[1] == channels else {
            throw TensorError(
                .shape,
                "conv2d",
                "weight \(formatShape(weight.shape)) does not match input \(formatShape(input.shape)): expected [out, \(channels), kh, kw]"
            )
        }
        outChannels = weight.shape[0]
        if let bias, bias.shape != [outChannels] {
            throw TensorError(.shape, "conv2d", "bias \(formatShape(bias.shape)) does not match \(outChannels) output channels")
        }
        window = try Window2D(
            kernel: (weight.shape[2], weight.shape[3]), stride: stride, padding: padding, height: height, width: width,
            op: "conv2d")
        outputShape = try window.outputShape(images: images, channels: outChannels, op: "conv2d")
        biasValues = bias?.scalars ?? [Float](repeating: 0, count: outChannels)
    }

    /// Images [first, first + count) of `x` unfolded into `columns` (rows count·area long), then
    /// [O, patch] @ [patch, count·area] = [O, count·area] into `product`, reordered to
    /// [count, O, area] in `out` with the bias (and ReLU when `relu`). `splits`: the unfolding and
    /// the reordering may be split over threads (not when the caller already is).
    func run(
        _ x: UnsafePointer<Float>, weight: Tensor, first: Int, count: Int, columns: UnsafeMutablePointer<Float>,
        product: UnsafeMutablePointer<Float>, into out: UnsafeMutablePointer<Float>, splits: Bool, relu: Bool
    ) {
        let (area, patch) = (area, patch)
        Parallel.forEach(count, cost: splits ? patch * count * area : 0) { mine in
            for i in mine {
                ImageKernels.im2col(
                    x + (first + i) * channels * height * width, channels: channels, window: window,
                    into: columns + i * area, rowStride: count * area)
            }
        }
        weight.withUnsafeBufferPointer { w in
            BLAS.gemm(m: outChannels, n: count * area, k: patch, a: w.baseAddress!, b: columns, c: product)
        }
        Parallel.forEach(count, cost: splits ? count * outChannels * area : 0) { mine in
            for i in mine {
                for o in 0..<outChannels {
                    let src = product + o * count * area + i * area
                    let dst = out + ((first + i) * outChannels + o) * area
                    let b = biasValues[o]
                    if relu {
                        for j in 0..<area {
                            let v = src[j] + b
                            dst[j] = v > 0 ? v : 0
                        }
                    } else {
                        for j in 0..<area { dst[j] = src[j] + b }
                    }
                }
            }
        }
    }
}
