import Foundation
import RetortExport
import RetortNN
import RetortTensor
import XCTest

/// Exports every model in `ExportModels`, float and int8, and (when `RETORT_ONNX_OUT` names a
/// folder) writes `export-NAME.onnx` and `export-NAME.json` there: inputs at batch sizes 3 and 7
/// (language models: ids at lengths 8, 5 and 1 too) with Retort's own outputs, for
/// `Tests/Export/check_export.py` to compare with onnxruntime's. `export-manifest.json` lists the
/// models, so the check knows none is missing.
final class ONNXExportFilesTests: XCTestCase {
    /// Batch sizes the outputs are recorded at: neither is 2, the batch the graph is translated
    /// from, so a batch size baked in would show. int8 models get a large batch too, for the share
    /// of predictions that agree.
    private static let batches = [3, 7]
    private static let int8Batch = 256
    /// Sequence lengths for language models: the block (the length traced), a shorter one, and one token.
    private static let lengths = [8, 5, 1]
    private static let int8Rows = 64

    func testExportsEveryModelAndWritesChecksWhenAsked() throws {
        let asked = ProcessInfo.processInfo.environment["RETORT_ONNX_OUT"].flatMap { $0.isEmpty ? nil : $0 }
        let folder =
            try asked.map { path -> URL in
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
                return URL(fileURLWithPath: path)
            } ?? temporaryFolder()
        var generator = RandomGenerator(seed: 2027)
        var names: [String] = []
        for model in try ExportModels.all() {
            try write(model.name, model.model, row: model.row, kind: "float", folder: folder, asked: asked != nil, &generator)
            names.append(model.name)
        }
        for (model, perChannel) in try [
            (ExportModels.mlp(), false), (ExportModels.cnn(), true),
            (ExportModels.sequence(), true), (ExportModels.residual(), true),
        ] {
            let int8 = try quantized(model.model, row: model.row, perChannel: perChannel, &generator)
            try write(model.name + "-int8", int8, row: model.row, kind: "int8", folder: folder, asked: asked != nil, &generator)
            names.append(model.name + "-int8")
        }
        for model in try ExportModels.languageModels() {
            try write(model, model.model, kind: "float", folder: folder, asked: asked != nil, &generator)
            names.append(model.name)
        }
        let gpt = try ExportModels.gpt()
        let int8 = try quantized(gpt, &generator)
        try write(gpt, int8, kind: "int8", folder: folder, asked: asked != nil, &generator)
        names.append(gpt.name + "-int8")
        guard asked != nil else { return }
        let manifest = try JSONSerialization.data(withJSONObject: ["models": names], options: [.sortedKeys])
        try manifest.write(to: folder.appendingPathComponent("export-manifest.json"))
    }

    /// Exports `model`, checks the report, and writes the inputs and Retort's outputs when asked.
    private func write(
        _ name: String, _ model: Layer, row: [Int], kind: String, folder: URL, asked: Bool,
        _ generator: inout RandomGenerator
    ) throws {
        let path = folder.appendingPathComponent("export-\(name).onnx").path
        let report = try ONNXExport.export(model, example: generator.normal([1] + row), to: path, name: name)
        XCTAssertEqual(report.inputs.map(\.shape), [["batch"] + row.map { .value($0) }], name)
        XCTAssertEqual(report.outputs.first?.shape.first, "batch", name)
        XCTAssertTrue(FileManager.default.fileExists(atPath: path), name)
        guard asked else { return }
        // Inputs a little wider than the calibration data, so some values fall outside the int8 grid.
        let spread: Float = kind == "int8" ? 1.3 : 1
        var cases: [[String: Any]] = []
        for batch in Self.batches + (kind == "int8" ? [Self.int8Batch] : []) {
            let x = generator.normal([batch] + row, std: spread)
            let y = try GradMode.withoutGradients { try model.forward(Variable(x)) }.value
            cases.append(["batch": batch, "input": encode(x), "output": encode(y)])
        }
        let json: [String: Any] = [
            "name": name, "kind": kind, "onnx": "export-\(name).onnx", "input": report.inputs[0].name,
            "output": report.outputs[0].name, "cases": cases,
        ]
        try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys])
            .write(to: folder.appendingPathComponent("export-\(name).json"))
    }

    /// Exports a language model from ids `[1, block]`, checks the report's dynamic axes, and writes
    /// ids at both batch sizes and both lengths with Retort's logits when asked (int8: many rows too).
    private func write(
        _ language: ExportModels.LanguageCase, _ model: Sequential, kind: String, folder: URL, asked: Bool,
        _ generator: inout RandomGenerator
    ) throws {
        let name = language.name + (kind == "int8" ? "-int8" : "")
        let path = folder.appendingPathComponent("export-\(name).onnx").path
        let report = try ONNXExport.export(
            model, example: language.ids(1, language.block, &generator), to: path, name: name)
        XCTAssertEqual(report.inputs.map(\.name), ["ids"], name)
        XCTAssertEqual(report.inputs.map(\.shape), [["batch", "sequence"]], name)
        XCTAssertEqual(report.outputs.map(\.shape), [["batch", "sequence", .value(language.vocabulary)]], name)
        XCTAssertEqual(report.notes, [], name)
        guard asked else { return }
        var sizes = Self.batches.flatMap { batch in Self.lengths.map { (batch, $0) } }
        if kind == "int8" { sizes.append((Self.int8Rows, language.block)) }
        var cases: [[String: Any]] = []
        for (batch, length) in sizes {
            let ids = try language.ids(batch, length, &generator)
            let logits = try GradMode.withoutGradients { try model.forward(Variable(ids)) }.value
            cases.append(["batch": batch, "sequence": length, "input": encode(ids), "output": encode(logits)])
        }
        let json: [String: Any] = [
            "name": name, "kind": kind, "onnx": "export-\(name).onnx", "input": report.inputs[0].name,
            "output": report.outputs[0].name, "sequence": true, "cases": cases,
        ]
        try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys])
            .write(to: folder.appendingPathComponent("export-\(name).json"))
    }

    /// The int8 language model `Quantizer` makes from a copy of `language`'s, calibrated on random ids.
    private func quantized(_ language: ExportModels.LanguageCase, _ generator: inout RandomGenerator) throws -> Sequential {
        let observed = try Quantizer.prepare(language.model, stage: .calibrating, perChannel: true)
        observed.isTraining = false
        _ = try GradMode.withoutGradients { try observed.forward(Variable(language.ids(64, language.block, &generator))) }
        return try Quantizer.convert(observed)
    }

    /// The int8 model `Quantizer` makes from a copy of `model`, calibrated on standard normal inputs.
    private func quantized(_ model: Sequential, row: [Int], perChannel: Bool, _ generator: inout RandomGenerator) throws
        -> Sequential
    {
        let observed = try Quantizer.prepare(model, stage: .calibrating, perChannel: perChannel)
        observed.isTraining = false
        _ = try GradMode.withoutGradients { try observed.forward(Variable(generator.normal([64] + row))) }
        return try Quantizer.convert(observed)
    }

    private func encode(_ t: Tensor) -> [String: Any] { ["dims": t.shape, "data": t.scalars.map(Double.init)] }

    private func temporaryFolder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("retort-export-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: folder) }
        return folder
    }
}
