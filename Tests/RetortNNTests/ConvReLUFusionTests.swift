import RetortGraph
import RetortNN
import RetortTensor
import XCTest

/// Sequential runs a Conv2d, the ReLU after it and a 2×2 max pool after that as one pass in
/// inference (Variable.conv2dReLU), and a Conv2d with its ReLU as one pass each way in training
/// (Variable.conv2dReLUTraining): the same values and gradients as the layers one after the other,
/// and never when a trace needs them apart.
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

    private func input(size: Int = 10) -> Tensor {
        var g = RandomGenerator(seed: 4)
        var x = g.normal([5, 2, size, size])
        x.withUnsafeMutableBufferPointer { $0[7] = .nan }
        return x
    }

    func testInferenceGivesTheLayersValues() throws {
        let m = model()
        // Even and odd sizes: the pool drops an odd last row and column.
        for size in [10, 11, 13] {
            let x = Variable(input(size: size))
            let fused = try GradMode.withoutGradients { try m.forward(x) }
            let apart = try GradMode.withoutGradients { try m.layers.reduce(x) { try $1.forward($0) } }
            XCTAssertEqual(fused.shape, apart.shape, "size \(size)")
            XCTAssertEqual(fused.value.scalars.map(\.bitPattern), apart.value.scalars.map(\.bitPattern), "size \(size)")
            XCTAssertTrue(fused.value.scalars.contains { $0.isNaN }, "the NaN passes ReLU and the pool in both")
        }
    }

    /// An infinite bias turns an infinite product into NaN (inf − inf), which must win its window
    /// as it does apart: the fused pass then adds the bias before pooling.
    func testAnInfiniteBiasGivesTheLayersValues() throws {
        // Conv, ReLU and pool alone: a second convolution would spread the NaN over everything.
        let m = Sequential(Array(model().layers.prefix(3)))
        let conv = try XCTUnwrap(m.layers.first as? Conv2d)
        conv.bias?.update { b in b.withUnsafeMutableBufferPointer { $0[0] = .infinity } }
        var x = input()
        x.withUnsafeMutableBufferPointer { p in for i in stride(from: 3, to: p.count, by: 17) { p[i] = -.infinity } }
        let fused = try GradMode.withoutGradients { try m.forward(Variable(x)) }
        let apart = try GradMode.withoutGradients { try m.layers.reduce(Variable(x)) { try $1.forward($0) } }
        XCTAssertTrue(apart.value.scalars.contains { $0.isNaN }, "the case this test is for: inf − inf somewhere")
        XCTAssertEqual(fused.value.scalars.map(\.bitPattern), apart.value.scalars.map(\.bitPattern))
    }

    func testAnImageTooSmallToPoolIsTheSameError() throws {
        let m = model()
        let x = Variable(input(size: 1))
        let fused = errorMessage { try GradMode.withoutGradients { try m.forward(x) } }
        let apart = errorMessage { try GradMode.withoutGradients { try m.layers.reduce(x) { try $1.forward($0) } } }
        XCTAssertTrue(fused.contains("max_pool2d"), fused)
        // The fused pass names the layer the error came from, as the model's unfused pass does.
        XCTAssertEqual(fused, apart + " (in layer 2 of the model, MaxPool2d(2))")
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
        XCTAssertEqual(names.filter { $0 == "max_pool2d" }.count, 1, "\(names)")
    }

    /// Training through the fused pass against the layers one after the other, on two models made
    /// alike: the output, the input's gradient and every parameter's gradient, bit for bit. A NaN
    /// pixel (its gradient passes ReLU, as in PyTorch) and exact zeros on ReLU's edge (x <= 0 gets
    /// no gradient) are among the values.
    func testTrainingGivesTheLayersValuesAndGradients() throws {
        for size in [10, 11] {
            let (fusedModel, apartModel) = (model(), model())
            for m in [fusedModel, apartModel] {
                let conv = try XCTUnwrap(m.layers.first as? Conv2d)
                // Weights and bias of zero on channel 0: its outputs are exactly 0 (NaN near the NaN).
                conv.weight.update { w in w.withUnsafeMutableBufferPointer { p in for i in 0..<18 { p[i] = 0 } } }
                conv.bias?.update { b in b.withUnsafeMutableBufferPointer { $0[0] = 0 } }
            }
            let (xFused, xApart) = (
                Variable(input(size: size), requiresGrad: true), Variable(input(size: size), requiresGrad: true)
            )
            let fused = try fusedModel.forward(xFused)
            let apart = try apartModel.layers.reduce(xApart) { try $1.forward($0) }
            XCTAssertEqual(fused.value.scalars.map(\.bitPattern), apart.value.scalars.map(\.bitPattern), "size \(size)")
            XCTAssertTrue(fused.value.scalars.contains { $0.isNaN }, "the NaN passes in both")
            let weights = Variable(Tensor(shape: fused.shape) { p in for i in 0..<p.count { p[i] = Float(i % 7) - 3 } })
            try (fused * weights).sum().backward()
            try (apart * weights).sum().backward()
            let (gFused, gApart) = (try XCTUnwrap(xFused.grad), try XCTUnwrap(xApart.grad))
            XCTAssertEqual(gFused.scalars.map(\.bitPattern), gApart.scalars.map(\.bitPattern), "input gradient, size \(size)")
            for ((name, a), (_, b)) in zip(fusedModel.namedParameters, apartModel.namedParameters) {
                let (ga, gb) = (try XCTUnwrap(a.grad, name), try XCTUnwrap(b.grad, name))
                XCTAssertEqual(ga.scalars.map(\.bitPattern), gb.scalars.map(\.bitPattern), "\(name), size \(size)")
            }
        }
    }

    /// The switch `retort bench --ab conv-relu` turns off: with it off, training goes apart (the
    /// same result as above, so this checks the fused call itself answers nil).
    func testTheTrainingFusionCanBeSwitchedOff() throws {
        let m = model()
        let conv = try XCTUnwrap(m.layers.first as? Conv2d)
        let x = Variable(input().map { $0.isNaN ? 0 : $0 })
        XCTAssertNotNil(try Variable.conv2dReLUTraining(x, weight: conv.weight, bias: conv.bias, padding: 1))
        Variable.fusesTrainingReLU = false
        defer { Variable.fusesTrainingReLU = true }
        XCTAssertNil(try Variable.conv2dReLUTraining(x, weight: conv.weight, bias: conv.bias, padding: 1))
        XCTAssertNil(
            try GradMode.withoutGradients { try Variable.conv2dReLUTraining(x, weight: conv.weight, bias: conv.bias) },
            "no gradient: inference's fusion, not this one")
    }

    /// A recorder that keeps the names of the operations it is told of.
    private final class Names: TapeRecorder {
        var ops: [String] = []
        func record(_ op: Op, inputs: [Variable], output: Variable, owner: AnyObject?) { ops.append(op.name) }
        func beginGroup(_ op: Op, inputs: [Variable], owner: AnyObject?) {}
        func endGroup(output: Variable) {}
    }

    /// Graph.trace turns gradients off, but a recorder with gradients on must see both operations too.
    func testARecorderWithGradientsSeesBothOperations() throws {
        let m = model()
        let names = Names()
        let out = try Tape.recording(to: names) { try m.forward(Variable(input())) }
        XCTAssertTrue(out.requiresGrad, "gradients were on")
        XCTAssertEqual(names.ops.filter { $0 == "relu" }.count, 2, "\(names.ops)")
        XCTAssertFalse(names.ops.contains("conv2d_relu"), "\(names.ops)")
    }
}
