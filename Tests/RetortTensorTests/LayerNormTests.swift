import Foundation
import XCTest

@testable import RetortTensor

/// The one-primitive layer norm against the composite a trace records, values and gradients, on
/// the shapes the GPT uses and on the edges (no weight or bias, several trailing dimensions, a
/// constant lane). The fixtures in TorchReferenceTests pin both against PyTorch.
final class LayerNormTests: XCTestCase {
    private struct Case {
        let shape: [Int]
        let normalized: [Int]
        let weight: Bool
        let bias: Bool
    }

    func testOnePrimitiveMatchesTheCompositeValuesAndGradients() throws {
        let cases = [
            Case(shape: [8, 16, 64], normalized: [64], weight: true, bias: true),
            Case(shape: [5, 7], normalized: [7], weight: false, bias: false),
            Case(shape: [3, 7], normalized: [7], weight: true, bias: false),
            Case(shape: [3, 7], normalized: [7], weight: false, bias: true),
            Case(shape: [2, 3, 4, 5], normalized: [4, 5], weight: true, bias: true),
            Case(shape: [4], normalized: [4], weight: true, bias: true),
        ]
        var generator = RandomGenerator(seed: 7)
        for c in cases {
            let x = generator.normal(c.shape, mean: 3, std: 2)
            let w = c.weight ? generator.normal(c.normalized, mean: 1, std: 0.3) : nil
            let b = c.bias ? generator.normal(c.normalized, std: 0.3) : nil
            let seed = generator.normal(c.shape)
            let axes = Array((c.shape.count - c.normalized.count)..<c.shape.count)

            func run(fused: Bool) throws -> (Tensor, [Tensor]) {
                let xv = Variable(x, requiresGrad: true)
                let wv = w.map { Variable($0, requiresGrad: true) }
                let bv = b.map { Variable($0, requiresGrad: true) }
                let y =
                    fused
                    ? try Normalization.layerNorm(xv, normalizedShape: c.normalized, weight: wv, bias: bv)
                    : try Normalization.compositeLayerNorm(xv, axes: axes, weight: wv, bias: bv, eps: 1e-5)
                try y.backward(seed: seed)
                let grads = ([xv] + [wv, bv].compactMap { $0 }).map { $0.grad ?? .zeros($0.shape) }
                return (y.value, grads)
            }
            let (fusedValue, fusedGrads) = try run(fused: true)
            let (compositeValue, compositeGrads) = try run(fused: false)
            assertClose(fusedValue, compositeValue, "\(c.shape) value: one primitive against the composite")
            XCTAssertEqual(fusedGrads.count, compositeGrads.count)
            for (i, (f, g)) in zip(fusedGrads, compositeGrads).enumerated() {
                assertClose(f, g, "\(c.shape) gradient \(i): one primitive against the composite")
            }
        }
    }

    func testAConstantLaneNormalisesToTheBias() throws {
        let x = Variable(Tensor(shape: [2, 3], repeating: 5), requiresGrad: true)
        let bias = Variable(Tensor([0.5, -1, 2]))
        let y = try Normalization.layerNorm(x, normalizedShape: [3], weight: nil, bias: bias)
        XCTAssertEqual(y.value.scalars, [0.5, -1, 2, 0.5, -1, 2])
        try y.backward(seed: Tensor(shape: [2, 3], repeating: 1))
        XCTAssertEqual(x.grad?.scalars, [0, 0, 0, 0, 0, 0])
    }

    /// The C loops take lanes four at a time, their sums side by side: every lane must come out
    /// with the bits it gets alone (values, reciprocals and the backward's gradient), lanes 64 wide
    /// as in the gpt and 13 wide (a remainder after the vectors), a last group short of four.
    func testLanesInFoursGiveEachLaneItsOwnBits() {
        var generator = RandomGenerator(seed: 9)
        for (lanes, size) in [(7, 64), (9, 13), (4, 8)] {
            let x = generator.normal([lanes, size], mean: 2, std: 3)
            let g = generator.normal([lanes, size])
            let w = generator.normal([size], mean: 1, std: 0.3)
            let b = generator.normal([size], std: 0.3)
            func run(_ ranges: [Range<Int>]) -> [[UInt32]] {
                var (normalized, out, reciprocals) = (
                    Tensor.zeros([lanes, size]), Tensor.zeros([lanes, size]), Tensor.zeros([lanes])
                )
                var dx = Tensor.zeros([lanes, size])
                for r in ranges {
                    x.withUnsafeBufferPointer { px in
                        normalized.withUnsafeMutableBufferPointer { pn in
                            out.withUnsafeMutableBufferPointer { po in
                                reciprocals.withUnsafeMutableBufferPointer { pr in
                                    VectorMath.layerNorm(
                                        px.baseAddress!, lanes: r, size: size, eps: 1e-5, weight: w.storage.pointer,
                                        bias: b.storage.pointer, normalized: pn.baseAddress!, out: po.baseAddress!,
                                        reciprocals: pr.baseAddress!)
                                }
                            }
                        }
                    }
                }
                for r in ranges {
                    g.withUnsafeBufferPointer { pg in
                        normalized.withUnsafeBufferPointer { pn in
                            reciprocals.withUnsafeBufferPointer { pr in
                                dx.withUnsafeMutableBufferPointer { pd in
                                    VectorMath.layerNormBackward(
                                        pg.baseAddress!, normalized: pn.baseAddress!, reciprocals: pr.baseAddress!,
                                        lanes: r, size: size, weight: w.storage.pointer, into: pd.baseAddress!)
                                }
                            }
                        }
                    }
                }
                return [normalized, out, reciprocals, dx].map { $0.scalars.map(\.bitPattern) }
            }
            let together = run([0..<lanes])
            let alone = run((0..<lanes).map { $0..<($0 + 1) })
            for (part, name) in zip(0..<4, ["normalized", "output", "reciprocals", "gradient"]) {
                XCTAssertEqual(together[part], alone[part], "\(lanes) lanes of \(size): \(name), together and one by one")
            }
        }
    }
}
