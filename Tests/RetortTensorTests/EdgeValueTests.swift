import Foundation
import RetortTensor
import XCTest

/// Values at NaN, infinity and empty batches where Retort once differed from PyTorch without a
/// word; each expected figure is PyTorch 2.13's (or, where PyTorch's is a NaN and the limit is
/// finite, the limit, as the comment says).
final class EdgeValueTests: XCTestCase {
    private func gradients(_ f: (Variable, Variable) throws -> Variable, _ a: [Float], _ b: [Float]) throws -> ([Float], [Float])
    {
        let (x, y) = (Variable(Tensor(a), requiresGrad: true), Variable(Tensor(b), requiresGrad: true))
        try f(x, y).sum().backward()
        return ((x.grad ?? .zeros([a.count])).scalars, (y.grad ?? .zeros([b.count])).scalars)
    }

    /// torch.maximum's gradient goes to both sides where an input is NaN (the NaN output depends on
    /// both), halves at a tie, and to the larger side otherwise; minimum's mirrors it.
    func testMaximumAndMinimumGiveANaNPositionsGradientToBothSides() throws {
        let a: [Float] = [.nan, 2, 1, 0]
        let b: [Float] = [0, 0, 1, .nan]
        let (maxA, maxB) = try gradients({ try $0.maximum($1) }, a, b)
        XCTAssertEqual(maxA, [1, 1, 0.5, 1])
        XCTAssertEqual(maxB, [1, 0, 0.5, 1])
        let (minA, minB) = try gradients({ try $0.minimum($1) }, a, b)
        XCTAssertEqual(minA, [1, 0, 0.5, 1])
        XCTAssertEqual(minB, [1, 1, 0.5, 1])
    }

    /// At an infinite logit the loss is its limit: +∞ for a wrong target, 0 for a right one.
    /// PyTorch 2.13 gives [inf, nan, 100, nan, nan] (docs/language.md); Retort gave NaN at +∞ with 0.
    func testBinaryCrossEntropyAtInfiniteLogitsIsItsLimit() throws {
        let loss = try Loss.binaryCrossEntropyWithLogits(
            Variable(Tensor([.infinity, -.infinity, 100, .infinity, -.infinity])), Variable(Tensor([0, 1, 0, 1, 0])),
            reduction: .none)
        XCTAssertEqual(loss.value.scalars, [.infinity, .infinity, 100, 0, 0])
    }

    /// The divisor's gradient of a % b at an infinite b is torch's −floor_divide(a, b): 1 where
    /// the signs differ (the value is infinite), 0 where they agree; it was NaN (∞ / ∞).
    func testRemaindersGradientAtAnInfiniteDivisor() throws {
        let a = Variable(Tensor([-1, 1, -2]))
        let b = Variable(Tensor([.infinity, .infinity, -.infinity]), requiresGrad: true)
        try a.remainder(b).sum().backward()
        XCTAssertEqual(b.grad?.scalars, [1, 0, 0])
    }

    /// kl_div's batchmean of an empty batch is 0 / 0, NaN as PyTorch's and as its own mean (it gave 0).
    func testKLDivergenceOfAnEmptyBatchIsNaN() throws {
        let empty = Variable(Tensor.zeros([0, 3]))
        XCTAssertTrue(try Loss.klDiv(empty, empty, reduction: .batchmean).value.scalars[0].isNaN)
        XCTAssertTrue(try Loss.klDiv(empty, empty, reduction: .mean).value.scalars[0].isNaN)
        XCTAssertEqual(try Loss.klDiv(empty, empty, reduction: .sum).value.scalars, [0])
    }
}
