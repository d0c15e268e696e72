import Foundation
import RetortExport
import RetortTensor
import XCTest

/// The builder's naming and ordering rules, its errors, and writing a model file.
final class ONNXGraphBuilderTests: XCTestCase {
    private func assertError(_ body: @autoclosure () throws -> Any, _ message: String, line: UInt = #line) {
        XCTAssertThrowsError(try body(), line: line) { error in XCTAssertEqual("\(error)", message, line: line) }
    }

    /// A fresh temporary folder, removed after the test.
    private func temporaryFolder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("retort-onnx-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: folder) }
        return folder
    }

    func testNodeOutputsAndFreshNamesAreUnique() throws {
        var builder = try ONNXGraphBuilder(name: "g")
        let x = try builder.addInput(name: "x", shape: ["batch", 4])
        let a = try builder.addNode(opType: "Relu", inputs: [x])
        let b = try builder.addNode(opType: "Relu", inputs: [a])
        XCTAssertEqual(a, "Relu_output_0")
        XCTAssertEqual(b, "Relu_1_output_0")
        XCTAssertEqual(builder.graph.node.map(\.name), ["Relu", "Relu_1"])
        XCTAssertEqual(builder.freshName("x"), "x_1")
        XCTAssertEqual(builder.freshName("x"), "x_2")
        let parts = try builder.addNode(
            opType: "Split", inputs: [b], outputCount: 2, attributes: [.int("axis", 1)], name: "split")
        XCTAssertEqual(parts, ["split_output_0", "split_output_1"])
    }

    func testNamedOutputsAndOptionalInputs() throws {
        var builder = try ONNXGraphBuilder(name: "g")
        try builder.addInput(name: "x", shape: [2, 3])
        let outputs = try builder.addNode(opType: "Clip", inputs: ["x", "", ""], outputs: ["y"])
        XCTAssertEqual(outputs, ["y"])
        try builder.addOutput(name: "y", shape: [2, 3])
        XCTAssertEqual(builder.graph.node[0].input, ["x", "", ""])
        XCTAssertEqual(builder.graph.output.map(\.name), ["y"])
    }

    func testAFreshNameCanBeGivenToANodeOutput() throws {
        var builder = try ONNXGraphBuilder(name: "g")
        try builder.addInput(name: "x", shape: [1])
        let y = builder.freshName("x")
        XCTAssertEqual(y, "x_1")
        XCTAssertEqual(try builder.addNode(opType: "Relu", inputs: ["x"], outputs: [y]), ["x_1"])
        XCTAssertEqual(builder.freshName("x"), "x_2")
    }

    func testANodeOutputIsRenamedWhereverItIsRead() throws {
        var builder = try ONNXGraphBuilder(name: "g")
        try builder.addInput(name: "x", shape: [1])
        let output = builder.freshName("output")
        let a = try builder.addNode(opType: "Relu", inputs: ["x"])
        let b = try builder.addNode(opType: "Neg", inputs: [a])
        try builder.renameNodeOutput(a, to: "relu")
        try builder.renameNodeOutput(b, to: output)
        try builder.addOutput(name: output, shape: [1])
        XCTAssertEqual(builder.graph.node.map(\.input), [["x"], ["relu"]])
        XCTAssertEqual(builder.graph.node.map(\.output), [["relu"], ["output"]])
        assertError(
            try builder.renameNodeOutput("x", to: "y"), "export: graph 'g': cannot rename 'x', which is no node's output")
        assertError(
            try builder.renameNodeOutput("relu", to: "x"),
            "export: graph 'g': the new name of 'relu' 'x' takes a name already in use")
        assertError(
            try builder.renameNodeOutput("output", to: "y"),
            "export: graph 'g': cannot rename 'output' after its type was declared")
    }

    func testARefusedNodeDefinesNoNames() throws {
        var builder = try ONNXGraphBuilder(name: "g")
        try builder.addInput(name: "x", shape: [4])
        assertError(
            try builder.addNode(opType: "Split", inputs: ["x"], outputs: ["a", "x"]),
            "export: graph 'g': the output of node 'Split' 'x' takes a name already in use")
        assertError(
            try builder.addNode(opType: "Split", inputs: ["x"], outputs: ["a", "a"]),
            "export: graph 'g': node 'Split' names two outputs 'a'")
        XCTAssertEqual(try builder.addNode(opType: "Split", inputs: ["x"], outputs: ["a", "b"]), ["a", "b"])
        XCTAssertEqual(builder.graph.node.map(\.name), ["Split"])
    }

    func testNameClashesAndUndefinedValuesAreErrors() throws {
        var builder = try ONNXGraphBuilder(name: "mlp")
        try builder.addInput(name: "x", shape: [1])
        assertError(try builder.addInput(name: "x", shape: [1]), "export: graph 'mlp': the input 'x' takes a name already in use")
        assertError(
            try builder.addInitializer(name: "x", tensor: Tensor(1)),
            "export: graph 'mlp': the initializer 'x' takes a name already in use")
        assertError(
            try builder.addNode(opType: "Relu", inputs: ["h"]),
            "export: graph 'mlp': input 'h' of Relu node 'Relu' is not defined yet "
                + "(graph inputs, initializers and earlier nodes' outputs are)")
        assertError(
            try builder.addNode(opType: "Relu", inputs: ["x"], outputs: ["x"]),
            "export: graph 'mlp': the output of node 'Relu' 'x' takes a name already in use")
        assertError(
            try builder.addOutput(name: "y", shape: [1]),
            "export: graph 'mlp': the output 'y' is not defined by an input, initializer or node")
        assertError(
            try builder.addNode(opType: "Conv", inputs: ["x"], attributes: [.ints("pads", [0]), .ints("pads", [1])]),
            "export: graph 'mlp': Conv node 'Conv' has two attributes named 'pads'")
        assertError(try ONNXGraphBuilder(name: ""), "export: a graph needs a name")
        // A refused node leaves the graph as it was.
        XCTAssertTrue(builder.graph.node.isEmpty)
    }

    func testInitializersKeepTheirTypesAndNames() throws {
        var builder = try ONNXGraphBuilder(name: "g")
        try builder.addInitializer(name: "w", tensor: Tensor.ones([2, 3]))
        try builder.addInitializer(name: "q", int8: [1, -1], dims: [2])
        try builder.addInitializer(name: "zp", uint8: [64], dims: [])
        try builder.addInitializer(name: "bias", int32: [7], dims: [1])
        try builder.addInitializer(name: "shape", int64: [-1, 4], dims: [2])
        try builder.addInitializer(name: "scale", floats: [0.5, 0.25], dims: [2])
        XCTAssertEqual(builder.graph.initializer.map(\.name), ["w", "q", "zp", "bias", "shape", "scale"])
        XCTAssertEqual(builder.graph.initializer.map(\.dataType), [.float, .int8, .uint8, .int32, .int64, .float])
        XCTAssertEqual(builder.graph.initializer[0].rawData.count, 24)
    }

    func testModelIsWrittenToAFileWithNothingElseLeftBeside() throws {
        var builder = try ONNXGraphBuilder(name: "g")
        try builder.addInput(name: "x", shape: ["batch", 2])
        try builder.addNode(opType: "Relu", inputs: ["x"], outputs: ["y"])
        try builder.addOutput(name: "y", shape: ["batch", 2])
        let model = builder.model(producerVersion: "test", metadata: [(key: "source", value: "unit test")])
        let folder = try temporaryFolder()
        let path = folder.appendingPathComponent("relu.onnx").path
        try model.write(to: path)
        XCTAssertEqual([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))), model.serialized())
        // Overwriting replaces the file, again without a temporary left behind.
        try model.write(to: path)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path), ["relu.onnx"])
    }

    func testWriteIntoAMissingFolderNamesThePath() throws {
        let model = try ONNXGraphBuilder(name: "g").model()
        let path = try temporaryFolder().appendingPathComponent("missing/m.onnx").path
        XCTAssertThrowsError(try model.write(to: path)) { error in
            XCTAssertTrue("\(error)".hasPrefix("export: cannot write '\(path)': cannot create a temporary file"), "\(error)")
        }
    }
}
