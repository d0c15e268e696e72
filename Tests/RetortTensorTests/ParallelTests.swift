import XCTest

@testable import RetortTensor

/// Loops split over OpenMP's pool (Parallel.swift) give the same bits at one thread and at two:
/// convolution forward and backward, max pooling, a transformer block's attention, layer norm and
/// GELU forward and backward, a linear layer's bias forward and backward, and every index visited
/// once.
final class ParallelTests: XCTestCase {
    private var saved: (GemmLibrary, Int) = (.openBLAS, 1)

    override func setUp() {
        saved = (BLAS.gemmLibrary, BLAS.threadCount)
        // The pool is used only with oneDNN's GEMM; choose it so the split runs on every CPU.
        BLAS.gemmLibrary = .oneDNN
    }

    override func tearDown() {
        (BLAS.gemmLibrary, BLAS.threadCount) = saved
    }

    private func values(_ count: Int, seed: Int) -> [Float] {
        (0..<count).map { Float(($0 * 7919 + seed * 104_729) % 997) / 498.5 - 1 }
    }

    /// Output, input gradient and weight gradient of conv → ReLU → 2×2 max pool → sum.
    private func convolution(threads: Int) throws -> [[Float]] {
        BLAS.threadCount = threads
        let x = Variable(try Tensor(shape: [16, 3, 18, 18], scalars: values(16 * 3 * 18 * 18, seed: 1)), requiresGrad: true)
        let w = Variable(try Tensor(shape: [8, 3, 3, 3], scalars: values(8 * 27, seed: 2)), requiresGrad: true)
        let b = Variable(try Tensor(shape: [8], scalars: values(8, seed: 3)), requiresGrad: true)
        let pooled = try Variable.conv2d(x, weight: w, bias: b, padding: 1).relu().maxPool2d(kernel: 2)
        try pooled.sum().backward()
        return [pooled.value.scalars, x.grad?.scalars ?? [], w.grad?.scalars ?? [], b.grad?.scalars ?? []]
    }

    func testConvolutionAndPoolingAreTheSameBitsOnTwoThreads() throws {
        XCTAssertGreaterThan(16 * 27 * 18 * 18, Parallel.threshold, "the test's unfolding must be large enough to split")
        let one = try convolution(threads: 1)
        let two = try convolution(threads: 2)
        for (name, (a, b)) in zip(["output", "input gradient", "weight gradient", "bias gradient"], zip(one, two)) {
            XCTAssertFalse(a.isEmpty, name)
            XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern), "\(name) differs between one and two threads")
        }
    }

    /// Output and gradients of attention over a fused projection → layer norm → GELU → weighted sum,
    /// with sizes that split (every loop above the threshold) and lanes and values that do not
    /// divide evenly between two threads.
    private func transformerPieces(threads: Int) throws -> [[Float]] {
        BLAS.threadCount = threads
        let (n, t, heads, width) = (37, 16, 4, 64)
        let qkv = Variable(
            try Tensor(shape: [n, t, 3 * width], scalars: values(n * t * 3 * width, seed: 4)), requiresGrad: true)
        let weight = Variable(try Tensor(shape: [width], scalars: values(width, seed: 5)), requiresGrad: true)
        let bias = Variable(try Tensor(shape: [width], scalars: values(width, seed: 6)), requiresGrad: true)
        let scale = Variable(try Tensor(shape: [n, t, width], scalars: values(n * t * width, seed: 7)))
        let (attended, _) = try Attention.heads(qkv, heads: heads, causal: true)
        let normed = try Normalization.layerNorm(attended, normalizedShape: [width], weight: weight, bias: bias)
        let out = normed.gelu()
        try (out * scale).sum().backward()
        return [out.value.scalars, qkv.grad?.scalars ?? [], weight.grad?.scalars ?? [], bias.grad?.scalars ?? []]
    }

    func testTransformerPiecesAreTheSameBitsOnTwoThreads() throws {
        XCTAssertGreaterThan(37 * 16 * 64, 2 * Parallel.threshold / 8, "layer norm's lanes must be large enough to split")
        let one = try transformerPieces(threads: 1)
        let two = try transformerPieces(threads: 2)
        for (name, (a, b)) in zip(["output", "projection gradient", "weight gradient", "bias gradient"], zip(one, two)) {
            XCTAssertFalse(a.isEmpty, name)
            XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern), "\(name) differs between one and two threads")
        }
    }

    /// A linear layer's output (its bias added over rows split between the threads) and its bias
    /// gradient (columns split), with counts that do not divide evenly.
    private func linear(threads: Int) throws -> [[Float]] {
        BLAS.threadCount = threads
        let (rows, inputs, outputs) = (1001, 48, 72)
        let x = Variable(try Tensor(shape: [rows, inputs], scalars: values(rows * inputs, seed: 8)), requiresGrad: true)
        let w = Variable(try Tensor(shape: [outputs, inputs], scalars: values(outputs * inputs, seed: 9)), requiresGrad: true)
        let b = Variable(try Tensor(shape: [outputs], scalars: values(outputs, seed: 10)), requiresGrad: true)
        let scale = Variable(try Tensor(shape: [rows, outputs], scalars: values(rows * outputs, seed: 11)))
        let out = try Variable.linear(x, weight: w, bias: b)
        try (out * scale).sum().backward()
        return [out.value.scalars, b.grad?.scalars ?? []]
    }

    /// Overlapping 3×3 windows, stride 2, padding 1, on values with many ties: an input that wins
    /// several windows gets their gradients added in output order, plane by plane on any thread.
    /// Returns the input's gradient, and the same sums written out here: the first largest value
    /// of each window wins (a later tie does not replace it), its weight added in output order.
    private func overlappingPool(threads: Int) throws -> (gradient: [Float], expected: [Float]) {
        BLAS.threadCount = threads
        let (planes, size, outSize) = (16 * 6, 21, 11)
        let scalars = values(planes * size * size, seed: 8).map { ($0 * 4).rounded() }
        let x = Variable(try Tensor(shape: [16, 6, size, size], scalars: scalars), requiresGrad: true)
        let pooled = try x.maxPool2d(kernel: 3, stride: 2, padding: 1)
        let weights = values(planes * outSize * outSize, seed: 9)
        try (pooled * Variable(try Tensor(shape: pooled.shape, scalars: weights))).sum().backward()
        var expected = [Float](repeating: 0, count: scalars.count)
        for plane in 0..<planes {
            for oy in 0..<outSize {
                for ox in 0..<outSize {
                    var winner = -1
                    for y in Swift.max(2 * oy - 1, 0)..<Swift.min(2 * oy + 2, size) {
                        for x in Swift.max(2 * ox - 1, 0)..<Swift.min(2 * ox + 2, size) {
                            let at = (plane * size + y) * size + x
                            if winner < 0 || scalars[at] > scalars[winner] { winner = at }
                        }
                    }
                    expected[winner] += weights[(plane * outSize + oy) * outSize + ox]
                }
            }
        }
        return (x.grad?.scalars ?? [], expected)
    }

    func testOverlappingMaxPoolGradientIsTheSameBitsOnTwoThreads() throws {
        // The backward's cost is 2·(inputs + outputs); two threads from 2·threshold.
        XCTAssertGreaterThanOrEqual(2 * 96 * (21 * 21 + 11 * 11), 2 * Parallel.threshold, "the planes must split")
        for threads in [1, 2] {
            let (gradient, expected) = try overlappingPool(threads: threads)
            XCTAssertEqual(gradient.map(\.bitPattern), expected.map(\.bitPattern), "\(threads) thread(s)")
            // Some input won more than one window (the case this test is for).
            let weightsSeen = Set(values(96 * 11 * 11, seed: 9).map(\.bitPattern))
            XCTAssertTrue(gradient.contains { $0 != 0 && !weightsSeen.contains($0.bitPattern) })
        }
    }

    func testLinearBiasIsTheSameBitsOnTwoThreads() throws {
        XCTAssertGreaterThanOrEqual(
            1001 * 72, 2 * Parallel.threshold, "the bias's rows and columns must be large enough to split")
        let one = try linear(threads: 1)
        let two = try linear(threads: 2)
        for (name, (a, b)) in zip(["output", "bias gradient"], zip(one, two)) {
            XCTAssertFalse(a.isEmpty, name)
            XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern), "\(name) differs between one and two threads")
        }
    }

    /// Sums, differences, products and quotients of same-shaped tensors, and a gradient accumulated
    /// from two uses of one variable, split over two and three threads in blocks of 64 values
    /// (`Tensor.splitsElementwise`), with a count that leaves a partial last block: each value the
    /// scalar operation's, bit for bit, and every value written.
    func testElementwiseOpsAndAccumulationAreTheScalarOnesOnSeveralThreads() throws {
        let count = 100_003
        XCTAssertGreaterThanOrEqual(2 * count, 3 * Parallel.threshold, "the values must split three ways")
        let (xs, ys) = (values(count, seed: 11), values(count, seed: 12).map { $0 + 3 })
        let (x, y) = (try Tensor(shape: [count], scalars: xs), try Tensor(shape: [count], scalars: ys))
        let operators: [(String, (Tensor, Tensor) throws -> Tensor, (Float, Float) -> Float)] = [
            ("+", { try $0 + $1 }, { $0 + $1 }), ("-", { try $0 - $1 }, { $0 - $1 }),
            ("*", { try $0 * $1 }, { $0 * $1 }), ("/", { try $0 / $1 }, { $0 / $1 }),
        ]
        for threads in [2, 3] {
            BLAS.threadCount = threads
            for (name, op, scalar) in operators {
                let got = try op(x, y).scalars
                let expected = zip(xs, ys).map { scalar($0, $1) }
                XCTAssertEqual(got.map(\.bitPattern), expected.map(\.bitPattern), "\(name) at \(threads) threads")
            }
            // v is used twice, so its gradient is one use's (y) added into the other's (1).
            let v = Variable(x, requiresGrad: true)
            try ((v * Variable(y)) + v).sum().backward()
            let expected = ys.map { $0 + 1 }
            XCTAssertEqual(
                try XCTUnwrap(v.grad).scalars.map(\.bitPattern), expected.map(\.bitPattern),
                "accumulated gradient at \(threads) threads")
        }
    }

    func testEveryIndexOnceOnTwoThreads() {
        BLAS.threadCount = 2
        let count = 100_003
        var visits = [Int](repeating: 0, count: count)
        visits.withUnsafeMutableBufferPointer { v in
            let base = v.baseAddress!
            Parallel.forEach(count, cost: count * 4) { range in
                for i in range { base[i] += 1 }
            }
        }
        XCTAssertEqual(visits.filter { $0 != 1 }.count, 0)
    }
}
