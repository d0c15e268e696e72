import CRetortImage
import XCTest

@testable import RetortTensor

/// Inference convolves channels last (Convolution+ChannelsLast): the C loops it uses against their
/// definitions, at channel counts on both sides of its choice (fewer than 4 unfold channels first)
/// and around its vector widths (4 and 16 floats); then the whole inference pass, plain, with ReLU
/// and with ReLU and a 2×2 pool, against the training form (channels first) and `relu`/`maxPool2d`
/// after it, at every window, by each of its methods (`Convolution.Method`; the direct one on each
/// vector width the CPU has: AVX-512, AVX2). Whole numbers, so the sums are exact in either tap order.
final class ChannelsLastConvolutionTests: XCTestCase {
    private let channelCounts = [1, 3, 4, 5, 16, 17, 35]

    func testUnfoldingMatchesTheDefinition() throws {
        for channels in channelCounts {
            try ImageCases.windows { w in
                let (h, wd, c) = (w.inputHeight, w.inputWidth, channels)
                let image = ImageCases.values(h * wd * c, seed: c)
                let (rows, patch) = (w.outputHeight * w.outputWidth, w.kernelHeight * w.kernelWidth * c)
                // Three floats after the columns, which must stay untouched.
                var cols = [Float](repeating: 99, count: rows * patch + 3)
                image.withUnsafeBufferPointer { x in
                    cols.withUnsafeMutableBufferPointer {
                        ImageKernels.im2colChannelsLast(x.baseAddress!, channels: c, window: w, into: $0.baseAddress!)
                    }
                }
                var expected = [Float](repeating: 99, count: rows * patch + 3)
                for oy in 0..<w.outputHeight {
                    for ox in 0..<w.outputWidth {
                        for ky in 0..<w.kernelHeight {
                            for kx in 0..<w.kernelWidth {
                                let (y, x) = (oy * w.stride - w.padding + ky, ox * w.stride - w.padding + kx)
                                let inside = y >= 0 && y < h && x >= 0 && x < wd
                                for channel in 0..<c {
                                    let at = (oy * w.outputWidth + ox) * patch + (ky * w.kernelWidth + kx) * c + channel
                                    expected[at] = inside ? image[(y * wd + x) * c + channel] : 0
                                }
                            }
                        }
                    }
                }
                XCTAssertEqual(cols, expected, "\(c) channels, \(w)")
            }
        }
    }

    /// Both transposes, the way back adding a bias and applying ReLU as `addBias` does: NaN and −0
    /// pass ReLU (a −0 bias keeps a −0 value −0).
    func testTransposesMatchTheDefinition() throws {
        for (area, channels) in [(1, 1), (3, 5), (4, 4), (7, 16), (13, 17), (49, 32), (196, 16)] {
            var x = ImageCases.values(area * channels, seed: area).map { $0 / 4 }
            x[0] = -0.0
            if x.count > 2 { x[2] = .nan }
            var bias = ImageCases.values(channels, seed: 3).map { $0 / 8 }
            bias[0] = -0.0
            var last = [Float](repeating: 99, count: area * channels)
            x.withUnsafeBufferPointer { s in
                last.withUnsafeMutableBufferPointer {
                    ImageKernels.toChannelsLast(s.baseAddress!, channels: channels, area: area, into: $0.baseAddress!)
                }
            }
            for c in 0..<channels {
                for p in 0..<area {
                    XCTAssertEqual(
                        last[p * channels + c].bitPattern, x[c * area + p].bitPattern, "\(area)×\(channels) at \(c), \(p)")
                }
            }
            for relu in [false, true] {
                var first = [Float](repeating: 99, count: area * channels)
                x.withUnsafeBufferPointer { s in
                    first.withUnsafeMutableBufferPointer {
                        ImageKernels.toChannelsFirst(
                            s.baseAddress!, area: area, channels: channels, bias: bias, relu: relu, into: $0.baseAddress!)
                    }
                }
                for c in 0..<channels {
                    for p in 0..<area {
                        let v = x[p * channels + c] + bias[c]
                        let expected = relu && v < 0 ? 0 : v
                        XCTAssertEqual(
                            first[c * area + p].bitPattern, expected.bitPattern,
                            "\(area)×\(channels) relu \(relu) at \(c), \(p)")
                    }
                }
            }
        }
    }

    /// The channels-last pool against the channels-first one on the same images: the same
    /// winners, NaNs included.
    func testPoolMatchesTheChannelsFirstPool() throws {
        for (h, w) in [(2, 2), (3, 5), (4, 6), (7, 7), (14, 14)] {
            for channels in channelCounts {
                let n = 2
                var first = ImageCases.values(n * channels * h * w, seed: h * 31 + w + channels)
                for i in stride(from: 5, to: first.count, by: 13) { first[i] = .nan }
                let (plane, pooledPlane) = (h * w, (h / 2) * (w / 2))
                var last = first
                for i in 0..<n {
                    for c in 0..<channels {
                        for p in 0..<plane { last[(i * plane + p) * channels + c] = first[(i * channels + c) * plane + p] }
                    }
                }
                var expected = [Float](repeating: 99, count: n * channels * pooledPlane)
                var pooled = [Float](repeating: 99, count: n * channels * pooledPlane)
                first.withUnsafeBufferPointer { x in
                    expected.withUnsafeMutableBufferPointer {
                        ImageKernels.maxPool2x2(
                            x.baseAddress!, planes: 0..<(n * channels), height: h, width: w, into: $0.baseAddress!,
                            argmax: nil)
                    }
                }
                last.withUnsafeBufferPointer { x in
                    pooled.withUnsafeMutableBufferPointer {
                        ImageKernels.maxPool2x2ChannelsLast(
                            x.baseAddress!, images: n, height: h, width: w, channels: channels, into: $0.baseAddress!)
                    }
                }
                for i in 0..<n {
                    for c in 0..<channels {
                        for p in 0..<pooledPlane {
                            XCTAssertEqual(
                                pooled[(i * pooledPlane + p) * channels + c].bitPattern,
                                expected[(i * channels + c) * pooledPlane + p].bitPattern,
                                "\(h)×\(w), \(channels) channels, image \(i) channel \(c) at \(p)")
                        }
                    }
                }
            }
        }
    }

    /// `ImageKernels.convolveChannelsLast` into `count` floats that start as 99 (so what it writes
    /// past the output shows).
    private func convolve(
        _ image: [Float], channels: Int, window: Window2D, weights: [Float], outChannels: Int, count: Int
    ) -> [Float] {
        var out = [Float](repeating: 99, count: count)
        image.withUnsafeBufferPointer { x in
            weights.withUnsafeBufferPointer { w in
                out.withUnsafeMutableBufferPointer {
                    ImageKernels.convolveChannelsLast(
                        x.baseAddress!, channels: channels, window: window, weights: w.baseAddress!,
                        outChannels: outChannels, into: $0.baseAddress!)
                }
            }
        }
        return out
    }

    /// The few-taps loop (at most 16 taps with AVX-512, 9 with AVX2; 16 output channels a pass, with
    /// AVX2 as two blocks of 8; rows of 14 or 6 positions, the last overlapping) against its
    /// definition: each output a multiply-add per tap, in (ky, kx, c) order from 0, as the general
    /// loop adds them; fractions, so a different order or a missed tap changes bits. One to three
    /// channels, 1 to 16 taps (past the few-taps loop's most, the general loop), strides 1-3, output
    /// rows 14 to 33 wide, output channels in one masked vector up to three; the floats after the
    /// output stay untouched. On every vector width this CPU has.
    func testFewTapsMatchTheirDefinition() throws {
        let widths = ImageKernels.DirectVectors.allCases.filter(\.isAvailable)
        try XCTSkipIf(widths.isEmpty, "the direct loops need AVX2 or AVX-512")
        let saved = (Tensor.convolvesFewTapsDirectly, ImageKernels.directVectors)
        defer { (Tensor.convolvesFewTapsDirectly, ImageKernels.directVectors) = saved }
        for vectors in widths {
            ImageKernels.directVectors = vectors
            try checkFewTaps(vectors)
        }
    }

    private func checkFewTaps(_ vectors: ImageKernels.DirectVectors) throws {
        var g = RandomGenerator(seed: 4)
        var cases = 0
        for (channels, kernel) in [(1, (3, 3)), (1, (4, 4)), (1, (1, 1)), (1, (2, 5)), (2, (2, 3)), (3, (2, 2)), (3, (1, 5))] {
            for (stride, padding, width) in [(1, 1, 28), (1, 0, 18), (2, 1, 29), (3, 2, 41), (1, 2, 29), (2, 0, 40)] {
                for outChannels in [1, 10, 16, 17, 40] {
                    let window = try Window2D(
                        kernel: kernel, stride: stride, padding: padding, height: 6, width: width, op: "test")
                    let (ph, pw) = (6 + 2 * padding, width + 2 * padding)
                    let image = g.normal([ph * pw * channels]).scalars
                    let taps = kernel.0 * kernel.1 * channels
                    XCTAssertEqual(
                        ImageKernels.convolvesFewTaps(channels: channels, window: window), taps <= vectors.fewTapsAtMost,
                        "\(vectors), \(window)")
                    let padded = (outChannels + 15) / 16 * 16
                    let weights = g.normal([taps * padded]).scalars
                    let positions = window.outputHeight * window.outputWidth
                    let out = convolve(
                        image, channels: channels, window: window, weights: weights, outChannels: outChannels,
                        count: positions * outChannels + 5)
                    var expected = [Float](repeating: 99, count: out.count)
                    for oy in 0..<window.outputHeight {
                        for ox in 0..<window.outputWidth {
                            for o in 0..<outChannels {
                                var sum: Float = 0
                                for ky in 0..<kernel.0 {
                                    for kx in 0..<kernel.1 {
                                        for c in 0..<channels {
                                            let at = ((oy * stride + ky) * pw + ox * stride + kx) * channels + c
                                            sum.addProduct(image[at], weights[((ky * kernel.1 + kx) * channels + c) * padded + o])
                                        }
                                    }
                                }
                                expected[(oy * window.outputWidth + ox) * outChannels + o] = sum
                            }
                        }
                    }
                    XCTAssertEqual(
                        out.map(\.bitPattern), expected.map(\.bitPattern),
                        "\(vectors), \(channels) channel(s), \(window), \(outChannels) out, \(taps) taps")
                    cases += 1
                }
            }
        }
        XCTAssertEqual(cases, 210)
        // Off, the same image goes to the general loop: only where the rule says.
        Tensor.convolvesFewTapsDirectly = false
        let window = try Window2D(kernel: (3, 3), stride: 1, padding: 1, height: 28, width: 28, op: "test")
        XCTAssertFalse(ImageKernels.convolvesFewTaps(channels: 1, window: window))
        Tensor.convolvesFewTapsDirectly = true
        XCTAssertTrue(ImageKernels.convolvesFewTaps(channels: 1, window: window))
        XCTAssertFalse(
            ImageKernels.convolvesFewTaps(
                channels: 2,
                window: try Window2D(
                    kernel: (3, 3), stride: 1, padding: 1, height: 28, width: 28, op: "test")), "18 taps")
        let positions = vectors.fewTapsPositions
        XCTAssertFalse(
            ImageKernels.convolvesFewTaps(
                channels: 1,
                window: try Window2D(
                    kernel: (3, 3), stride: 1, padding: 1, height: 13, width: positions - 1, op: "test")),
            "\(vectors): \(positions - 1) positions a row")
        XCTAssertTrue(
            ImageKernels.convolvesFewTaps(
                channels: 1,
                window: try Window2D(kernel: (3, 3), stride: 1, padding: 1, height: 13, width: positions, op: "test")),
            "\(vectors): \(positions) positions a row")
        XCTAssertEqual(
            ImageKernels.convolvesFewTaps(
                channels: 1,
                window: try Window2D(kernel: (4, 4), stride: 1, padding: 1, height: 28, width: 28, op: "test")),
            vectors == .avx512, "\(vectors): 16 taps")
        XCTAssertFalse(
            ImageKernels.convolvesFewTaps(
                channels: 4,
                window: try Window2D(
                    kernel: (1, 1), stride: 1, padding: 0, height: 28, width: 28, op: "test")), "4 channels")
    }

    /// Inference's direct convolution makes its chunks even (`Convolution.evenChunks`): the bench's
    /// 64 one-channel 28×28 images go 8 chunks of 8 (9, 9, ..., 1 without), never more chunks nor
    /// larger ones, and every image is convolved, at one and two threads, as training's convolution
    /// does it (whole numbers, so the sums are exact).
    func testEvenChunksCoverTheBatch() throws {
        let saved = (BLAS.gemmLibrary, BLAS.threadCount)
        defer { (BLAS.gemmLibrary, BLAS.threadCount) = saved }
        let weight = try Tensor(shape: [16, 1, 3, 3], scalars: ImageCases.values(144, seed: 2))
        var conv = try Convolution(
            inputShape: [64, 1, 28, 28], weight: weight, bias: nil, stride: 1, padding: 1)
        XCTAssertEqual(conv.imagesPerChunk, 9)
        conv.evenChunks = true
        XCTAssertEqual(conv.imagesPerChunk, 8)
        for images in 1...70 {
            var c = try Convolution(inputShape: [images, 1, 28, 28], weight: weight, bias: nil, stride: 1, padding: 1)
            let (most, chunks) = (c.imagesPerChunk, c.chunks)
            c.evenChunks = true
            XCTAssertLessThanOrEqual(c.imagesPerChunk, most, "\(images) images")
            XCTAssertEqual(c.chunks, chunks, "\(images) images")
            XCTAssertGreaterThanOrEqual(c.chunks * c.imagesPerChunk, images, "\(images) images")
        }
        BLAS.gemmLibrary = .oneDNN
        for images in [64, 19] {
            let x = try Tensor(shape: [images, 1, 28, 28], scalars: ImageCases.values(images * 784, seed: 5))
            let expected = try Tensor.conv2d(x, weight: weight, bias: nil, stride: 1, padding: 1).output
            for threads in [1, 2] {
                BLAS.threadCount = threads
                let y = try Tensor.conv2dInference(x, weight: weight, bias: nil, stride: 1, padding: 1)
                XCTAssertEqual(y.scalars, expected.scalars, "\(images) images at \(threads) thread(s)")
            }
        }
    }

    /// The few-tap loop called on a window it does not hold (25 taps; rows 9 wide with AVX-512, 5
    /// with AVX2; 16 taps with AVX2) hands it to the general loop: the same values, nothing written
    /// past the output. On every vector width this CPU has.
    func testFewTapsLoopHandsOtherWindowsOn() throws {
        typealias Loop = (
            UnsafePointer<Float>?, Int, Int, UnsafePointer<retort_window>?, UnsafePointer<Float>?,
            UnsafeMutablePointer<Float>?, Int
        ) -> Void
        let loops: [(ImageKernels.DirectVectors, few: Loop, general: Loop, windows: [((Int, Int), Int)])] = [
            (.avx512, retort_convolve_few_taps_avx512, retort_convolve_channels_last_avx512, [((5, 5), 20), ((3, 3), 9)]),
            (
                .avx2, retort_convolve_few_taps_avx2, retort_convolve_channels_last_avx2,
                [((5, 5), 20), ((3, 3), 3), ((4, 4), 20)]
            ),
        ]
        try XCTSkipIf(!loops.contains { $0.0.isAvailable }, "the direct loops need AVX2 or AVX-512")
        var g = RandomGenerator(seed: 6)
        for (vectors, fewLoop, generalLoop, windows) in loops where vectors.isAvailable {
            for (kernel, width) in windows {
                let window = try Window2D(kernel: kernel, stride: 1, padding: 1, height: 7, width: width, op: "test")
                let (ph, pw) = (7 + 2, width + 2)
                let image = g.normal([ph * pw]).scalars
                let weights = g.normal([kernel.0 * kernel.1 * 16]).scalars
                let positions = window.outputHeight * window.outputWidth
                var (few, general) = (
                    [Float](repeating: 99, count: positions * 10 + 3), [Float](repeating: 99, count: positions * 10 + 3)
                )
                var w = retort_window(
                    kernel_height: kernel.0, kernel_width: kernel.1, stride: 1, padding: 1, input_height: 7,
                    input_width: width, output_height: window.outputHeight, output_width: window.outputWidth)
                image.withUnsafeBufferPointer { x in
                    weights.withUnsafeBufferPointer { k in
                        few.withUnsafeMutableBufferPointer {
                            fewLoop(x.baseAddress!, 1, pw, &w, k.baseAddress!, $0.baseAddress!, 10)
                        }
                        general.withUnsafeMutableBufferPointer {
                            generalLoop(x.baseAddress!, 1, pw, &w, k.baseAddress!, $0.baseAddress!, 10)
                        }
                    }
                }
                XCTAssertEqual(few.map(\.bitPattern), general.map(\.bitPattern), "\(vectors), \(window)")
                XCTAssertEqual(Array(few.suffix(3)), [99, 99, 99], "\(vectors), \(window)")
            }
        }
    }

    /// AVX2's direct loops give AVX-512's values, bit for bit (the same sums in the same order), at
    /// channel counts around both widths, output channels from one to three vectors of either, and
    /// strides and paddings; nothing written past the output. Only where the CPU has AVX-512.
    func testAVX2LoopsGiveAVX512Values() throws {
        try XCTSkipUnless(CPU.hasAVX512, "comparing needs both widths")
        let saved = ImageKernels.directVectors
        defer { ImageKernels.directVectors = saved }
        var g = RandomGenerator(seed: 8)
        for channels in [1, 2, 3, 4, 8, 9, 16, 17] {
            for (kernel, stride, padding) in [((3, 3), 1, 1), ((1, 1), 1, 0), ((5, 5), 2, 2), ((2, 3), 3, 0)] {
                for outChannels in [1, 7, 8, 9, 16, 17, 24, 33, 40] {
                    let window = try Window2D(
                        kernel: kernel, stride: stride, padding: padding, height: 11, width: 23, op: "test")
                    let (ph, pw) = (11 + 2 * padding, 23 + 2 * padding)
                    let image = g.normal([ph * pw * channels]).scalars
                    let weights = g.normal([kernel.0 * kernel.1 * channels * ((outChannels + 15) / 16 * 16)]).scalars
                    let count = window.outputHeight * window.outputWidth * outChannels + 3
                    var outputs: [[Float]] = []
                    for vectors in [ImageKernels.DirectVectors.avx512, .avx2] {
                        ImageKernels.directVectors = vectors
                        outputs.append(
                            convolve(
                                image, channels: channels, window: window, weights: weights, outChannels: outChannels,
                                count: count))
                    }
                    let label = "\(channels)→\(outChannels), \(window)"
                    XCTAssertEqual(outputs[1].map(\.bitPattern), outputs[0].map(\.bitPattern), label)
                    XCTAssertEqual(Array(outputs[1].suffix(3)), [99, 99, 99], label)
                }
            }
        }
    }

    /// The pool and the bias and ReLU into a padded image in one pass (`poolFinishChannelsLast`)
    /// against the channels-last pool and then `finishChannelsLast`: the same bits, with NaNs, −0
    /// values and a −0 bias, at every channel count around the vector widths and paddings 0-2.
    func testPoolAndFinishInOnePassMatchTheTwo() throws {
        for (h, w) in [(2, 2), (3, 5), (7, 7), (14, 14), (28, 28)] {
            for channels in channelCounts {
                var x = ImageCases.values(h * w * channels, seed: h + channels).map { $0 / 4 }
                for i in stride(from: 3, to: x.count, by: 11) { x[i] = .nan }
                for i in stride(from: 6, to: x.count, by: 17) { x[i] = -0.0 }
                var bias = ImageCases.values(channels, seed: 5).map { $0 / 8 }
                bias[0] = -0.0
                let (oh, ow) = (h / 2, w / 2)
                for padding in 0...2 {
                    for relu in [false, true] {
                        let size = (oh + 2 * padding) * (ow + 2 * padding) * channels
                        var pooled = [Float](repeating: 99, count: oh * ow * channels)
                        var expected = [Float](repeating: 99, count: size)
                        var fused = [Float](repeating: 99, count: size)
                        x.withUnsafeBufferPointer { s in
                            pooled.withUnsafeMutableBufferPointer {
                                ImageKernels.maxPool2x2ChannelsLast(
                                    s.baseAddress!, images: 1, height: h, width: w, channels: channels, into: $0.baseAddress!)
                            }
                            fused.withUnsafeMutableBufferPointer {
                                ImageKernels.poolFinishChannelsLast(
                                    s.baseAddress!, height: h, width: w, channels: channels, bias: bias, relu: relu,
                                    padding: padding, into: $0.baseAddress!)
                            }
                        }
                        pooled.withUnsafeBufferPointer { s in
                            expected.withUnsafeMutableBufferPointer {
                                ImageKernels.finishChannelsLast(
                                    s.baseAddress!, height: oh, width: ow, channels: channels, bias: bias, relu: relu,
                                    padding: padding, into: $0.baseAddress!)
                            }
                        }
                        XCTAssertEqual(
                            fused.map(\.bitPattern), expected.map(\.bitPattern),
                            "\(h)×\(w), \(channels) channels, padding \(padding), relu \(relu)")
                    }
                }
            }
        }
    }

    /// `conv2dInference` (channels last) against `conv2d` (channels first, as training runs it), and
    /// with ReLU, and with ReLU and a pool, against `relu` and `maxPool2d` after it; with and without
    /// a bias, on OpenBLAS and oneDNN, at one and two threads. (Several chunks: ImageKernelsTests'
    /// testConvolutionInChunksMatchesTheWholeBatch, whose 9 channels unfold channels last.)
    func testInferenceMatchesTrainingAtEveryWindow() throws {
        let saved = (BLAS.gemmLibrary, BLAS.threadCount, Convolution.convolvesDirectly, ImageKernels.directVectors)
        defer { (BLAS.gemmLibrary, BLAS.threadCount, Convolution.convolvesDirectly, ImageKernels.directVectors) = saved }
        let widths = ImageKernels.DirectVectors.allCases.filter(\.isAvailable)
        // Output channels in one masked vector, two (the second masked or full), and 32 + 8.
        for (channels, outChannels) in [(1, 16), (3, 5), (4, 4), (5, 17), (16, 32), (6, 40)] {
            try ImageCases.windows { w in
                let (h, wd) = (w.inputHeight, w.inputWidth)
                let (kh, kw) = (w.kernelHeight, w.kernelWidth)
                let n = 3
                let x = try Tensor(shape: [n, channels, h, wd], scalars: ImageCases.values(n * channels * h * wd, seed: 1))
                let weight = try Tensor(
                    shape: [outChannels, channels, kh, kw], scalars: ImageCases.values(outChannels * channels * kh * kw, seed: 2))
                let bias = try Tensor(shape: [outChannels], scalars: ImageCases.values(outChannels, seed: 3))
                for b in [bias, nil] {
                    let expected = try Tensor.conv2d(x, weight: weight, bias: b, stride: w.stride, padding: w.padding).output
                    let rectified = expected.scalars.map { $0 < 0 ? 0 : $0 }
                    let pools = w.outputHeight >= 2 && w.outputWidth >= 2
                    let pooled =
                        pools
                        ? try Tensor.maxPool2d(
                            Tensor(shape: expected.shape, scalars: rectified), kernel: 2, stride: 2, padding: 0,
                            keepsArgmax: false
                        ).output.scalars : []
                    let ways: [(GemmLibrary, Int, ImageKernels.DirectVectors?)] =
                        [(.openBLAS, 1, nil), (.oneDNN, 1, nil), (.oneDNN, 2, nil)]
                        + widths.flatMap { [(.oneDNN, 1, $0), (.oneDNN, 2, $0), (.openBLAS, 2, $0)] }
                    for (library, threads, vectors) in ways {
                        (BLAS.gemmLibrary, BLAS.threadCount) = (library, threads)
                        (Convolution.convolvesDirectly, ImageKernels.directVectors) = (vectors != nil, vectors ?? saved.3)
                        let method = try Convolution(input: x, weight: weight, bias: b, stride: w.stride, padding: w.padding)
                            .method
                        let label =
                            "\(channels)→\(outChannels), \(w), bias \(b != nil), \(method) \(vectors.map { "\($0)" } ?? ""), \(library) at \(threads) thread(s)"
                        let plain = try Tensor.conv2dInference(x, weight: weight, bias: b, stride: w.stride, padding: w.padding)
                        XCTAssertEqual(plain.shape, expected.shape, label)
                        XCTAssertEqual(plain.scalars, expected.scalars, label)
                        let relu = try Tensor.conv2dInference(
                            x, weight: weight, bias: b, stride: w.stride, padding: w.padding, relu: true)
                        XCTAssertEqual(relu.scalars.map(\.bitPattern), rectified.map(\.bitPattern), label)
                        guard pools else { continue }
                        let fused = try Tensor.conv2dInference(
                            x, weight: weight, bias: b, stride: w.stride, padding: w.padding, relu: true, maxPool2x2: true)
                        XCTAssertEqual(fused.scalars.map(\.bitPattern), pooled.map(\.bitPattern), label)
                    }
                }
            }
        }
    }

    /// A chain of convolutions hands channels-last images from one step to the next where the next
    /// goes direct: the same bits as the steps one by one (each back to channels first), with
    /// pools and without, strides, paddings, a NaN input, an infinite bias (whose step hands over
    /// channels first), with and without the direct kernel; and a step that cannot follow gives the
    /// error it gives alone, after the error of a step before it.
    func testChainGivesTheStepsValues() throws {
        let saved = Convolution.convolvesDirectly
        defer { Convolution.convolvesDirectly = saved }
        func step(_ c: Int, _ o: Int, _ k: Int, stride: Int = 1, padding: Int, pool: Bool, seed: Int, infinite: Bool = false)
            throws -> ConvolutionStep
        {
            var bias = ImageCases.values(o, seed: seed + 1).map { $0 / 16 }
            if infinite { bias[0] = .infinity }
            return ConvolutionStep(
                weight: try Tensor(shape: [o, c, k, k], scalars: ImageCases.values(o * c * k * k, seed: seed).map { $0 / 32 }),
                bias: try Tensor(shape: [o], scalars: bias), stride: stride, padding: padding, maxPool2x2: pool)
        }
        var scalars = ImageCases.values(3 * 1 * 21 * 20, seed: 9).map { $0 / 8 }
        scalars[30] = .nan
        let x = try Tensor(shape: [3, 1, 21, 20], scalars: scalars)
        let chains: [[ConvolutionStep]] = [
            [
                try step(1, 8, 3, padding: 1, pool: true, seed: 1), try step(8, 16, 3, padding: 1, pool: true, seed: 2),
                try step(16, 4, 3, padding: 2, pool: false, seed: 3), try step(4, 5, 1, padding: 0, pool: true, seed: 4),
            ],
            [
                try step(1, 6, 3, padding: 1, pool: false, seed: 5),
                try step(6, 17, 3, stride: 2, padding: 0, pool: true, seed: 6, infinite: true),
                try step(17, 4, 2, padding: 1, pool: false, seed: 7),
            ],
        ]
        for direct in [true, false] {
            Convolution.convolvesDirectly = direct
            for (n, steps) in chains.enumerated() {
                let chained = try Tensor.conv2dInferenceChain(x, steps: steps)
                let apart = try steps.reduce(x) {
                    try Tensor.conv2dInference(
                        $0, weight: $1.weight, bias: $1.bias, stride: $1.stride, padding: $1.padding, relu: true,
                        maxPool2x2: $1.maxPool2x2)
                }
                XCTAssertEqual(chained.shape, apart.shape, "chain \(n), direct \(direct)")
                XCTAssertEqual(chained.scalars.map(\.bitPattern), apart.scalars.map(\.bitPattern), "chain \(n), direct \(direct)")
                XCTAssertTrue(chained.scalars.contains { $0.isNaN }, "chain \(n): the NaN reached the end")
            }
        }
        // The second step pools a 1×1 image, the third does not match: the pool's error comes first.
        let tiny = try Tensor(shape: [1, 1, 3, 3], scalars: ImageCases.values(9, seed: 1))
        let failing = [
            try step(1, 4, 3, padding: 1, pool: true, seed: 1), try step(4, 4, 1, padding: 0, pool: true, seed: 2),
            try step(5, 4, 1, padding: 0, pool: false, seed: 3),
        ]
        func message(_ body: () throws -> Tensor) -> String {
            do {
                _ = try body()
                return "no error"
            } catch { return "\(error)" }
        }
        let chainError = message { try Tensor.conv2dInferenceChain(tiny, steps: failing) }
        let apartError = message {
            try failing.reduce(tiny) {
                try Tensor.conv2dInference(
                    $0, weight: $1.weight, bias: $1.bias, stride: $1.stride, padding: $1.padding, relu: true,
                    maxPool2x2: $1.maxPool2x2)
            }
        }
        XCTAssertTrue(chainError.contains("max_pool2d"), chainError)
        XCTAssertEqual(chainError, apartError)
    }
}
