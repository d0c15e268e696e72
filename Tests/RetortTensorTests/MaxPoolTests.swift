import XCTest

@testable import RetortTensor

/// The 2×2 max pool's four-at-a-time path against the rule it must keep: the largest tap wins, the
/// first of equal values wins, a NaN wins (the last NaN of the window), for outputs and argmax alike.
final class MaxPoolTests: XCTestCase {
    func testTwoByTwoKeepsTheScalarRuleOnEveryLane() throws {
        // Width 18: each output row is two groups of four and one output left for the scalar loop.
        let (n, c, h, w) = (2, 3, 6, 18)
        var values = [Float]()
        for i in 0..<(n * c * h * w) {
            switch i % 11 {
            case 3: values.append(.nan)
            case 5, 6: values.append(1)  // ties
            default: values.append(Float((i * 7919) % 23) - 11)
            }
        }
        let x = try Tensor(shape: [n, c, h, w], scalars: values)
        let (out, argmax) = try Tensor.maxPool2d(x, kernel: 2, stride: 2, padding: 0)
        let (oh, ow) = (h / 2, w / 2)
        for plane in 0..<(n * c) {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    let top = plane * h * w + 2 * oy * w + 2 * ox
                    var (best, at) = (values[top], top)
                    for tap in [top + 1, top + w, top + w + 1] {
                        let v = values[tap]
                        if (v > best) != v.isNaN { (best, at) = (v, tap) }
                    }
                    let o = plane * oh * ow + oy * ow + ox
                    XCTAssertEqual(Int(argmax[o]), at, "argmax at plane \(plane) (\(oy), \(ox))")
                    XCTAssertTrue(out.scalars[o] == best || (best.isNaN && out.scalars[o].isNaN), "value at \(o)")
                }
            }
        }
    }
}
