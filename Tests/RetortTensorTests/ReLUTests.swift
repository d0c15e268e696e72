import XCTest

@testable import RetortTensor

/// ReLU as `torch.relu`: negatives become 0 while NaN, -0 and +inf pass through, so a NaN from a
/// diverging model is never hidden; the gradient passes where x is not ≤ 0 (NaN included). The
/// expected values are PyTorch 2.15's for the same input.
final class ReLUTests: XCTestCase {
    func testNaNAndSignedZeroPassAsInPyTorch() throws {
        let x = Variable(Tensor([.nan, -0.0, -1, 2, .infinity, -.infinity]), requiresGrad: true)
        let y = x.relu()
        let out = y.value.scalars
        XCTAssertTrue(out[0].isNaN, "relu(NaN) is NaN")
        XCTAssertEqual(out[1].bitPattern, Float(-0.0).bitPattern, "relu(-0) is -0")
        XCTAssertEqual(Array(out[2...]), [0, 2, .infinity, 0])
        try y.sum().backward()
        XCTAssertEqual(x.grad?.scalars, [1, 0, 0, 1, 1, 0])
    }
}
