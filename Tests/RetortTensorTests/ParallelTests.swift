import XCTest

@testable import RetortTensor

/// Loops split over OpenMP's pool (Parallel.swift) give the same bits at one thread and at two:
/// convolution forward and backward, max pooling, and every index visited once.
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
