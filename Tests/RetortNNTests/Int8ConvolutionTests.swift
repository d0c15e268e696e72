import RetortGraph
import RetortTensor
import XCTest

@testable import RetortNN

/// The int8 convolution (channels-last unfolding, weights packed to match) against its definition,
/// and its fused pass with ReLU and a 2×2 max pool (pooled on the integer sums) against the layers
/// one after the other: the same bits.
final class Int8ConvolutionTests: XCTestCase {
    /// Equal bit for bit; a failure names the first value that differs, not thousands of them.
    private func assertSameBits(_ a: [Float], _ b: [Float], _ name: String, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, "\(name): count", line: line)
        if let i = (0..<min(a.count, b.count)).first(where: { a[$0].bitPattern != b[$0].bitPattern }) {
            XCTFail("\(name): value \(i) is \(a[i]), expected \(b[i])", line: line)
        }
    }

    /// Runs `body` with the direct kernel (where this CPU has AVX-512 VNNI and the layer's channels
    /// are 1 or a multiple of 4) and with the unfolding, naming which.
    private func eachWay(_ body: (String) throws -> Void) rethrows {
        let saved = QuantizedConv2d.convolvesDirectly
        defer { QuantizedConv2d.convolvesDirectly = saved }
        for direct in [true, false] {
            QuantizedConv2d.convolvesDirectly = direct
            try body(direct && Int8Kernel.convolvesDirectly ? "direct where it applies" : "unfolded")
        }
    }

    private func weights(outputs: Int, channels: Int, kernel: (Int, Int), seed: UInt64) throws -> Int8Weights {
        var g = RandomGenerator(seed: seed)
        let count = outputs * channels * kernel.0 * kernel.1
        let values = (0..<count).map { _ in Int8(g.nextInt(below: 255) - 127) }
        let scales = (0..<outputs).map { _ in Float(g.nextInt(below: 100) + 1) * 1e-3 }
        let bias = (0..<outputs).map { _ in Float(g.nextInt(below: 200) - 100) * 1e-2 }
        return try Int8Weights(
            shape: [outputs, channels, kernel.0, kernel.1], values: values, scales: scales, bias: bias,
            input: QuantParams(scale: 0.05, zeroPoint: 37))
    }

    /// Each output from its definition: the input quantised (`Int8Kernel.quantize`, pinned by
    /// QuantizationTests), padding standing for the zero point, the int32 sum over (channel, ky, kx)
    /// requantised with the same float expression. Every layout detail must agree for equality.
    func testConvolutionMatchesItsDefinition() throws {
        for (outputs, channels, kernel, stride, padding, size) in [
            (4, 1, (3, 3), 1, 1, (9, 9)), (13, 3, (3, 3), 2, 1, (11, 8)), (16, 16, (3, 3), 1, 1, (7, 7)),
            (5, 2, (2, 3), 1, 0, (6, 9)), (9, 20, (1, 1), 1, 0, (5, 4)), (3, 5, (5, 5), 3, 2, (12, 13)),
            (2, 7, (3, 2), 2, 2, (4, 5)),
            // The direct kernel's cases: one channel with runs of 4 along a row of 5 or 1 taps, 4 and 8
            // channels, output counts 4, 17, 33 and 40 (one or two vectors, masked or not, then more).
            (40, 1, (5, 5), 2, 2, (12, 13)), (17, 1, (1, 1), 1, 0, (5, 4)), (33, 4, (2, 2), 1, 0, (6, 7)),
            (4, 8, (3, 3), 3, 1, (10, 11)),
        ] {
            let w = try weights(outputs: outputs, channels: channels, kernel: kernel, seed: UInt64(outputs))
            let conv = QuantizedConv2d(w, stride: stride, padding: padding)
            var g = RandomGenerator(seed: 9)
            let x = g.normal([3, channels, size.0, size.1])
            try eachWay { way in
                let y = try conv.forward(Variable(x)).value
                let name = "\(outputs)×\(channels)×\(kernel), stride \(stride), padding \(padding), \(size), \(way)"

                let q = UnsafeMutablePointer<UInt8>.allocate(capacity: x.count)
                defer { q.deallocate() }
                x.withUnsafeBufferPointer {
                    Int8Kernel.quantize($0, inverse: 1 / w.input.scale, zero: w.input.zeroPoint, into: q)
                }
                let oh = (size.0 + 2 * padding - kernel.0) / stride + 1
                let ow = (size.1 + 2 * padding - kernel.1) / stride + 1
                XCTAssertEqual(y.shape, [3, outputs, oh, ow], name)
                var expected = [Float]()
                for image in 0..<3 {
                    for o in 0..<outputs {
                        for oy in 0..<oh {
                            for ox in 0..<ow {
                                var sum: Int32 = 0
                                for ch in 0..<channels {
                                    for ky in 0..<kernel.0 {
                                        for kx in 0..<kernel.1 {
                                            let (iy, ix) = (oy * stride - padding + ky, ox * stride - padding + kx)
                                            let inside = (0..<size.0).contains(iy) && (0..<size.1).contains(ix)
                                            let tap =
                                                inside
                                                ? Int32(q[((image * channels + ch) * size.0 + iy) * size.1 + ix])
                                                : Int32(w.input.zeroPoint)
                                            sum += tap * Int32(w.values[((o * channels + ch) * kernel.0 + ky) * kernel.1 + kx])
                                        }
                                    }
                                }
                                expected.append(Float(sum - w.corrections[o]) * w.outputScales[o] + w.offsets[o])
                            }
                        }
                    }
                }
                assertSameBits(y.scalars, expected, name)
            }
        }
    }

    /// Quantising images channels last, split over two threads by image, gives the bytes one thread
    /// gives and the definition (each value quantised, then moved to channels last): for one channel
    /// (the whole batch quantised as one run) and for more (image by image through the transpose:
    /// 16 × 16 blocks in registers, the channels and positions past them a byte at a time), at batch
    /// sizes that split evenly and not.
    func testQuantizingChannelsLastOnTwoThreadsGivesTheSameBytes() throws {
        let saved = (BLAS.gemmLibrary, BLAS.threadCount)
        defer { (BLAS.gemmLibrary, BLAS.threadCount) = saved }
        BLAS.gemmLibrary = .oneDNN
        var g = RandomGenerator(seed: 3)
        for (images, channels, area) in [(64, 1, 784), (63, 16, 196), (5, 16, 196), (9, 3, 100), (3, 40, 50), (2, 32, 15)] {
            let x = g.normal([images * channels * area], std: 3).scalars
            var definition = [UInt8](repeating: 0, count: x.count)
            x.withUnsafeBufferPointer { xs in
                definition.withUnsafeMutableBufferPointer {
                    Int8Kernel.quantize(xs, inverse: 1 / 0.05, zero: 37, into: $0.baseAddress!)
                }
            }
            var expected = [UInt8](repeating: 0, count: x.count)
            for i in 0..<images {
                for c in 0..<channels {
                    for p in 0..<area {
                        expected[(i * area + p) * channels + c] = definition[(i * channels + c) * area + p]
                    }
                }
            }
            for threads in [1, 2] {
                BLAS.threadCount = threads
                var q = [UInt8](repeating: 0xAA, count: x.count)
                x.withUnsafeBufferPointer { xs in
                    q.withUnsafeMutableBufferPointer {
                        Int8Kernel.quantizeChannelsLast(
                            xs, channels: channels, area: area, inverse: 1 / 0.05, zero: 37, into: $0.baseAddress!)
                    }
                }
                XCTAssertEqual(q, expected, "\(images) images of \(channels)×\(area) at \(threads) thread(s)")
            }
        }
    }

    /// Conv + ReLU (+ 2×2 max pool) run fused by Sequential give the bits the layers give apart, for
    /// output counts on and off the vector width, odd output sizes (the pool drops the last row and
    /// column), strides and paddings; a NaN bias passes ReLU and the pool in both.
    func testFusedPassGivesTheLayersValues() throws {
        for (outputs, channels, stride, padding, size, pools) in [
            (16, 1, 1, 1, 28, true), (32, 16, 1, 1, 14, true), (13, 3, 1, 1, 11, true), (4, 2, 2, 1, 13, true),
            (20, 5, 1, 0, 9, true), (8, 3, 1, 2, 6, false), (11, 4, 2, 0, 10, false),
        ] {
            var w = try weights(outputs: outputs, channels: channels, kernel: (3, 3), seed: UInt64(outputs + channels))
            var bias = w.bias ?? []
            bias[outputs - 1] = .nan
            w = try Int8Weights(shape: w.shape, values: w.values, scales: w.scales, bias: bias, input: w.input)
            let layers: [Layer] =
                [QuantizedConv2d(w, stride: stride, padding: padding), Activation(.relu)]
                + (pools ? [Pool2d(.max, kernel: 2)] : [])
            let model = Sequential(layers)
            model.isTraining = false
            var g = RandomGenerator(seed: 11)
            let x = Variable(g.normal([5, channels, size, size]))
            var results = [[Float]]()
            try eachWay { way in
                let fused = try model.forward(x)
                let apart = try layers.reduce(x) { try $1.forward($0) }
                let name = "\(outputs) outputs, \(channels) channels, stride \(stride), padding \(padding), size \(size), \(way)"
                XCTAssertEqual(fused.shape, apart.shape, name)
                assertSameBits(fused.value.scalars, apart.value.scalars, name)
                XCTAssertTrue(fused.value.scalars.contains(0), "\(name): ReLU clipped something")
                XCTAssertTrue(fused.value.scalars.contains { $0.isNaN }, "\(name): the NaN bias passes")
                results.append(fused.value.scalars)
            }
            // The direct kernel's sums are the unfolding's: the same floats either way.
            assertSameBits(results[0], results[1], "\(outputs) outputs, \(channels) channels: direct against unfolded")
        }
    }

    /// With scales so large that a sum requantises to ±inf, an infinite bias makes NaN of some
    /// values (inf − inf) and not of others: the layer then runs apart, and gives the layers' values.
    func testAnInfiniteBiasGivesTheLayersValues() throws {
        let base = try weights(outputs: 8, channels: 2, kernel: (3, 3), seed: 4)
        var bias = base.bias ?? []
        bias[0] = .infinity
        bias[1] = -.infinity
        let w = try Int8Weights(
            shape: base.shape, values: base.values, scales: base.scales.map { $0 * 1e38 }, bias: bias, input: base.input)
        let layers: [Layer] = [QuantizedConv2d(w, stride: 1, padding: 1), Activation(.relu), Pool2d(.max, kernel: 2)]
        var g = RandomGenerator(seed: 6)
        let x = Variable(g.normal([3, 2, 8, 8]))
        let fused = try Sequential(layers).forward(x)
        let apart = try layers.reduce(x) { try $1.forward($0) }
        XCTAssertTrue(apart.value.scalars.contains { $0.isNaN }, "the case this test is for: inf − inf somewhere")
        assertSameBits(fused.value.scalars, apart.value.scalars, "infinite bias")
    }

    /// An output too small to pool is the pool's error, fused or not; a trace keeps the layers apart.
    func testFusedPassKeepsErrorsAndTraces() throws {
        let w = try weights(outputs: 4, channels: 2, kernel: (3, 3), seed: 1)
        let layers: [Layer] = [QuantizedConv2d(w, stride: 1, padding: 0), Activation(.relu), Pool2d(.max, kernel: 2)]
        let model = Sequential(layers)
        var g = RandomGenerator(seed: 2)
        let small = Variable(g.normal([1, 2, 3, 3]))
        let fused = errorMessage { try model.forward(small) }
        XCTAssertTrue(fused.contains("max_pool2d"), fused)
        XCTAssertEqual(
            fused, errorMessage { try layers.reduce(small) { try $1.forward($0) } } + " (in layer 2 of the model, MaxPool2d(2))")

        let graph = try Graph.trace(inputs: [("x", g.normal([2, 2, 8, 8]))], parameters: []) { [try model.forward($0[0])] }
        XCTAssertEqual(graph.nodes.map(\.op.name), ["int8_conv2d", "relu", "max_pool2d"])
    }

    /// Int8 convolutions in a row, each handing the next its outputs quantised onto the next's grid
    /// (channels last), give the bits the layers give apart: each with its own grid (zero points 0,
    /// 37 and 127), pooled and not, output counts on and off the vector width (the last few outputs
    /// on the scalar tail), channels the direct kernel takes and not, three in a row, a NaN bias
    /// (NaN lands on the next grid's 0), sums so large they requantise to infinity, and int8
    /// linear layers after a flatten (reading the images channels last, their weights permuted).
    func testChainedConvolutionsGiveTheLayersValues() throws {
        func conv(_ outputs: Int, _ channels: Int, seed: UInt64, zero: Int, scale: Float = 1, nanBias: Bool = false)
            throws -> QuantizedConv2d
        {
            let w = try weights(outputs: outputs, channels: channels, kernel: (3, 3), seed: seed)
            var bias = w.bias ?? []
            if nanBias { bias[0] = .nan }
            return QuantizedConv2d(
                try Int8Weights(
                    shape: w.shape, values: w.values, scales: w.scales.map { $0 * scale }, bias: bias,
                    input: QuantParams(scale: 0.03 * Float(seed), zeroPoint: zero)),
                stride: 1, padding: 1)
        }
        func linear(_ inputs: Int, _ outputs: Int, seed: UInt64, zero: Int) throws -> QuantizedLinear {
            var g = RandomGenerator(seed: seed)
            return QuantizedLinear(
                try Int8Weights(
                    shape: [outputs, inputs], values: (0..<outputs * inputs).map { _ in Int8(g.nextInt(below: 255) - 127) },
                    scales: (0..<outputs).map { _ in Float(g.nextInt(below: 100) + 1) * 1e-4 },
                    bias: (0..<outputs).map { _ in Float(g.nextInt(below: 200) - 100) * 1e-2 },
                    input: QuantParams(scale: 0.05 * Float(seed), zeroPoint: zero)))
        }
        let pool = Pool2d(.max, kernel: 2)
        for (name, layers, channels, size) in [
            (
                "the bench's CNN to its classifier",
                [
                    try conv(16, 1, seed: 1, zero: 37), Activation(.relu), pool, try conv(32, 16, seed: 2, zero: 0),
                    Activation(.relu), pool, Flatten(), try linear(32 * 7 * 7, 10, seed: 3, zero: 11),
                ], 1, 28
            ),
            (
                "one convolution to two linear layers",
                [
                    try conv(12, 4, seed: 10, zero: 3), Activation(.relu), pool, Flatten(),
                    try linear(12 * 6 * 6, 30, seed: 4, zero: 60), Activation(.relu), try linear(30, 7, seed: 5, zero: 2),
                ], 4, 12
            ),
            (
                "the bench's CNN",
                [
                    try conv(16, 1, seed: 1, zero: 37), Activation(.relu), pool, try conv(32, 16, seed: 2, zero: 0),
                    Activation(.relu), pool,
                ], 1, 28
            ),
            (
                "13 then 11 outputs, unpooled first, unfolded in blocks",
                [
                    try conv(13, 3, seed: 3, zero: 127), Activation(.relu), try conv(11, 13, seed: 4, zero: 37),
                    Activation(.relu), pool,
                ], 3, 32
            ),
            (
                "three in a row, a NaN bias",
                [
                    try conv(12, 4, seed: 5, zero: 20, nanBias: true), Activation(.relu), pool,
                    try conv(20, 12, seed: 6, zero: 37),
                    Activation(.relu), try conv(4, 20, seed: 7, zero: 1), Activation(.relu),
                ], 4, 12
            ),
            (
                "infinite sums",
                [
                    try conv(8, 2, seed: 8, zero: 37, scale: 1e38), Activation(.relu), pool, try conv(8, 8, seed: 9, zero: 50),
                    Activation(.relu), pool,
                ], 2, 9
            ),
        ] as [(String, [Layer], Int, Int)] {
            let model = Sequential(layers)
            model.isTraining = false
            var g = RandomGenerator(seed: 12)
            let x = Variable(g.normal([5, channels, size, size], std: 2))
            if name == "infinite sums" {
                let sums = try layers[0].forward(x).value.scalars
                XCTAssertTrue(sums.contains(.infinity) && sums.contains(-.infinity), "the case this is for")
            }
            try eachWay { way in
                let chained = try model.forward(x)
                let apart = try layers.reduce(x) { try $1.forward($0) }
                XCTAssertEqual(chained.shape, apart.shape, "\(name), \(way)")
                assertSameBits(chained.value.scalars, apart.value.scalars, "\(name), \(way)")
                XCTAssertGreaterThan(Set(apart.value.scalars).count, 10, "\(name): the outputs vary")
            }
        }
    }

    /// The chain is Sequential's choice, not a new rule: with it off the model gives the same bits;
    /// an empty batch gives the layers' empty output; shapes that do not follow give the layers'
    /// own error; a trace keeps the layers apart.
    func testChainKeepsErrorsAndTraces() throws {
        let first = QuantizedConv2d(try weights(outputs: 8, channels: 2, kernel: (3, 3), seed: 1), stride: 1, padding: 1)
        let second = QuantizedConv2d(try weights(outputs: 4, channels: 8, kernel: (3, 3), seed: 2), stride: 1, padding: 1)
        let wrong = QuantizedConv2d(try weights(outputs: 4, channels: 5, kernel: (3, 3), seed: 3), stride: 1, padding: 1)
        var g = RandomGenerator(seed: 4)
        let x = Variable(g.normal([2, 2, 8, 8]))
        let layers: [Layer] = [first, Activation(.relu), Pool2d(.max, kernel: 2), second, Activation(.relu)]
        let chained = try Sequential(layers).forward(x)
        Int8Chain.isEnabled = false
        let unchained = try Sequential(layers).forward(x)
        Int8Chain.isEnabled = true
        assertSameBits(chained.value.scalars, unchained.value.scalars, "chain on against off")

        let empty = Variable(.zeros([0, 2, 8, 8]))
        XCTAssertEqual(try Sequential(layers).forward(empty).shape, [0, 4, 4, 4], "an empty batch")
        XCTAssertEqual(try layers.reduce(empty) { try $1.forward($0) }.shape, [0, 4, 4, 4])

        let mismatched: [Layer] = [first, Activation(.relu), wrong, Activation(.relu)]
        let error = errorMessage { try Sequential(mismatched).forward(x) }
        XCTAssertTrue(error.contains("does not match input [2, 8, 8, 8]"), error)
        // The chain names the layer that failed (its second convolution), not the chain's first.
        XCTAssertEqual(
            error, errorMessage { try mismatched.reduce(x) { try $1.forward($0) } } + " (in layer 2 of the model, \(wrong.description))")

        let graph = try Graph.trace(inputs: [("x", x.value)], parameters: []) { [try Sequential(layers).forward($0[0])] }
        XCTAssertEqual(graph.nodes.map(\.op.name), ["int8_conv2d", "relu", "max_pool2d", "int8_conv2d", "relu"])
    }

    /// A linear layer after the flatten keeps its weights permuted for channels-last images; a
    /// weight loaded into it afterwards (`setBuffer`, as `load` does) is what the next chained run
    /// multiplies by, not the permutation of the old one.
    func testAChainedLinearLayerUsesWeightsLoadedLater() throws {
        let conv = QuantizedConv2d(try weights(outputs: 8, channels: 2, kernel: (3, 3), seed: 1), stride: 1, padding: 1)
        let w = try Int8Weights(
            shape: [3, 8 * 4 * 4], values: (0..<3 * 128).map { Int8($0 % 255 - 127) }, scales: [0.01, 0.02, 0.03],
            bias: nil, input: QuantParams(scale: 0.05, zeroPoint: 9))
        let linear = QuantizedLinear(w)
        let layers: [Layer] = [conv, Activation(.relu), Pool2d(.max, kernel: 2), Flatten(), linear]
        var g = RandomGenerator(seed: 5)
        let x = Variable(g.normal([4, 2, 8, 8]))
        let before = try Sequential(layers).forward(x).value.scalars
        assertSameBits(before, try layers.reduce(x) { try $1.forward($0) }.value.scalars, "before loading")
        try linear.setBuffer(
            "weight", Tensor(shape: [3, 128]) { out in for i in 0..<384 { out[i] = Float((i * 7) % 255 - 127) } })
        let after = try Sequential(layers).forward(x).value.scalars
        assertSameBits(after, try layers.reduce(x) { try $1.forward($0) }.value.scalars, "after loading")
        XCTAssertNotEqual(after, before, "the new weights change the outputs")
    }

    /// The direct kernel on each code path this CPU has (AVX2; AVX-512 VNNI) against its definition:
    /// each int32 sum over (ky, kx, c) of the padded image's bytes (0...127, the zero point in the
    /// padding) times the weights (-127...127), exact, so equal. One channel (runs of 4 along a
    /// kernel row of 1, 3 or 5 taps) and 4 to 12 channels, strides 1-3, output counts around both
    /// paths' blocks (8 and 16 lanes); the int32s after the output stay untouched.
    func testDirectPathsGiveTheDefinitionsSums() throws {
        let paths = [Int8Kernel.Path.avx2, .avx512VNNI]
        var ran = Set<String>()
        var g = RandomGenerator(seed: 21)
        for (channels, kernel, stride, padding) in [
            (1, (3, 3), 1, 1), (1, (5, 5), 2, 2), (1, (1, 1), 1, 0), (4, (3, 3), 1, 1), (8, (2, 2), 3, 0),
            (12, (3, 2), 2, 1),
        ] {
            for outputs in [1, 7, 8, 9, 16, 17, 33, 40] {
                let (h, w, zero) = (9, 11, UInt8(37))
                let window = try Window2D(kernel: kernel, stride: stride, padding: padding, height: h, width: w, op: "test")
                let q = (0..<(h * w * channels)).map { _ in UInt8(g.nextInt(below: 128)) }
                let values = (0..<(outputs * channels * kernel.0 * kernel.1)).map { _ in Int8(g.nextInt(below: 255) - 127) }
                let packed = Int8Kernel.packDirect(values, shape: [outputs, channels, kernel.0, kernel.1])
                let (ph, pw) = (h + 2 * padding, w + 2 * padding)
                var image = [UInt8](repeating: 0, count: ph * pw * channels + 4)
                q.withUnsafeBufferPointer { q in
                    image.withUnsafeMutableBufferPointer {
                        Int8Kernel.padChannelsLast(
                            q.baseAddress!, channels: channels, window: window, zero: zero, into: $0.baseAddress!)
                    }
                }
                let positions = window.outputHeight * window.outputWidth
                var expected = [Int32](repeating: -99, count: positions * outputs + 3)
                for oy in 0..<window.outputHeight {
                    for ox in 0..<window.outputWidth {
                        for o in 0..<outputs {
                            var sum: Int32 = 0
                            for c in 0..<channels {
                                for ky in 0..<kernel.0 {
                                    for kx in 0..<kernel.1 {
                                        let x = image[((oy * stride + ky) * pw + ox * stride + kx) * channels + c]
                                        let weight = values[((o * channels + c) * kernel.0 + ky) * kernel.1 + kx]
                                        sum += Int32(x) * Int32(weight)
                                    }
                                }
                            }
                            expected[(oy * window.outputWidth + ox) * outputs + o] = sum
                        }
                    }
                }
                for path in paths {
                    var acc = [Int32](repeating: -99, count: expected.count)
                    let done = image.withUnsafeBufferPointer { x in
                        acc.withUnsafeMutableBufferPointer {
                            Int8Kernel.convolveDirectly(
                                x.baseAddress!, channels: channels, window: window, packed, outputs: outputs,
                                into: $0.baseAddress!, on: path)
                        }
                    }
                    guard done else {
                        XCTAssertEqual(acc, [Int32](repeating: -99, count: expected.count), "\(path) refused, wrote nothing")
                        continue
                    }
                    ran.insert("\(path)")
                    XCTAssertEqual(acc, expected, "\(path): \(outputs)×\(channels)×\(kernel), stride \(stride)")
                }
            }
        }
        try XCTSkipIf(ran.isEmpty, "no direct path on this CPU")
        XCTAssertEqual(ran.contains("avx2"), Int8Kernel.path != "scalar", "AVX2's loop runs wherever AVX2 does")
    }
}
