import XCTest

@testable import RetortTensor

/// ReLU as `torch.relu`: negatives become 0 while NaN, -0 and +inf pass through, so a NaN from a
/// diverging model is never hidden; the gradient passes where x is not ≤ 0 (NaN included). The
/// expected values are PyTorch 2.15's for the same input.
final class ReLUTests: XCTestCase {
    /// The six values alone (the C loop's scalar tail) and repeated 100 times (its vector body).
    func testNaNAndSignedZeroPassAsInPyTorch() throws {
        let values: [Float] = [.nan, -0.0, -1, 2, .infinity, -.infinity]
        for copies in [1, 100] {
            let x = Variable(Tensor(Array([[Float]](repeating: values, count: copies).joined())), requiresGrad: true)
            let y = x.relu()
            for (i, out) in y.value.scalars.enumerated() {
                switch i % 6 {
                case 0: XCTAssertTrue(out.isNaN, "relu(NaN) is NaN, at \(i)")
                case 1: XCTAssertEqual(out.bitPattern, Float(-0.0).bitPattern, "relu(-0) is -0, at \(i)")
                default: XCTAssertEqual(out, [0, 2, .infinity, 0][i % 6 - 2], "at \(i)")
                }
            }
            try y.sum().backward()
            XCTAssertEqual(x.grad?.scalars, Array([[Float]](repeating: [1, 0, 0, 1, 1, 0], count: copies).joined()))
        }
    }
}
