import XCTest

@testable import RetortTensor

/// A linear layer's weights packed for oneDNN's matmul primitive (PackedWeights.swift): packed on
/// their second product with the same values, giving the plain GEMM's result up to rounding, and
/// never used once the weights changed, were replaced, or from inside a parallel region.
final class PackedWeightsTests: XCTestCase {
    private var saved: (GemmLibrary, Int, Bool) = (.openBLAS, 1, true)

    override func setUp() {
        saved = (BLAS.gemmLibrary, BLAS.threadCount, PackedWeights.isEnabled)
        // Packing is used only with oneDNN's GEMM; choose it so the tests run on every CPU.
        BLAS.gemmLibrary = .oneDNN
        PackedWeights.isEnabled = true
        PackedWeights.removeAll()
    }

    override func tearDown() {
        (BLAS.gemmLibrary, BLAS.threadCount, PackedWeights.isEnabled) = saved
        PackedWeights.removeAll()
    }

    private func values(_ count: Int, seed: Int) -> [Float] {
        (0..<count).map { Float(($0 * 7919 + seed * 104_729) % 997) / 498.5 - 1 }
    }

    /// 64 rows through a 96 -> 80 layer: 491,520 multiply-adds, above oneDNN's minimum.
    private func layer(seed: Int) throws -> (x: Variable, w: Variable, b: Variable) {
        (
            Variable(try Tensor(shape: [64, 96], scalars: values(64 * 96, seed: seed))),
            Variable(try Tensor(shape: [80, 96], scalars: values(80 * 96, seed: seed + 1))),
            Variable(try Tensor(shape: [80], scalars: values(80, seed: seed + 2)))
        )
    }

    private func linear(_ x: Variable, _ w: Variable, _ b: Variable) throws -> [Float] {
        try Variable.linear(x, weight: w, bias: b).value.scalars
    }

    /// The product with packing switched off: one GEMM.
    private func plain(_ x: Variable, _ w: Variable, _ b: Variable) throws -> [Float] {
        PackedWeights.isEnabled = false
        defer { PackedWeights.isEnabled = true }
        return try linear(x, w, b)
    }

    private func assertClose(_ got: [Float], _ want: [Float], _ what: String, line: UInt = #line) {
        XCTAssertEqual(got.count, want.count, what, line: line)
        let worst = zip(got, want).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? .infinity
        XCTAssertLessThan(worst, 1e-5, "\(what): largest relative difference \(worst)", line: line)
    }

    func testRepeatedProductsArePackedAndAgreeWithTheGEMM() throws {
        for threads in [1, 2] {
            BLAS.threadCount = threads
            PackedWeights.removeAll()
            let (x, w, b) = try layer(seed: threads)
            let want = try plain(x, w, b)
            XCTAssertEqual(try linear(x, w, b), want, "the first product is the plain GEMM's")
            XCTAssertEqual(PackedWeights.packedCount, 0, "packed on the first product")
            assertClose(try linear(x, w, b), want, "second product at \(threads) thread(s)")
            XCTAssertEqual(PackedWeights.packedCount, 1, "not packed on the second product")
            assertClose(try linear(x, w, b), want, "third product at \(threads) thread(s)")
        }
    }

    func testAWriteInPlaceIsNeverMissed() throws {
        let (x, w, b) = try layer(seed: 10)
        for _ in 0..<2 { _ = try linear(x, w, b) }
        XCTAssertEqual(PackedWeights.packedCount, 1)
        for step in 1...3 {
            // As an optimizer's step does: in place, the storage kept.
            w.update { value in
                value.withUnsafeMutableBufferPointer { p in for i in p.indices { p[i] = p[i] * -0.5 + 0.01 } }
            }
            let want = try plain(x, w, b)
            for call in 1...3 { assertClose(try linear(x, w, b), want, "step \(step), product \(call)") }
        }
    }

    func testOtherWeightsOfTheSameShapeAreNotMistaken() throws {
        // Fresh weights each round, the previous freed: a new storage may get the old one's address.
        for round in 0..<8 {
            let (x, w, b) = try layer(seed: 20 + round)
            let want = try plain(x, w, b)
            for call in 1...3 { assertClose(try linear(x, w, b), want, "round \(round), product \(call)") }
        }
    }

    func testNewWeightsAtAFreedWeightsAddressAreNotMistaken() throws {
        let (x, _, b) = try layer(seed: 40)
        var w: Variable? = Variable(try Tensor(shape: [80, 96], scalars: values(80 * 96, seed: 41)))
        for _ in 0..<2 { _ = try linear(x, w!, b) }
        XCTAssertEqual(PackedWeights.packedCount, 1)
        let serial = w!.value.storage.serial
        w = nil
        // New weights, the same shape, no write in place yet, where the freed ones' memory may be.
        let fresh = Variable(try Tensor(shape: [80, 96], scalars: values(80 * 96, seed: 42)))
        XCTAssertNotEqual(fresh.value.storage.serial, serial, "a serial number was given twice")
        XCTAssertEqual(fresh.value.storage.writes, 0, "the same count of writes as the freed weights had")
        let want = try plain(x, fresh, b)
        for call in 1...3 { assertClose(try linear(x, fresh, b), want, "product \(call) with new weights") }
    }

    func testPastTheMemoryBudgetWeightsAreNotPacked() throws {
        let saved = PackedWeights.byteBudget
        defer { PackedWeights.byteBudget = saved }
        // Room for one 80×96 layer's copy, not two.
        PackedWeights.byteBudget = 80 * 96 * 4 + 100
        let (x, w, b) = try layer(seed: 50)
        let (_, other, _) = try layer(seed: 60)
        for _ in 0..<3 { _ = try linear(x, w, b) }
        XCTAssertEqual(PackedWeights.packedCount, 1)
        let want = try plain(x, other, b)
        for call in 1...3 { assertClose(try linear(x, other, b), want, "product \(call) past the budget") }
        XCTAssertEqual(PackedWeights.packedCount, 1, "packed past the budget")
    }

    /// The product asked for on one of two threads in a parallel region (packing refuses there and
    /// the GEMM runs): the whole product. It also came out whole with that refusal removed (oneDNN
    /// runs the primitive on the one thread it gets), so this pins the result, not the refusal.
    func testInsideAParallelRegionTheWholeProductIsComputed() throws {
        BLAS.threadCount = 2
        let (x, w, b) = try layer(seed: 30)
        let want = try plain(x, w, b)
        for _ in 0..<2 { _ = try linear(x, w, b) }
        XCTAssertEqual(PackedWeights.packedCount, 1, "packed for two threads")
        var got: [Float] = []
        var failure: Error?
        OneDNN.parallel(threads: 2) { thread, _ in
            guard thread == 0 else { return }
            do { got = try linear(x, w, b) } catch { failure = error }
        }
        XCTAssertNil(failure)
        assertClose(got, want, "inside a parallel region")
    }
}
