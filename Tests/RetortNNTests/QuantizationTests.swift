import Foundation
import RetortGraph
import RetortTensor
import XCTest

@testable import RetortNN

/// Fake quantisation, observers and int8 layers against PyTorch (`Tests/Fixtures/generate_quant.py`).
final class QuantizationTests: XCTestCase {
    private func fixture() throws -> [String: Any] {
        guard let url = Bundle.module.url(forResource: "quant", withExtension: "json", subdirectory: "Fixtures") else {
            throw TensorError("fixture", "missing resource Fixtures/quant.json")
        }
        return try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any] ?? [:]
    }

    /// Forward values and straight-through gradients equal torch's bit for bit: the same
    /// reciprocal-then-round-half-to-even, the same clamp, the same mask.
    func testFakeQuantizeMatchesTorchExactly() throws {
        let cases = try fixture()["fake_quant"] as? [[String: Any]] ?? []
        XCTAssertEqual(cases.count, 7)
        for c in cases {
            let name = c["name"] as? String ?? "?"
            let x = Variable(try tensor(c["x"]), requiresGrad: true)
            let scales = (c["scales"] as? [NSNumber] ?? []).map(\.floatValue)
            let zeros = (c["zero_points"] as? [Int]) ?? []
            let grid = QuantGrid(min: c["qmin"] as? Int ?? 0, max: c["qmax"] as? Int ?? 0)
            let y = try x.fakeQuantized(scales: scales, zeroPoints: zeros, axis: c["axis"] as? Int, grid: grid)
            XCTAssertEqual(y.value.scalars, try tensor(c["output"]).scalars, "\(name): forward")
            try (try y * Variable(try tensor(c["cotangent"]))).sum().backward()
            XCTAssertEqual(x.grad?.scalars ?? [], try tensor(c["grad"]).scalars, "\(name): straight-through gradient")
        }
    }

    func testObserversGiveTorchScalesAndZeroPoints() throws {
        let cases = try fixture()["qparams"] as? [[String: Any]] ?? []
        for c in cases {
            let name = c["name"] as? String ?? "?"
            let x = try tensor(c["x"])
            if name.hasPrefix("activation") {
                let observer = ActivationObserver(.minmax)
                observer.observe(x)
                let range = try XCTUnwrap(observer.range())
                let p = QuantParams.affine(min: range.min, max: range.max, grid: .activations)
                XCTAssertEqual(p.scale, (c["scale"] as? NSNumber)?.floatValue ?? 0, "\(name): scale")
                XCTAssertEqual(p.zeroPoint, c["zero_point"] as? Int, "\(name): zero point")
            } else {
                let scales = WeightQuantization.scales(x, perChannel: true)
                XCTAssertEqual(scales, (c["scales"] as? [NSNumber] ?? []).map(\.floatValue), "\(name): scales")
            }
        }
    }

    /// One quantisation-aware forward and backward of a Linear equals torch's (input per tensor,
    /// weights per channel), to float32 rounding of the matrix product.
    func testQuantizationAwareLinearMatchesTorch() throws {
        let c = try XCTUnwrap(fixture()["qat_linear"] as? [String: Any])
        var generator = RandomGenerator(seed: 1)
        let linear = Linear(12, 5, generator: &generator)
        linear.weight.update { $0 = (try? tensor(c["weight"])) ?? $0 }
        linear.bias?.update { $0 = (try? tensor(c["bias"])) ?? $0 }
        let layer = FakeQuantized(linear, stage: .quantizationAware, perChannel: true)
        let x = Variable(try tensor(c["x"]), requiresGrad: true)
        let y = try layer.forward(x)
        assertClose(y.value.scalars, try tensor(c["output"]).scalars, "forward")
        try (try y * Variable(try tensor(c["cotangent"]))).sum().backward()
        assertClose(x.grad?.scalars ?? [], try tensor(c["grad_x"]).scalars, "input gradient")
        assertClose(linear.weight.grad?.scalars ?? [], try tensor(c["grad_weight"]).scalars, "weight gradient")
        assertClose(linear.bias?.grad?.scalars ?? [], try tensor(c["grad_bias"]).scalars, "bias gradient")
        let p = QuantParams.affine(min: layer.inputMin, max: layer.inputMax, grid: .activations)
        XCTAssertEqual(p.scale, (c["input_scale"] as? NSNumber)?.floatValue)
        XCTAssertEqual(p.zeroPoint, c["input_zero_point"] as? Int)
    }

    /// The int8 kernel is exact: every shape (odd depths, one row, ten outputs) equals an int32 reference.
    func testInt8KernelIsExact() {
        var seed: UInt64 = 12345
        func next() -> UInt64 {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return seed >> 33
        }
        for (m, k, n) in [
            (1, 1, 1), (1, 784, 512), (7, 33, 10), (128, 64, 17), (5, 300, 64), (64, 576, 64), (3, 31, 3), (9, 4099, 5),
            (15, 9, 16), (23, 144, 32), (8, 3, 1),
        ] {
            let a = (0..<(m * k)).map { _ in UInt8(next() % 128) }
            let b = (0..<(n * k)).map { _ in Int8(Int(next() % 255) - 127) }
            let packed = Int8Kernel.pack(b, rows: n, depth: k)
            var c = [Int32](repeating: -1, count: m * n)
            var onPath: [Int8Kernel.Path: [Int32]] = [:]
            a.withUnsafeBufferPointer { pa in
                c.withUnsafeMutableBufferPointer { pc in Int8Kernel.gemm(pa.baseAddress!, m: m, packed, into: pc.baseAddress!) }
                for path in Int8Kernel.Path.allCases {
                    var result = [Int32](repeating: -1, count: m * n)
                    let ran = result.withUnsafeMutableBufferPointer { pc in
                        Int8Kernel.gemm(pa.baseAddress!, m: m, packed, into: pc.baseAddress!, on: path)
                    }
                    if ran { onPath[path] = result }
                }
            }
            var expected = [Int32](repeating: 0, count: m * n)
            for i in 0..<m {
                for j in 0..<n {
                    var s: Int32 = 0
                    for t in 0..<k { s += Int32(a[i * k + t]) * Int32(b[j * k + t]) }
                    expected[i * n + j] = s
                }
            }
            XCTAssertEqual(c, expected, "int8 gemm \(m)x\(k)x\(n) on \(Int8Kernel.path)")
            XCTAssertNotNil(onPath[.scalar], "the scalar path runs everywhere")
            for (path, result) in onPath { XCTAssertEqual(result, expected, "int8 gemm \(m)x\(k)x\(n) on \(path)") }
            XCTAssertEqual(packed.rowSums, (0..<n).map { j in (0..<k).reduce(Int32(0)) { $0 + Int32(b[j * k + $1]) } })
        }
    }

    /// The kernel's activation quantiser rounds exactly as the fake-quantised forward pass does:
    /// ties to even, clamped to 0…127, NaN to 0, across the vector body and the scalar tail.
    func testInt8QuantizeRoundsAsFakeQuantize() throws {
        let scale: Float = 0.05
        var values: [Float] = (-300...300).map { Float($0) * scale / 2 }  // every half step: ties
        values += [.nan, .infinity, -.infinity, 1e30, -1e30, 6.35, 6.375, 6.4, 0, -0.0, 3]
        let x = Tensor(values)
        let q = UnsafeMutablePointer<UInt8>.allocate(capacity: values.count)
        defer { q.deallocate() }
        x.withUnsafeBufferPointer { Int8Kernel.quantize($0, inverse: 1 / scale, zero: 9, into: q) }
        let finite = values.enumerated().filter { $0.element.isFinite }
        let reference = try Tensor(finite.map(\.element)).fakeQuantized(
            scales: [scale], zeroPoints: [9], axis: nil, grid: .activations
        ).value.scalars
        for ((i, _), r) in zip(finite, reference) {
            XCTAssertEqual(Float(q[i]), (r / scale).rounded() + 9, "value \(values[i])")
        }
        XCTAssertEqual(q[values.firstIndex { $0.isNaN }!], 0, "NaN")
        XCTAssertEqual(q[values.firstIndex(of: .infinity)!], 127)
        XCTAssertEqual(q[values.firstIndex(of: -.infinity)!], 0)
    }

    /// The int8 model's logits equal the fake-quantised model's up to float32 summation: the
    /// integer product is exact, so the difference is the rounding of a float dot product of
    /// `depth` terms, bounded here by 1e-4 of the largest logit.
    func testInt8ModelMatchesFakeQuantModel() throws {
        var generator = RandomGenerator(seed: 3)
        let float = Sequential([
            Conv2d(1, 4, kernel: 3, padding: 1, generator: &generator), Activation(.relu), Pool2d(.max, kernel: 2),
            Flatten(), Linear(4 * 4 * 4, 16, generator: &generator), Activation(.relu), Linear(16, 3, generator: &generator),
        ])
        let x = generator.normal([10, 1, 8, 8])
        let qat = try Quantizer.prepare(float, stage: .quantizationAware, perChannel: true)
        qat.isTraining = true
        _ = try qat.forward(Variable(x))
        qat.isTraining = false
        let fake = try qat.forward(Variable(x)).value
        let int8 = try Quantizer.convert(qat)
        let logits = try int8.forward(Variable(x)).value
        let largest = fake.scalars.map(Swift.abs).max() ?? 1
        for (a, b) in zip(logits.scalars, fake.scalars) { XCTAssertEqual(a, b, accuracy: 1e-4 * largest) }
        XCTAssertTrue(int8.layers.contains { $0 is QuantizedConv2d })
        XCTAssertTrue(int8.layers.contains { $0 is QuantizedLinear })
    }

    /// The int8 convolution's blocks and the int8 GEMM's rows, shared out over OpenMP's pool when
    /// oneDNN is the GEMM (chosen here so it runs on every CPU), give the same bits on one and two threads.
    func testInt8ConvolutionIsTheSameBitsOnTwoThreads() throws {
        let saved = (BLAS.gemmLibrary, BLAS.threadCount)
        defer { (BLAS.gemmLibrary, BLAS.threadCount) = saved }
        BLAS.gemmLibrary = .oneDNN
        var generator = RandomGenerator(seed: 5)
        let float = Sequential([
            Conv2d(3, 16, kernel: 3, padding: 1, generator: &generator), Activation(.relu), Pool2d(.max, kernel: 2),
            Flatten(), Linear(16 * 16 * 16, 64, generator: &generator),
        ])
        let x = generator.normal([24, 3, 32, 32])
        let observed = try Quantizer.prepare(float, stage: .calibrating, perChannel: true)
        _ = try observed.forward(Variable(x))
        let int8 = try Quantizer.convert(observed)
        BLAS.threadCount = 1
        let one = try int8.forward(Variable(x)).value.scalars
        BLAS.threadCount = 2
        let two = try int8.forward(Variable(x)).value.scalars
        XCTAssertEqual(one.map(\.bitPattern), two.map(\.bitPattern))
    }

    /// `Sequential` runs an int8 linear layer and the ReLU after it as one pass (requantised straight
    /// into ReLU's values, in blocks of rows over OpenMP's pool): the same bits as the layers run one
    /// by one, on one thread and on two, with a row count the blocks of four do not divide.
    func testInt8LinearWithReLUIsTheLayersApartOnOneAndTwoThreads() throws {
        let saved = (BLAS.gemmLibrary, BLAS.threadCount)
        defer { (BLAS.gemmLibrary, BLAS.threadCount) = saved }
        BLAS.gemmLibrary = .oneDNN
        var generator = RandomGenerator(seed: 8)
        let float = Sequential.perceptron([256, 256, 256, 10], generator: &generator)
        let x = generator.normal([82, 256])
        let observed = try Quantizer.prepare(float, stage: .calibrating, perChannel: true)
        _ = try observed.forward(Variable(x))
        let int8 = try Quantizer.convert(observed)
        XCTAssertEqual(int8.layers.filter { $0 is QuantizedLinear }.count, 3)
        var apart = Variable(x)
        var hidden = [Float]()
        for layer in int8.layers {
            apart = try layer.forward(apart)
            if layer is Activation, hidden.isEmpty { hidden = apart.value.scalars }
        }
        XCTAssertTrue(hidden.contains(0), "the first ReLU clips something")
        for threads in [1, 2] {
            BLAS.threadCount = threads
            let fused = try int8.forward(Variable(x)).value.scalars
            XCTAssertEqual(fused.map(\.bitPattern), apart.value.scalars.map(\.bitPattern), "\(threads) thread(s)")
            // The hidden layer's own values (the next layer's grid starts at 0, so the model's
            // output alone would not see a ReLU lost).
            let first = try Sequential(Array(int8.layers.prefix(2))).forward(Variable(x)).value.scalars
            XCTAssertEqual(first.map(\.bitPattern), hidden.map(\.bitPattern), "\(threads) thread(s)")
        }
    }

    /// Int8 linear layers in a row, with and without a ReLU between them, each handing the next its
    /// rows quantised onto the next one's grid: the same bits as the layers apart on one and two
    /// threads (enough rows and width for two blocks), each layer on its own grid (zero points
    /// 37, 0, 127 and 5), a NaN bias (NaN lands on the next grid's 0), output counts off the vector
    /// width; with the chain off the same bits; shapes that do not follow give the layers' error; a
    /// trace keeps the layers apart.
    func testInt8LinearChainIsTheLayersApart() throws {
        let saved = (BLAS.gemmLibrary, BLAS.threadCount)
        defer { (BLAS.gemmLibrary, BLAS.threadCount) = saved }
        BLAS.gemmLibrary = .oneDNN
        var g = RandomGenerator(seed: 21)
        func linear(_ inputs: Int, _ outputs: Int, zero: Int, nanBias: Bool = false) throws -> QuantizedLinear {
            var bias = (0..<outputs).map { _ in Float(g.nextInt(below: 200) - 100) * 1e-2 }
            if nanBias { bias[0] = .nan }
            return QuantizedLinear(
                try Int8Weights(
                    shape: [outputs, inputs], values: (0..<outputs * inputs).map { _ in Int8(g.nextInt(below: 255) - 127) },
                    scales: (0..<outputs).map { _ in Float(g.nextInt(below: 100) + 1) * 1e-3 }, bias: bias,
                    input: QuantParams(scale: 0.02 * Float(zero + 1), zeroPoint: zero)))
        }
        let layers: [Layer] = [
            try linear(200, 130, zero: 37, nanBias: true), Activation(.relu), try linear(130, 90, zero: 0),
            try linear(90, 170, zero: 127), Activation(.relu), try linear(170, 5, zero: 5),
        ]
        let model = Sequential(layers)
        let x = Variable(g.normal([3, 40, 200], std: 2))
        let apart = try layers.reduce(x) { try $1.forward($0) }.value
        XCTAssertEqual(apart.shape, [3, 40, 5])
        XCTAssertGreaterThan(Set(apart.scalars).count, 20, "the outputs vary")
        // Two threads first: a buffer left by the one-thread run could hold the right values already.
        for threads in [2, 1] {
            BLAS.threadCount = threads
            let chained = try model.forward(x).value
            XCTAssertEqual(chained.shape, apart.shape)
            XCTAssertTrue(chained.scalars.map(\.bitPattern) == apart.scalars.map(\.bitPattern), "\(threads) thread(s)")
        }
        Int8Chain.isEnabled = false
        let unchained = try model.forward(x).value
        Int8Chain.isEnabled = true
        XCTAssertTrue(unchained.scalars.map(\.bitPattern) == apart.scalars.map(\.bitPattern), "chain off")

        XCTAssertEqual(try model.forward(Variable(.zeros([0, 200]))).shape, [0, 5], "an empty batch")

        let mismatched: [Layer] = [try linear(200, 13, zero: 1), Activation(.relu), try linear(12, 4, zero: 2)]
        let error = errorMessage { try Sequential(mismatched).forward(x) }
        XCTAssertTrue(error.contains("does not match int8 weight [4, 12]"), error)
        // The layer runs alone there (a chain needs matching widths), so its error names its place.
        XCTAssertEqual(
            error,
            errorMessage { try mismatched.reduce(x) { try $1.forward($0) } }
                + " (in layer 2 of the model, QuantizedLinear(12 → 4, int8))")

        let graph = try Graph.trace(inputs: [("x", x.value)], parameters: []) { [try model.forward($0[0])] }
        XCTAssertEqual(graph.nodes.map(\.op.name), ["int8_linear", "relu", "int8_linear", "int8_linear", "relu", "int8_linear"])
    }

    /// An int8 model saves as int8 weights with float scales (the size `storedBytes` reports is the
    /// file's), and a model rebuilt from the file predicts bit for bit the same.
    func testInt8ModelSavesAndReloadsBitIdentically() throws {
        var g = RandomGenerator(seed: 5)
        let float = Sequential([
            Conv2d(1, 3, kernel: 3, generator: &g), Activation(.relu), Flatten(), Linear(3 * 4 * 4, 4, generator: &g),
        ])
        let x = g.normal([6, 1, 6, 6])
        let observed = try Quantizer.prepare(float, stage: .calibrating, perChannel: false)
        _ = try observed.forward(Variable(x))
        let int8 = try Quantizer.convert(observed)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("retort-int8-\(getpid()).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try SafeTensors.save(int8, to: path, metadata: Quantizer.int8Metadata)
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int
        XCTAssertEqual(size, Quantizer.storedBytes(int8))
        let file = try SafeTensors.read(path: path)
        XCTAssertEqual(file.metadata?["retort_format"], "int8")
        XCTAssertEqual(file.tensors.first { $0.name == "0.weight_scale" }?.tensor.shape, [1], "per tensor: one scale")
        let rebuilt = try Quantizer.int8Skeleton(float, perChannel: false)
        try SafeTensors.load(from: path, into: rebuilt)
        XCTAssertEqual(try rebuilt.forward(Variable(x)).value.scalars, try int8.forward(Variable(x)).value.scalars)
    }

    /// The int8 layers check their outputs against the memory budget, as the float ones do: a padding
    /// of 10⁹ or a wide layer on many rows is an error naming the shape, not terabytes asked of malloc.
    func testInt8LayersCheckTheirOutputsAgainstTheBudget() throws {
        let input = QuantParams(scale: 0.1, zeroPoint: 0)
        let kernel = try Int8Weights(
            shape: [1, 1, 3, 3], values: Array(repeating: 1, count: 9), scales: [0.1], bias: nil, input: input)
        let conv = QuantizedConv2d(kernel, stride: 1, padding: 1_000_000_000)
        XCTAssertThrowsError(try conv.forward(Variable(.zeros([1, 1, 8, 8])))) { error in
            XCTAssertEqual(
                "\(error)", "conv2d: a tensor of shape [1, 1, 2000000006, 2000000006] needs more bytes than memory can address")
        }
        let wide = try Int8Weights(
            shape: [100_000, 1], values: Array(repeating: 1, count: 100_000), scales: [0.1], bias: nil, input: input)
        XCTAssertThrowsError(try QuantizedLinear(wide).forward(Variable(.zeros([100_000, 1])))) { error in
            XCTAssertTrue("\(error)".hasPrefix("linear: a tensor of shape [100000, 100000] needs 37.3 GiB"), "\(error)")
        }
    }

    /// Quantisation reaches the Linear layers inside a GPT's blocks, attention's fused and output
    /// projections too, which keep nanoGPT's names; the int8 GPT saves and reloads bit for bit.
    func testAGPTsBlocksQuantiseUnderTheirNames() throws {
        var g = RandomGenerator(seed: 7)
        let float = try GPT.make(vocabulary: 11, block: 6, layers: 2, heads: 2, width: 8, generator: &g)
        let ids = try Tensor(shape: [4, 6], scalars: (0..<24).map { Float(($0 * 7) % 11) })
        let observed = try Quantizer.prepare(float, stage: .calibrating, perChannel: true)
        observed.isTraining = false
        XCTAssertEqual(observed.modules(of: FakeQuantized.self).count, 8)
        _ = try observed.forward(Variable(ids))
        let int8 = try Quantizer.convert(observed)
        XCTAssertEqual(
            int8.modules(of: QuantizedLinear.self).map(\.name).prefix(4),
            [
                "transformer.h.0.attn.c_attn", "transformer.h.0.attn.c_proj", "transformer.h.0.mlp.c_fc",
                "transformer.h.0.mlp.c_proj",
            ])
        let names = Set(int8.namedInt8Buffers.map(\.name))
        XCTAssertTrue(names.isSuperset(of: ["transformer.h.1.attn.c_attn.weight", "transformer.h.1.attn.c_proj.weight"]))
        XCTAssertTrue(int8.namedBuffers.contains { $0.name == "transformer.h.0.attn.c_proj.input_scale" })
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("retort-int8-gpt-\(getpid()).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try SafeTensors.save(int8, to: path, metadata: Quantizer.int8Metadata)
        let rebuilt = try Quantizer.int8Skeleton(float, perChannel: true)
        try SafeTensors.load(from: path, into: rebuilt)
        XCTAssertEqual(try rebuilt.forward(Variable(ids)).value.scalars, try int8.forward(Variable(ids)).value.scalars)
        let attention = try XCTUnwrap(float.modules(of: SelfAttention.self).first?.layer)
        XCTAssertThrowsError(try attention.replaceChild("c_proj", with: Linear(8, 24, generator: &g))) {
            XCTAssertTrue("\($0)".contains("must stay a linear layer 8 → 8"), "\($0)")
        }
    }

    /// A scale that is not positive and finite, or a zero point off the grid, would give wrong
    /// numbers without a word: refused, and a file holding one leaves the model as it was.
    func testBadScalesAndZeroPointsAreRefused() throws {
        let good = QuantParams(scale: 0.1, zeroPoint: 3)
        for (scales, input) in [
            ([Float(0.1), 0], good), ([Float(0.1), .nan], good), ([Float(0.1), 0.2], QuantParams(scale: 0, zeroPoint: 3)),
            ([Float(0.1), 0.2], QuantParams(scale: .infinity, zeroPoint: 3)),
            ([Float(0.1), 0.2], QuantParams(scale: 0.1, zeroPoint: 200)),
        ] {
            XCTAssertThrowsError(try Int8Weights(shape: [2, 2], values: [1, 2, 3, 4], scales: scales, bias: nil, input: input))
        }
        var g = RandomGenerator(seed: 6)
        let float = Sequential([Linear(4, 3, generator: &g)])
        let x = g.normal([5, 4])
        let observed = try Quantizer.prepare(float, stage: .calibrating, perChannel: true)
        _ = try observed.forward(Variable(x))
        let int8 = try Quantizer.convert(observed)
        let before = try int8.forward(Variable(x)).value.scalars
        var tensors = int8.namedBuffers + int8.namedInt8Buffers
        tensors = tensors.map { $0.name == "0.input_scale" ? ($0.name, Tensor(0)) : $0 }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("retort-bad-scale-\(getpid()).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try SafeTensors.write(tensors, to: path)
        XCTAssertThrowsError(try SafeTensors.load(from: path, into: int8)) { error in
            XCTAssertTrue("\(error)".contains("positive and finite"), "\(error)")
        }
        XCTAssertEqual(try int8.forward(Variable(x)).value.scalars, before, "the model is as it was")
    }

    /// A layer that never saw an input cannot be converted; a float layer with parameters that is
    /// not Linear, Conv2d or a norm is refused by name.
    func testRefusals() throws {
        var generator = RandomGenerator(seed: 4)
        let qat = try Quantizer.prepare(
            Sequential([Linear(3, 2, generator: &generator)]), stage: .quantizationAware, perChannel: true)
        XCTAssertThrowsError(try Quantizer.convert(qat)) { error in
            XCTAssertTrue("\(error)".contains("has seen no finite input"), "\(error)")
        }
        XCTAssertThrowsError(try Quantizer.convert(Sequential([Linear(3, 2, generator: &generator)])))
    }

    /// One Linear at two places of a model computes twice a pass: its one input range would cover
    /// both inputs. Calibration refuses it when the model has never run (no shape to trace), and
    /// preparing refuses it when it has.
    func testALayerCalledTwiceInAPassIsRefused() throws {
        var generator = RandomGenerator(seed: 6)
        let shared = Linear(4, 4, generator: &generator)
        let model = Sequential([shared, Activation(.relu), shared])
        let observed = try Quantizer.prepare(model, stage: .calibrating, perChannel: true)
        XCTAssertThrowsError(try Calibration.observe(observed, on: generator.normal([5, 4]))) { error in
            XCTAssertTrue("\(error)".contains("is called 2 times in one forward pass"), "\(error)")
        }
        _ = try model.forward(Variable(generator.normal([5, 4])))
        XCTAssertThrowsError(try Quantizer.prepare(model, stage: .quantizationAware, perChannel: true)) { error in
            XCTAssertTrue("\(error)".contains("layer 0 (Linear(4 → 4)) is called 2 times"), "\(error)")
        }
        let apart = Sequential([shared, Activation(.relu), shared.copy()])
        let prepared = try Quantizer.prepare(apart, stage: .calibrating, perChannel: true)
        try Calibration.observe(prepared, on: generator.normal([5, 4]))
        XCTAssertNoThrow(try Quantizer.convert(prepared))
    }
}
