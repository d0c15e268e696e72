import Foundation
import RetortExport
import RetortNN
import RetortTensor
import XCTest

/// Language models in ONNX: int64 ids with a dynamic batch and sequence length, Gather for the
/// tokens, a Slice of the position table and one causal mask made from the runtime length, reshapes
/// that hold no traced size, the int8 projections inside attention, and what happens when the
/// length cannot stay dynamic. onnxruntime's numbers are checked by `Tests/Export/check_export.py`.
final class ONNXExportLanguageTests: XCTestCase {
    private var generator = RandomGenerator(seed: 6)

    private func export(_ language: ExportModels.LanguageCase, length: Int? = nil) throws -> GraphProto {
        try ONNXExport.model(
            language.model, example: language.ids(1, length ?? language.block, &generator), name: "test"
        ).graph
    }

    /// The int64 values of an initializer (shapes, axes, starts).
    private func int64s(_ graph: GraphProto, _ name: String) -> [Int64] {
        guard let t = graph.initializer.first(where: { $0.name == name }), t.dataType == .int64 else { return [] }
        return stride(from: 0, to: t.rawData.count, by: 8).map { i in
            t.rawData[i..<i + 8].reversed().reduce(Int64(0)) { $0 << 8 | Int64($1) }
        }
    }

    private func producer(_ graph: GraphProto, of value: String) -> NodeProto? {
        graph.node.first { $0.output.contains(value) }
    }

    private func count(_ graph: GraphProto, _ opType: String) -> Int { graph.node.filter { $0.opType == opType }.count }

    func testAGPTTakesInt64IdsWithTheBatchAndTheSequenceLengthDynamic() throws {
        let graph = try export(ExportModels.gpt())
        XCTAssertEqual(graph.input.map(\.name), ["ids"])
        XCTAssertEqual(graph.input[0].type.tensorType.elemType, .int64)
        XCTAssertEqual(graph.input[0].type.tensorType.shape?.dim, ["batch", "sequence"])
        XCTAssertEqual(graph.output[0].type.tensorType.shape?.dim, ["batch", "sequence", 27])
        let gather = try XCTUnwrap(graph.node.first { $0.opType == "Gather" })
        XCTAssertEqual(gather.input, ["transformer.wte.weight", "ids"])
        XCTAssertEqual(gather.attribute, [.int("axis", 0)])
        // Every op the blocks are made of, the attention as its members.
        XCTAssertEqual(count(graph, "LayerNormalization"), 5)
        XCTAssertEqual(count(graph, "Softmax"), 2)
        XCTAssertEqual(count(graph, "Erf"), 2)
        XCTAssertEqual(count(graph, "MatMul"), 2 * 6 + 1)
        // No traced length or batch in any reshape: heads split as [0, 0, 2, 8], joined as [0, 0, 16].
        let reshapes = graph.node.filter { $0.opType == "Reshape" }.map { int64s(graph, $0.input[1]) }
        XCTAssertEqual(
            reshapes, [[0, 0, 2, 8], [0, 0, 2, 8], [0, 0, 2, 8], [0, 0, 16]] + [[0, 0, 2, 8]] * 3 + [[0, 0, 16]])
    }

    /// The positions are the table's first T rows, T read from the ids' shape; the causal mask is
    /// made once from the same length and read by both layers' Where.
    func testPositionsAndTheCausalMaskAreMadeFromTheRuntimeLength() throws {
        let graph = try export(ExportModels.gpt())
        let length = try XCTUnwrap(graph.node.first { $0.opType == "Shape" })
        XCTAssertEqual(length.input, ["ids"])
        XCTAssertEqual(length.attribute, [.int("start", 1), .int("end", 2)])
        let slice = try XCTUnwrap(graph.node.first { $0.opType == "Slice" && $0.input[0] == "transformer.wpe.weight" })
        XCTAssertEqual(int64s(graph, slice.input[1]), [0])
        XCTAssertEqual(slice.input[2], length.output[0])
        XCTAssertEqual(int64s(graph, slice.input[3]), [0])
        XCTAssertEqual(count(graph, "LessOrEqual"), 1)
        XCTAssertEqual(count(graph, "Range"), 1)
        let mask = try XCTUnwrap(graph.node.first { $0.opType == "LessOrEqual" })
        let range = try XCTUnwrap(producer(graph, of: mask.input[0]))
        XCTAssertEqual(range.opType, "Range")
        XCTAssertEqual(producer(graph, of: mask.input[1])?.opType, "Unsqueeze")
        let wheres = graph.node.filter { $0.opType == "Where" }
        XCTAssertEqual(wheres.map { $0.input[0] }, [mask.output[0], mask.output[0]])
        XCTAssertFalse(graph.initializer.contains { $0.dims == [8, 8] }, "no traced [T, T] mask")
    }

    /// Positions from an offset slice the table from it, to offset + T; a short example is traced
    /// at a longer second length and gives the same graph.
    func testPositionsFromAnOffsetAndAShortExample() throws {
        for length in [8, 2, 1] {
            let graph = try export(ExportModels.assembled(), length: length)
            XCTAssertEqual(graph.input[0].type.tensorType.shape?.dim, ["batch", "sequence"], "length \(length)")
            let slice = try XCTUnwrap(graph.node.first { $0.opType == "Slice" && $0.input[0] == "1.weight" })
            XCTAssertEqual(int64s(graph, slice.input[1]), [2])
            let end = try XCTUnwrap(producer(graph, of: slice.input[2]))
            XCTAssertEqual(end.opType, "Add")
            XCTAssertEqual(int64s(graph, end.input[1]), [2])
            // One attention is bidirectional: a single mask, for the causal one.
            XCTAssertEqual(count(graph, "Where"), 2, "length \(length)")
            XCTAssertEqual(count(graph, "LessOrEqual"), 1, "length \(length)")
        }
    }

    /// The int8 GPT: every projection in the blocks in QDQ form, under its nanoGPT name; the
    /// embeddings, norms and tied head stay float.
    func testAnInt8GPTQuantisesTheProjectionsInsideAttentionAndTheMLP() throws {
        let float = try ExportModels.gpt()
        let observed = try Quantizer.prepare(float.model, stage: .calibrating, perChannel: true)
        observed.isTraining = false
        _ = try observed.forward(Variable(float.ids(16, 8, &generator)))
        let int8 = ExportModels.LanguageCase(
            name: "gpt-int8", model: try Quantizer.convert(observed), vocabulary: 27, block: 8)
        let graph = try export(int8)
        XCTAssertEqual(graph.input[0].type.tensorType.shape?.dim, ["batch", "sequence"])
        XCTAssertEqual(count(graph, "QuantizeLinear"), 8)
        for layer in ["attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"] {
            let weight = graph.initializer.first { $0.name == "transformer.h.1.\(layer).weight" }
            XCTAssertEqual(weight?.dataType, .int8, layer)
        }
        XCTAssertEqual(graph.initializer.first { $0.name == "transformer.wte.weight" }?.dataType, .float)
    }

    /// A model that runs at one length only (an MLP over a fixed context) is exported at that
    /// length, and the report says why.
    func testAModelThatRunsAtOneLengthKeepsItFixedAndSaysWhy() throws {
        let model = Sequential([Embedding(10, 4, generator: &generator), Flatten(), Linear(12, 5, generator: &generator)])
        let path = try temporaryFolder().appendingPathComponent("context.onnx").path
        let ids = try Tensor(shape: [1, 3], scalars: [1, 4, 9])
        let report = try ONNXExport.export(model, example: ids, to: path, name: "context")
        XCTAssertEqual(report.inputs.map(\.shape), [["batch", 3]])
        XCTAssertEqual(report.notes.count, 1)
        XCTAssertTrue(
            report.notes[0].hasPrefix("the sequence length is fixed at 3: the model does not run at length 2 (linear:"),
            report.notes[0])
        XCTAssertTrue(report.description.hasSuffix("; " + report.notes[0]))
    }

    /// A constant made from the length other than positions and a causal mask cannot follow it:
    /// the length is fixed, and the note names the constant and the node reading it.
    func testAnotherConstantMadeFromTheLengthFixesIt() throws {
        var g = RandomGenerator(seed: 7)
        let model = Sequential([Embedding(10, 4, generator: &g), LengthScaled()])
        let report = try ONNXExport.export(
            model, example: Tensor(shape: [1, 4], scalars: [1, 2, 3, 4]),
            to: try temporaryFolder().appendingPathComponent("scaled.onnx").path, name: "scaled")
        XCTAssertEqual(report.inputs.map(\.shape), [["batch", 4]])
        XCTAssertEqual(
            report.notes,
            [
                "the sequence length is fixed at 4: export: the constant const [4, 1] read by node 'mul' (op mul) is "
                    + "[4, 1] at length 4 and [3, 1] at length 3: made from the sequence length, it cannot be written with "
                    + "a dynamic sequence length (of such constants, the positions 0..<T and a causal mask can)"
                    + "; a value computed from the input outside tensor ops (argmax's indices, item(), a tensor made from "
                    + "x.shape) enters the trace as a constant"
            ])
    }

    /// An op the table lacks is named, dynamic length or not, and no file is left.
    func testAnUnknownOpInALanguageModelIsNamedAndNothingIsWritten() throws {
        let path = try temporaryFolder().appendingPathComponent("unknown.onnx").path
        let model = Sequential([Embedding(10, 4, generator: &generator), Unknown()])
        XCTAssertThrowsError(
            try ONNXExport.export(model, example: Tensor(shape: [1, 4], scalars: [1, 2, 3, 4]), to: path, name: "u")
        ) { error in
            XCTAssertEqual("\(error)", "export: cannot express node 'unknown' (op unknown) in ONNX")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
    }

    private func temporaryFolder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("retort-export-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: folder) }
        return folder
    }
}

extension Array {
    fileprivate static func * (array: Array, times: Int) -> Array { (0..<times).flatMap { _ in array } }
}

/// Scales position t by T: a constant `[T, 1]` that follows the length, not as positions or a mask do.
private final class LengthScaled: Layer {
    var isTraining = true
    var description: String { "LengthScaled()" }
    var namedParameters: [(name: String, variable: Variable)] { [] }
    func copy() -> Layer { LengthScaled() }
    func forward(_ input: Variable) throws -> Variable {
        let length = input.shape[1]
        return try input * Variable(Tensor.ones([length, 1]) * Float(length))
    }
}

/// A layer whose forward records an op no exporter knows.
private final class Unknown: Layer {
    var isTraining = true
    var description: String { "Unknown()" }
    var namedParameters: [(name: String, variable: Variable)] { [] }
    func copy() -> Layer { Unknown() }
    func forward(_ input: Variable) throws -> Variable {
        Variable.make(input.value, [input], op: Op("unknown")) { g in [g] }
    }
}
