import Foundation
import RetortExport
import RetortNN
import RetortTensor
import XCTest

/// The graphs `ONNXExport` makes: op types, initializer names and types, a dynamic batch, and
/// errors that name the node and leave no file. onnxruntime's numbers are checked by
/// `Tests/Export/check_export.py` on the files `ONNXExportFilesTests` writes.
final class ONNXExportTests: XCTestCase {
    private func export(_ model: Layer, row: [Int]) throws -> GraphProto {
        var g = RandomGenerator(seed: 3)
        return try ONNXExport.model(model, example: g.normal([1] + row), name: "test").graph
    }

    private func initializer(_ graph: GraphProto, _ name: String) -> TensorProto? {
        graph.initializer.first { $0.name == name }
    }

    /// The int64 values of an initializer (shapes, axes, starts).
    private func int64s(_ graph: GraphProto, _ name: String) -> [Int64] {
        guard let t = initializer(graph, name), t.dataType == .int64 else { return [] }
        return stride(from: 0, to: t.rawData.count, by: 8).map { i in
            t.rawData[i..<i + 8].reversed().reduce(Int64(0)) { $0 << 8 | Int64($1) }
        }
    }

    private func temporaryFolder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("retort-export-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: folder) }
        return folder
    }

    func testAPerceptronIsGemmReluGemmWithStateDictNames() throws {
        let graph = try export(ExportModels.mlp().model, row: [16])
        XCTAssertEqual(graph.node.map(\.opType), ["Gemm", "Relu", "Gemm"])
        XCTAssertEqual(graph.initializer.map(\.name), ["0.weight", "0.bias", "2.weight", "2.bias"])
        XCTAssertEqual(graph.input.map(\.name), ["x"])
        XCTAssertEqual(graph.input[0].type.tensorType.shape?.dim, ["batch", 16])
        XCTAssertEqual(graph.output.map(\.name), ["output"])
        XCTAssertEqual(graph.output[0].type.tensorType.shape?.dim, ["batch", 10])
        XCTAssertEqual(graph.node[0].attribute, [.int("transB", 1)])
    }

    func testBatchNormKeepsItsRunningStatisticsUnderTheirNames() throws {
        let graph = try export(ExportModels.cnn().model, row: [1, 8, 8])
        let norms = graph.node.filter { $0.opType == "BatchNormalization" }
        XCTAssertEqual(
            norms.map { Array($0.input.dropFirst()) },
            [
                ["1.weight", "1.bias", "1.running_mean", "1.running_var"],
                ["5.weight", "5.bias", "5.running_mean", "5.running_var"],
            ])
        XCTAssertEqual(initializer(graph, "1.running_var")?.dims, [4])
        let average = try XCTUnwrap(graph.node.first { $0.opType == "AveragePool" })
        XCTAssertTrue(average.attribute.contains(.int("count_include_pad", 1)))
        XCTAssertTrue(average.attribute.contains(.ints("pads", [1, 1, 1, 1])))
        XCTAssertEqual(graph.node.first { $0.opType == "Conv" }?.attribute.first, .ints("kernel_shape", [3, 3]))
    }

    /// A batch norm used at two places reads its running statistics twice: they are one initializer
    /// each, under their names (they were written again as `running_mean_2` and `running_var_1`).
    func testASharedBatchNormWritesItsStatisticsOnce() throws {
        var g = RandomGenerator(seed: 5)
        let norm = BatchNorm(6)
        let graph = try export(
            Sequential([Linear(4, 6, generator: &g), norm, Activation(.relu), norm, Linear(6, 2, generator: &g)]), row: [4])
        XCTAssertEqual(graph.initializer.map(\.name).filter { $0.contains("running") }, ["1.running_mean", "1.running_var"])
        XCTAssertEqual(Set(graph.initializer.map(\.name)).count, graph.initializer.count)
        XCTAssertEqual(graph.node.filter { $0.opType == "BatchNormalization" }.count, 2)
    }

    /// Shapes carried as numbers never hold the traced batch size: -1 in a reshape, the runtime
    /// batch read by Shape for an expand, 'to the end' for a slice along the batch.
    func testReshapeExpandAndSliceKeepTheBatchDynamic() throws {
        let graph = try export(ExportModels.functional().model, row: [4, 6])
        let reshapes = graph.node.filter { $0.opType == "Reshape" }.map { int64s(graph, $0.input[1]) }
        XCTAssertEqual(reshapes, [[-1, 18], [-1, 2, 2, 6], [0, 0, -1], [-1, 1]])
        let expand = try XCTUnwrap(graph.node.first { $0.opType == "Expand" })
        let concat = try XCTUnwrap(graph.node.first { $0.output == [expand.input[1]] })
        XCTAssertEqual(concat.opType, "Concat")
        XCTAssertEqual(graph.node.first { $0.output == [concat.input[0]] }?.opType, "Shape")
        XCTAssertEqual(int64s(graph, concat.input[1]), [1])
        let slices = graph.node.filter { $0.opType == "Slice" }
        XCTAssertEqual(slices.map { int64s(graph, $0.input[1]) }, [[0, 1], [0, 14]])
        XCTAssertEqual(slices.map { int64s(graph, $0.input[2]) }, [[Int64.max, 17], [Int64.max, 18]])
        XCTAssertEqual(graph.output[0].type.tensorType.shape?.dim, ["batch", 98])
    }

    func testLayerNormWithoutWeightGetsAScaleOfOnes() throws {
        let graph = try export(ExportModels.functional().model, row: [4, 6])
        let norm = try XCTUnwrap(graph.node.first { $0.opType == "LayerNormalization" })
        XCTAssertEqual(norm.input.count, 2)
        XCTAssertEqual(initializer(graph, norm.input[1])?.rawData, TensorProto(name: "", float32: Tensor.ones([10])).rawData)
        XCTAssertTrue(norm.attribute.contains(.int("axis", 1)))
    }

    /// An int8 linear layer: Clip → QuantizeLinear → DequantizeLinear on its input, its int8
    /// weights through DequantizeLinear, Gemm, then the float bias.
    func testAnInt8LinearIsWrittenInQDQForm() throws {
        var g = RandomGenerator(seed: 4)
        let float = Sequential([Linear(6, 4, generator: &g)])
        let observed = try Quantizer.prepare(float, stage: .calibrating, perChannel: true)
        observed.isTraining = false
        _ = try observed.forward(Variable(g.normal([32, 6])))
        let model = try Quantizer.convert(observed)
        let layer = try XCTUnwrap(model.layers[0] as? QuantizedLinear)
        let graph = try export(model, row: [6])
        XCTAssertEqual(
            graph.node.map(\.opType), ["Clip", "QuantizeLinear", "DequantizeLinear", "DequantizeLinear", "Gemm", "Add"])
        XCTAssertEqual(graph.node[1].input, [graph.node[0].output[0], "0.input_scale", "0.input_zero_point"])
        XCTAssertEqual(initializer(graph, "0.input_zero_point")?.dataType, .uint8)
        XCTAssertEqual(initializer(graph, "0.input_zero_point")?.rawData, [UInt8(layer.weights.input.zeroPoint)])
        let top = Float(127 - layer.weights.input.zeroPoint) * layer.weights.input.scale
        XCTAssertEqual(initializer(graph, "0.input_max")?.rawData, TensorProto(name: "", float32: Tensor(top)).rawData)
        XCTAssertEqual(initializer(graph, "0.weight")?.dataType, .int8)
        XCTAssertEqual(initializer(graph, "0.weight")?.dims, [4, 6])
        XCTAssertEqual(initializer(graph, "0.weight_scale")?.dims, [4])
        XCTAssertEqual(initializer(graph, "0.weight_zero_point")?.rawData, [0, 0, 0, 0])
        XCTAssertEqual(graph.node[3].attribute, [.int("axis", 0)])
        XCTAssertEqual(graph.node[5].input[1], "0.bias")
    }

    func testAnOpWithoutATranslationIsAnErrorAndNothingIsWritten() throws {
        let path = try temporaryFolder().appendingPathComponent("mystery.onnx").path
        let model = Sequential([Linear(3, 3, generator: &generator), Mystery()])
        XCTAssertThrowsError(try ONNXExport.export(model, example: .ones([1, 3]), to: path, name: "m")) { error in
            XCTAssertEqual("\(error)", "export: cannot express node 'mystery' (op mystery) in ONNX")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
    }

    func testAPathThatCannotBeWrittenIsAnErrorNamingIt() throws {
        let folder = try temporaryFolder()
        let path = folder.appendingPathComponent("missing/model.onnx").path
        XCTAssertThrowsError(try ONNXExport.export(ExportModels.mlp().model, example: .ones([1, 16]), to: path, name: "m")) {
            XCTAssertTrue("\($0)".hasPrefix("export: cannot write '\(path)'"), "\($0)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path), [])
    }

    func testAGroupWithoutATranslationIsWrittenAsItsMembers() throws {
        let graph = try export(Sequential([Grouped()]), row: [3])
        XCTAssertEqual(graph.node.map(\.opType), ["Relu", "Mul"])
        XCTAssertEqual(graph.node.map(\.name), ["relu/Relu", "scale/Mul"])
    }

    func testConstantsMadeFromTheBatchOrTheInputAreRefused() throws {
        XCTAssertThrowsError(try export(Sequential([BatchSized()]), row: [3])) {
            XCTAssertEqual(
                "\($0)",
                "export: the constant const [2, 3] read by node 'add' (op add) is [2, 3] at batch 2 and [3, 3] at batch 3: "
                    + "made from the batch size, it cannot be written with a dynamic batch; a value computed from the input "
                    + "outside tensor ops (argmax's indices, item(), a tensor made from x.shape) enters the trace as a constant")
        }
        XCTAssertThrowsError(try export(Sequential([InputValued()]), row: [3])) {
            XCTAssertTrue("\($0)".contains("differs between the traces at batch 2 and batch 3"), "\($0)")
        }
    }

    func testAModelThatReturnsItsInputPassesItOnThroughAnIdentity() throws {
        let graph = try export(Sequential([]), row: [3])
        XCTAssertEqual(graph.node.map(\.opType), ["Identity"])
        XCTAssertEqual(graph.node[0].input, ["x"])
        XCTAssertEqual(graph.output.map(\.name), ["output"])
    }

    func testAModelPreparedForQuantisationIsRefusedBeforeItSeesTheExample() throws {
        let prepared = try Quantizer.prepare(ExportModels.mlp().model, stage: .calibrating, perChannel: true)
        XCTAssertThrowsError(try export(prepared, row: [16])) {
            XCTAssertTrue("\($0)".hasPrefix("export: the model is prepared for quantisation"), "\($0)")
        }
        XCTAssertThrowsError(try Quantizer.convert(prepared), "its observers saw no input")
    }

    func testTheReportNamesShapesOpsAndSize() throws {
        let path = try temporaryFolder().appendingPathComponent("mlp.onnx").path
        let report = try ONNXExport.export(ExportModels.mlp().model, example: .ones([1, 16]), to: path, name: "mlp")
        let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        XCTAssertEqual(report.byteSize, size)
        XCTAssertEqual(report.nodeCount, 3)
        XCTAssertEqual(report.opTypes.map(\.type), ["Gemm", "Relu"])
        XCTAssertEqual(report.description, "x [batch, 16] → output [batch, 10]: 3 nodes (Gemm ×2, Relu), \(size) bytes")
    }

    private var generator = RandomGenerator(seed: 5)
}

/// A layer whose forward records an op no exporter knows.
private final class Mystery: Layer {
    var isTraining = true
    var description: String { "Mystery()" }
    var namedParameters: [(name: String, variable: Variable)] { [] }
    func copy() -> Layer { Mystery() }
    func forward(_ input: Variable) throws -> Variable {
        Variable.make(input.value, [input], op: Op("mystery")) { g in [g] }
    }
}

/// A layer that marks `relu(x) · 2` as a group of its own.
private final class Grouped: Layer {
    var isTraining = true
    var description: String { "Grouped()" }
    var namedParameters: [(name: String, variable: Variable)] { [] }
    func copy() -> Layer { Grouped() }
    func forward(_ input: Variable) throws -> Variable {
        Tape.group(Op("my_block"), inputs: [input]) { input.relu() * 2 }
    }
}

/// Adds a tensor made in the shape of its input: a constant that grows with the batch.
private final class BatchSized: Layer {
    var isTraining = true
    var description: String { "BatchSized()" }
    var namedParameters: [(name: String, variable: Variable)] { [] }
    func copy() -> Layer { BatchSized() }
    func forward(_ input: Variable) throws -> Variable { try input + Variable(.ones(input.shape)) }
}

/// Scales by a number read from its input's values outside the traced operations.
private final class InputValued: Layer {
    var isTraining = true
    var description: String { "InputValued()" }
    var namedParameters: [(name: String, variable: Variable)] { [] }
    func copy() -> Layer { InputValued() }
    func forward(_ input: Variable) throws -> Variable {
        try input * Variable(Tensor(input.value.scalars.reduce(0, +)))
    }
}
