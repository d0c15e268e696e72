import RetortGraph
import RetortNN
import RetortTensor
import XCTest

/// Sequential runs a Conv2d and the ReLU after it as one pass in inference (Variable.conv2dReLU):
/// the same values as the two layers one after the other, and never when a gradient or a trace
/// needs them apart.
final class ConvReLUFusionTests: XCTestCase {
    private func model() -> Sequential {
        var g = RandomGenerator(seed: 3)
        let m = Sequential([
            Conv2d(2, 4, kernel: 3, padding: 1, generator: &g), Activation(.relu), Pool2d(.max, kernel: 2),
            Conv2d(4, 3, kernel: 3, generator: &g), Activation(.relu), Flatten(),
        ])
        m.isTraining = false
        return m
    }

    private func input() -> Tensor {
        var g = RandomGenerator(seed: 4)
        var x = g.normal([5, 2, 10, 10])
        x.withUnsafeMutableBufferPointer { $0[7] = .nan }
        return x
    }

    func testInferenceGivesTheLayersValues() throws {
        let m = model()
        let x = Variable(input())
        let fused = try GradMode.withoutGradients { try m.forward(x) }
        let apart = try GradMode.withoutGradients { try m.layers.reduce(x) { try $1.forward($0) } }
        XCTAssertEqual(fused.shape, apart.shape)
        XCTAssertEqual(fused.value.scalars.map(\.bitPattern), apart.value.scalars.map(\.bitPattern))
        XCTAssertFalse(fused.value.scalars.contains { $0.isNaN }, "ReLU turns the NaN into 0 in both")
    }

    func testTrainingKeepsTheGradientThroughBoth() throws {
        let m = model()
        let out = try m.forward(Variable(input().map { $0.isNaN ? 0 : $0 }))
        try out.sum().backward()
        for conv in m.layers.compactMap({ $0 as? Conv2d }) {
            let grad = try XCTUnwrap(conv.weight.grad, "a fused pass would have left the weight without a gradient")
            XCTAssertTrue(grad.scalars.contains { $0 != 0 })
        }
    }

    func testATraceRecordsBothOperations() throws {
        let m = model()
        let graph = try Graph.trace(inputs: [("x", input())], parameters: m.namedParameters) { [try m.forward($0[0])] }
        let names = graph.nodes.map(\.op.name)
        XCTAssertEqual(names.filter { $0 == "conv2d" }.count, 2, "\(names)")
        XCTAssertEqual(names.filter { $0 == "relu" }.count, 2, "\(names)")
    }
}
