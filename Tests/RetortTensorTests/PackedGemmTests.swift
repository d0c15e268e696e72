import XCTest

@testable import RetortTensor

/// Retort's own AVX2 GEMM on packed weights (PackedGemm.swift, retort_gemm.h): `x @ weightsᵀ`
/// against a double-precision loop for tile edges in every direction (rows not a multiple of 6 or
/// of the 72-row block, 7 to 9 rows left for the last two tiles to share, columns not a multiple of
/// 16, depths past one 512 block), the same bits at one, two and three threads, nothing written
/// past C; and `PackedWeights` using it for the large products OpenBLAS would run (forced on with
/// a low threshold, so it runs on every CPU with AVX2).
final class PackedGemmTests: XCTestCase {
    private var saved = (GemmLibrary.oneDNN, 1, false, 0, false, true)
    private var savedOwnPlain = true

    override func setUpWithError() throws {
        try super.setUpWithError()
        try XCTSkipUnless(PackedGemm.isAvailable, "this CPU has no AVX2 and FMA")
        saved = (
            BLAS.gemmLibrary, BLAS.threadCount, BLAS.largeProductsOnOpenBLAS, BLAS.openBLASMinimumWork,
            PackedWeights.usesOwnGemm, PackedWeights.isEnabled
        )
        savedOwnPlain = BLAS.largeProductsOnOwnGemm
        PackedWeights.removeAll()
    }

    override func tearDown() {
        (
            BLAS.gemmLibrary, BLAS.threadCount, BLAS.largeProductsOnOpenBLAS, BLAS.openBLASMinimumWork,
            PackedWeights.usesOwnGemm, PackedWeights.isEnabled
        ) = saved
        BLAS.largeProductsOnOwnGemm = savedOwnPlain
        PackedWeights.removeAll()
        super.tearDown()
    }

    func testProductsAgreeWithADoubleLoopAtEveryThreadCount() {
        var state: UInt64 = 11
        let shapes = [
            (1, 16, 8), (5, 1, 3), (6, 17, 512), (7, 15, 513), (8, 31, 40), (9, 16, 600), (13, 40, 100),
            (32, 24, 70), (72, 33, 64), (73, 16, 1030), (150, 50, 511), (128, 80, 784),
        ]
        for (m, n, k) in shapes {
            let x = uniformValues(m * k, &state)
            let w = uniformValues(n * k, &state)
            // A wrong index errs by a whole term, far past the rounding bound.
            let (want, bound) = exactProduct(m: m, n: n, k: k) { i, j, p in (x[i * k + p], w[j * k + p]) }
            let packed = w.withUnsafeBufferPointer { PackedGemm(weights: $0.baseAddress!, n: n, k: k) }
            assertAgreesAtEveryThreadCount(m: m, n: n, k: k, want: want, bound: bound) { threads, c in
                x.withUnsafeBufferPointer { px in packed.product(m: m, x: px.baseAddress!, c: c, threads: threads) }
            }
        }
    }

    /// `a @ b` with B packed on the call (`BLAS.largeProductsOnOwnGemm`), each thread packing its
    /// own panels as their first tile multiplies them: within the rounding bound, the same bits at
    /// one, two and three threads, and the same bits as the product on B packed first.
    func testPlainProductsPackBOnTheCallAndAgreeWithADoubleLoop() {
        var state: UInt64 = 17
        let shapes = [(1, 16, 8), (7, 15, 513), (9, 40, 600), (73, 33, 1030), (128, 80, 784), (80, 47, 70)]
        for (m, n, k) in shapes {
            let a = uniformValues(m * k, &state)
            let b = uniformValues(k * n, &state)
            let (want, bound) = exactProduct(m: m, n: n, k: k) { i, j, p in (a[i * k + p], b[p * n + j]) }
            var onTheCall = [Float]()
            assertAgreesAtEveryThreadCount(m: m, n: n, k: k, want: want, bound: bound) { threads, c in
                PackedGemm.product(m: m, n: n, k: k, a: a, b: b, c: c, threads: threads)
                onTheCall = Array(UnsafeBufferPointer(start: c, count: m * n))
            }
            // B as a layer's weights [n, k], packed once.
            let weights = (0..<(n * k)).map { b[($0 % k) * n + $0 / k] }
            let packed = weights.withUnsafeBufferPointer { PackedGemm(weights: $0.baseAddress!, n: n, k: k) }
            var packedFirst = [Float](repeating: .nan, count: m * n)
            packedFirst.withUnsafeMutableBufferPointer { packed.product(m: m, x: a, c: $0.baseAddress!, threads: 1) }
            let differing = (0..<(m * n)).filter { onTheCall[$0].bitPattern != packedFirst[$0].bitPattern }
            let shape = "\(m)x\(n)x\(k)"
            XCTAssertEqual(differing.count, 0, "\(shape): bits unlike B packed first, first at \(differing.first ?? 0)")
        }
    }

    /// `BLAS.gemm` gives the own GEMM only the large products with neither matrix transposed,
    /// alpha 1 and beta 0, an inner dimension under `ownGemmDepthLimit` and a B of at most
    /// `transposedCopyMaximumValues` values: those have its bits; the others (OpenBLAS's) still
    /// honour the transposes, alpha and beta.
    func testGemmGivesTheOwnGemmOnlyPlainProducts() {
        (BLAS.gemmLibrary, BLAS.largeProductsOnOpenBLAS, BLAS.openBLASMinimumWork) = (.oneDNN, true, 1 << 10)
        BLAS.largeProductsOnOwnGemm = true
        var state: UInt64 = 23
        let (m, n, k) = (40, 48, 70)
        let a = uniformValues(m * k, &state)
        let b = uniformValues(k * n, &state)
        let c0 = uniformValues(m * n, &state)
        func gemm(_ transposeA: Bool, _ transposeB: Bool, _ alpha: Float, _ beta: Float) -> [Float] {
            var c = c0
            c.withUnsafeMutableBufferPointer { pc in
                BLAS.gemm(
                    m: m, n: n, k: k, a: a, transposeA: transposeA, b: b, transposeB: transposeB, c: pc.baseAddress!,
                    alpha: alpha, beta: beta)
            }
            return c
        }
        for threads in [1, 2] {
            BLAS.threadCount = threads
            var own = [Float](repeating: 0, count: m * n)
            own.withUnsafeMutableBufferPointer { pc in
                PackedGemm.product(m: m, n: n, k: k, a: a, b: b, c: pc.baseAddress!, threads: threads)
            }
            XCTAssertEqual(gemm(false, false, 1, 0).map(\.bitPattern), own.map(\.bitPattern), "at \(threads) thread(s)")
            for (transposeA, transposeB, alpha, beta) in [
                (false, false, 2, 0), (false, false, 1, 0.5), (true, false, 1, 0), (false, true, 1, 0),
                (true, true, -1, 1),
            ] as [(Bool, Bool, Float, Float)] {
                let (want, bound) = exactProduct(m: m, n: n, k: k) { i, j, p in
                    (a[transposeA ? p * m + i : i * k + p], b[transposeB ? j * k + p : p * n + j])
                }
                let got = gemm(transposeA, transposeB, alpha, beta)
                let worst =
                    (0..<(m * n)).map { index -> Double in
                        let expected = Double(alpha) * want[index] + Double(beta) * Double(c0[index])
                        return abs(Double(got[index]) - expected) / (abs(Double(alpha)) * bound[index] + 1e-6)
                    }.max() ?? .infinity
                XCTAssertLessThan(worst, 2, "A\(transposeA ? "ᵀ" : "") B\(transposeB ? "ᵀ" : "") alpha \(alpha) beta \(beta)")
            }
        }
    }

    /// An inner dimension of `ownGemmDepthLimit` or a B past `transposedCopyMaximumValues` values
    /// stays on OpenBLAS (its parts' thread count is set), a plain product under both does not.
    func testDeepOrLargeProductsStayOnOpenBLAS() {
        (BLAS.gemmLibrary, BLAS.largeProductsOnOpenBLAS, BLAS.openBLASMinimumWork) = (.oneDNN, true, 1 << 10)
        BLAS.largeProductsOnOwnGemm = true
        BLAS.threadCount = 1
        let wide = BLAS.transposedCopyMaximumValues / 500 + 16
        for (n, k, onOpenBLAS) in [(48, 70, false), (16, BLAS.ownGemmDepthLimit, true), (wide, 500, true)] {
            let m = 2
            var c = [Float](repeating: 0, count: m * n)
            let (a, b) = ([Float](repeating: 0.5, count: m * k), [Float](repeating: 0.25, count: k * n))
            BLAS.largeProductThreadsForTesting = 0
            c.withUnsafeMutableBufferPointer { pc in BLAS.gemm(m: m, n: n, k: k, a: a, b: b, c: pc.baseAddress!) }
            XCTAssertEqual(BLAS.largeProductThreadsForTesting != 0, onOpenBLAS, "\(m)x\(n)x\(k)")
            XCTAssertEqual(c, [Float](repeating: Float(k) / 8, count: m * n), "\(m)x\(n)x\(k)")
        }
    }

    func testAnEmptyInnerDimensionGivesZeros() {
        let packed = PackedGemm(weights: [Float](repeating: 1, count: 1), n: 20, k: 0)
        var c = [Float](repeating: .nan, count: 3 * 20)
        c.withUnsafeMutableBufferPointer { pc in
            packed.product(m: 3, x: [Float](repeating: 1, count: 1), c: pc.baseAddress!, threads: 2)
        }
        XCTAssertEqual(c, [Float](repeating: 0, count: 3 * 20))
    }

    /// A linear layer's large product, where `gemm` gives it to OpenBLAS, is packed for the own GEMM
    /// on its second product, agrees with the plain product, and is packed again after a write.
    func testLargeLinearProductsRunOnTheOwnGemm() throws {
        (BLAS.gemmLibrary, BLAS.largeProductsOnOpenBLAS, BLAS.openBLASMinimumWork) = (.oneDNN, true, 1 << 10)
        (PackedWeights.usesOwnGemm, PackedWeights.isEnabled) = (true, true)
        var state: UInt64 = 5
        let x = Variable(try Tensor(shape: [40, 70], scalars: uniformValues(40 * 70, &state)))
        let w = Variable(try Tensor(shape: [33, 70], scalars: uniformValues(33 * 70, &state)))
        let b = Variable(try Tensor(shape: [33], scalars: uniformValues(33, &state)))
        func linear() throws -> [Float] { try Variable.linear(x, weight: w, bias: b).value.scalars }
        func plain() throws -> [Float] {
            PackedWeights.isEnabled = false
            defer { PackedWeights.isEnabled = true }
            return try linear()
        }
        func assertClose(_ got: [Float], _ want: [Float], _ what: String) {
            let worst = zip(got, want).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? .infinity
            XCTAssertLessThan(worst, 1e-5, what)
        }
        for threads in [1, 2] {
            BLAS.threadCount = threads
            PackedWeights.removeAll()
            let want = try plain()
            XCTAssertEqual(try linear(), want, "the first product is the plain GEMM's")
            XCTAssertEqual(PackedWeights.ownGemmCount, 0)
            assertClose(try linear(), want, "second product at \(threads) thread(s)")
            XCTAssertEqual(PackedWeights.ownGemmCount, 1, "not packed for the own GEMM")
            w.update { value in
                value.withUnsafeMutableBufferPointer { p in for i in p.indices { p[i] = p[i] * -0.5 + 0.01 } }
            }
            let changed = try plain()
            for call in 1...3 { assertClose(try linear(), changed, "after a write, product \(call)") }
        }
        // Switched off, or below the threshold: not on the own GEMM.
        for (own, minimum) in [(false, 1 << 10), (true, 1 << 30)] {
            (PackedWeights.usesOwnGemm, BLAS.openBLASMinimumWork) = (own, minimum)
            PackedWeights.removeAll()
            for _ in 0..<3 { _ = try linear() }
            XCTAssertEqual(PackedWeights.ownGemmCount, 0, "own \(own), minimum \(minimum)")
        }
    }

    func testOnByDefaultWhereTheCPUHasAVX2() {
        XCTAssertEqual(saved.4, CPU.hasAVX2FMA)
        XCTAssertEqual(savedOwnPlain, CPU.hasAVX2FMA)
    }

    /// Runs `product(threads, c)` at one, two and three threads into a C with sentinels past it:
    /// nothing written past C, every value within its rounding bound, the same bits at every count.
    private func assertAgreesAtEveryThreadCount(
        m: Int, n: Int, k: Int, want: [Double], bound: [Double], _ product: (Int, UnsafeMutablePointer<Float>) -> Void
    ) {
        var first: [Float]?
        for threads in [1, 2, 3] {
            var c = [Float](repeating: .nan, count: m * n + 8)
            c.withUnsafeMutableBufferPointer { pc in product(threads, pc.baseAddress!) }
            let shape = "\(m)x\(n)x\(k) at \(threads) thread(s)"
            XCTAssertTrue(c[(m * n)...].allSatisfy(\.isNaN), "\(shape): written past C")
            let got = Array(c[..<(m * n)])
            let outside = (0..<(m * n)).filter { abs(Double(got[$0]) - want[$0]) > bound[$0] + 1e-30 }
            XCTAssertEqual(outside.count, 0, "\(shape): outside the bound first at \(outside.first ?? 0)")
            if let first {
                XCTAssertEqual(got.map(\.bitPattern), first.map(\.bitPattern), "\(shape): other bits than at one")
            } else {
                first = got
            }
        }
    }

    /// The exact sums of `C = A @ B` (`terms(i, j, p)` gives A's and B's values) and each one's
    /// rounding bound for k float multiply-adds in any order: k * 2^-24 * the sum of its terms'
    /// magnitudes.
    private func exactProduct(m: Int, n: Int, k: Int, _ terms: (Int, Int, Int) -> (Float, Float)) -> (
        [Double], [Double]
    ) {
        var want = [Double](repeating: 0, count: m * n)
        var bound = [Double](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                for p in 0..<k {
                    let (x, y) = terms(i, j, p)
                    let term = Double(x) * Double(y)
                    want[i * n + j] += term
                    bound[i * n + j] += abs(term) * Double(k) / Double(1 << 24)
                }
            }
        }
        return (want, bound)
    }
}
