import RetortNN
import RetortTensor
import XCTest

/// In inference Sequential runs a Linear and the ReLU after it as one pass (the bias added and the
/// ReLU applied while the product is in cache, `Variable.linearReLU`): the same bits as the layers
/// one after the other, and the layers apart whenever a gradient can be taken.
final class LinearReLUFusionTests: XCTestCase {
    private func model(bias: Bool) -> Sequential {
        var g = RandomGenerator(seed: 6)
        return Sequential([
            Linear(40, 300, bias: bias, generator: &g), Activation(.relu), Linear(300, 7, bias: bias, generator: &g),
            Activation(.relu),
        ])
    }

    /// NaN, -0 and negatives in the products: ReLU's rule (x < 0 ? 0 : x) is kept, NaN and -0 pass.
    private func input(nan: Bool = true) -> Tensor {
        var g = RandomGenerator(seed: 7)
        var x = g.normal([230, 40])
        if nan { x.withUnsafeMutableBufferPointer { $0[45] = .nan } }
        return x
    }

    func testInferenceGivesTheLayersValuesOnOneAndTwoThreads() throws {
        let saved = (BLAS.gemmLibrary, BLAS.threadCount)
        defer { (BLAS.gemmLibrary, BLAS.threadCount) = saved }
        // oneDNN, so the rows are shared out over OpenMP's pool on two threads.
        BLAS.gemmLibrary = .oneDNN
        for bias in [true, false] {
            let m = model(bias: bias)
            let x = Variable(input())
            let apart = try GradMode.withoutGradients { try m.layers.reduce(x) { try $1.forward($0) } }
            let hidden = try GradMode.withoutGradients { try m.layers[1].forward(m.layers[0].forward(x)) }
            XCTAssertTrue(hidden.value.scalars.contains(0), "ReLU clips something")
            XCTAssertTrue(hidden.value.scalars.contains { $0.isNaN }, "the NaN passes ReLU")
            for threads in [1, 2] {
                BLAS.threadCount = threads
                let fused = try GradMode.withoutGradients { try m.forward(x) }
                XCTAssertEqual(
                    fused.value.scalars.map(\.bitPattern), apart.value.scalars.map(\.bitPattern),
                    "bias \(bias), \(threads) thread(s)")
                // The first pair alone (the second Linear's product would hide a lost ReLU).
                let first = try GradMode.withoutGradients { try Sequential(Array(m.layers.prefix(2))).forward(x) }
                XCTAssertEqual(
                    first.value.scalars.map(\.bitPattern), hidden.value.scalars.map(\.bitPattern),
                    "bias \(bias), \(threads) thread(s)")
            }
        }
    }

    /// With gradients on, the layers stay apart: the ReLU's node is on the tape and the gradients
    /// are the layers' own.
    func testTrainingKeepsTheLayersApart() throws {
        let m = model(bias: true)
        let x = Variable(input(nan: false))
        let output = try m.forward(x)
        XCTAssertTrue(output.requiresGrad)
        try output.sum().backward()
        let fused = try XCTUnwrap((m.layers[0] as? Linear)?.weight.grad).scalars
        let other = model(bias: true)
        let apart = try other.layers.reduce(x) { try $1.forward($0) }
        try apart.sum().backward()
        let expected = try XCTUnwrap((other.layers[0] as? Linear)?.weight.grad).scalars
        XCTAssertEqual(fused.map(\.bitPattern), expected.map(\.bitPattern))
        XCTAssertTrue(fused.contains { $0 != 0 } && fused.allSatisfy(\.isFinite))
    }
}
