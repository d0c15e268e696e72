import Foundation
import RetortNN
import RetortTensor
import XCTest

/// Reading and writing safetensors against files PyTorch wrote (`Fixtures/safetensors`), whose
/// `interop.json` lists every tensor and torch's eval-mode logits on a fixed input.
final class SafeTensorsTests: XCTestCase {
    /// The path of a file in `Fixtures/safetensors`.
    private func path(_ file: String) throws -> String {
        guard let probe = Bundle.module.url(forResource: "interop.json", withExtension: nil, subdirectory: "Fixtures/safetensors")
        else {
            throw TensorError("fixture", "missing resource Fixtures/safetensors/interop.json")
        }
        return probe.deletingLastPathComponent().appendingPathComponent(file).path
    }

    /// The entry for `file` in `interop.json`.
    private func entry(_ file: String) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: try path("interop.json"))))
        guard let files = (object as? [String: Any])?["files"] as? [String: Any], let entry = files[file] as? [String: Any]
        else { throw TensorError("fixture", "interop.json has no entry for \(file)") }
        return entry
    }

    /// A path in a fresh temporary directory, removed after the test.
    private func temporaryPath(_ name: String) throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("retort-safetensors-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: folder) }
        return folder.appendingPathComponent(name).path
    }

    private func bytes(_ path: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }

    /// `Linear(4,8) → ReLU → Linear(8,3)`, as mlp.safetensors was made.
    private func mlp(hidden: Int = 8) -> Sequential {
        var g = RandomGenerator(seed: 11)
        return Sequential([Linear(4, hidden, generator: &g), Activation(.relu), Linear(hidden, 3, generator: &g)])
    }

    /// `Linear(4,6) → BatchNorm(6) → ReLU → Linear(6,2)`, as bn.safetensors was made.
    private func batchNormModel() -> Sequential {
        var g = RandomGenerator(seed: 12)
        return Sequential([Linear(4, 6, generator: &g), BatchNorm(6), Activation(.relu), Linear(6, 2, generator: &g)])
    }

    /// Every parameter and buffer of a model, by name, for checking that a failed load changed nothing.
    private func state(_ model: Layer) -> [String: Tensor] {
        var result: [String: Tensor] = [:]
        for (name, variable) in model.namedParameters { result[name] = variable.value }
        for (name, tensor) in model.namedBuffers { result[name] = tensor }
        return result
    }

    // MARK: Interop with PyTorch

    func testLoadedTorchModelsGiveTorchsLogits() throws {
        for (file, model) in [("mlp.safetensors", mlp()), ("bn.safetensors", batchNormModel())] {
            try SafeTensors.load(from: path(file), into: model)
            model.isTraining = false
            let info = try entry(file)
            let output = try model(Variable(tensor(info["input"])))
            let want = try tensor(info["output"])
            XCTAssertEqual(output.shape, want.shape, file)
            assertClose(output.value.scalars, want.scalars, rtol: 0, atol: 1e-5, file)
        }
    }

    func testReadGivesEveryTensorInDataOrderWithItsValues() throws {
        for file in ["mlp.safetensors", "bn.safetensors", "metadata.safetensors"] {
            let info = try entry(file)
            let read = try SafeTensors.read(path: path(file))
            let listed = try XCTUnwrap(info["tensors"] as? [[String: Any]])
            XCTAssertEqual(read.tensors.map(\.name), listed.compactMap { $0["name"] as? String }, file)
            for (got, want) in zip(read.tensors, listed) {
                XCTAssertEqual(got.tensor, try tensor(want), "\(file): \(got.name)")
            }
            XCTAssertEqual(read.metadata, info["metadata"] as? [String: String], file)
        }
        let counts = try SafeTensors.read(path: path("bn.safetensors")).tensors.first { $0.name == "1.num_batches_tracked" }
        XCTAssertEqual(counts?.tensor, Tensor(3), "an I64 scalar becomes a rank-0 Float")
    }

    func testSavingALoadedModelReproducesTorchsFileByteForByte() throws {
        let model = mlp()
        try SafeTensors.load(from: path("mlp.safetensors"), into: model)
        let saved = try temporaryPath("mlp.safetensors")
        try SafeTensors.save(model, to: saved)
        XCTAssertEqual(try bytes(saved), try bytes(path("mlp.safetensors")))

        let withMetadata = try temporaryPath("metadata.safetensors")
        try SafeTensors.save(model, to: withMetadata, metadata: ["format": "pt", "source": "retort fixture"])
        XCTAssertEqual(try bytes(withMetadata), try bytes(path("metadata.safetensors")))
    }

    func testSavedBatchNormModelReproducesTorchsFileWithItsBatchCount() throws {
        let model = batchNormModel()
        try SafeTensors.load(from: path("bn.safetensors"), into: model)
        let saved = try temporaryPath("bn.safetensors")
        try SafeTensors.save(model, to: saved)
        // torch counted 3 batches; the count is loaded and written back (I64, first in the data).
        XCTAssertEqual(try bytes(saved), try bytes(path("bn.safetensors")))
    }

    func testBatchNormCountsTrainingBatchesOnly() throws {
        let model = batchNormModel()
        var g = RandomGenerator(seed: 1)
        let x = Variable(g.normal([5, 4]))
        _ = try model.forward(x)
        _ = try model.forward(x)
        model.isTraining = false
        _ = try model.forward(x)
        XCTAssertEqual(model.namedCounts.map(\.count), [2])
        XCTAssertEqual(model.namedCounts.map(\.name), ["1.num_batches_tracked"])
    }

    // MARK: Writing

    func testWriteThenReadGivesTheSameTensors() throws {
        var g = RandomGenerator(seed: 5)
        let tensors: [(name: String, tensor: Tensor)] = [
            ("z.scalar", Tensor(-1.25)), ("a.weight", g.normal([3, 5])), ("m.empty", Tensor.zeros([0, 4])),
            ("b \"quoted\"\tname", g.normal([2, 2, 2])),
        ]
        let file = try temporaryPath("roundtrip.safetensors")
        try SafeTensors.write(tensors, metadata: ["note": "round trip", "epoch": "3"], to: file)
        let read = try SafeTensors.read(path: file)
        XCTAssertEqual(read.metadata, ["note": "round trip", "epoch": "3"])
        let byName = Dictionary(uniqueKeysWithValues: read.tensors.map { ($0.name, $0.tensor) })
        XCTAssertEqual(byName.count, tensors.count)
        for (name, tensor) in tensors { XCTAssertEqual(byName[name], tensor, name) }
    }

    func testHeaderIsCompactSortedAndPaddedWithSpacesToEightBytes() throws {
        let file = try temporaryPath("layout.safetensors")
        try SafeTensors.write([("b", Tensor([1, 2])), ("a", Tensor([3, 4, 5]))], metadata: ["k": "v"], to: file)
        let raw = try bytes(file)
        let length = raw[0..<8].reversed().reduce(0) { $0 << 8 | Int($1) }
        XCTAssertEqual(length % 8, 0)
        XCTAssertEqual(raw.count, 8 + length + 20)
        let json =
            #"{"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"#
            + #""b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}}"#
        let header = raw[8..<(8 + length)]
        XCTAssertEqual(String(decoding: header.prefix(json.utf8.count), as: UTF8.self), json)
        XCTAssertEqual(Array(header.dropFirst(json.utf8.count)), [UInt8](repeating: 0x20, count: length - json.utf8.count))
        XCTAssertLessThan(length - json.utf8.count, 8)
        // Data in header order: a = 3, 4, 5 then b = 1, 2, little-endian float32.
        XCTAssertEqual(Array(raw[(8 + length)..<(8 + length + 4)]), [0, 0, 0x40, 0x40])
    }

    func testWriteLeavesNoTemporaryFileAndRefusesBadNames() throws {
        let file = try temporaryPath("clean.safetensors")
        let folder = URL(fileURLWithPath: file).deletingLastPathComponent().path
        try SafeTensors.write([("w", Tensor([1]))], to: file)
        try SafeTensors.write([("w", Tensor([2]))], to: file)  // replaces the first
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder), ["clean.safetensors"])
        XCTAssertEqual(try SafeTensors.read(path: file).tensors.first?.tensor, Tensor([2]))

        XCTAssertThrowsError(try SafeTensors.write([("w", Tensor([1])), ("w", Tensor([2]))], to: file)) { error in
            XCTAssertTrue("\(error)".contains("'w' is used twice"), "\(error)")
        }
        XCTAssertThrowsError(try SafeTensors.write([("w", Tensor([1]))], to: folder + "/no/such/dir/x.safetensors")) {
            XCTAssertTrue("\($0)".contains("cannot write"), "\($0)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder), ["clean.safetensors"])
    }

    // MARK: Errors leave the model unchanged

    /// Asserts that loading `file` into `model` fails with every fragment in the message and changes nothing.
    private func assertLoadFails(
        _ file: String, into model: Layer, _ fragments: [String], line: UInt = #line
    ) {
        let before = state(model)
        XCTAssertThrowsError(try SafeTensors.load(from: file, into: model), line: line) { error in
            for fragment in fragments {
                XCTAssertTrue("\(error)".contains(fragment), "'\(error)' lacks '\(fragment)'", line: line)
            }
        }
        let after = state(model)
        XCTAssertEqual(after.keys.sorted(), before.keys.sorted(), line: line)
        for (name, tensor) in before { XCTAssertEqual(after[name], tensor, "\(name) changed", line: line) }
    }

    func testLoadErrorsNameTheProblemAndLeaveTheModelUnchanged() throws {
        let torch = try SafeTensors.read(path: path("bn.safetensors")).tensors

        let missing = try temporaryPath("missing.safetensors")
        try SafeTensors.write(torch.filter { $0.name != "1.running_var" && $0.name != "3.bias" }, to: missing)
        assertLoadFails(missing, into: batchNormModel(), ["load:", "missing.safetensors lacks 3.bias, 1.running_var"])

        assertLoadFails(
            try path("mlp.safetensors"), into: mlp(hidden: 16),
            ["load: 0.weight has shape [8, 4] in", "mlp.safetensors, the model expects [16, 4]", "2.weight has shape [3, 8]"])

        assertLoadFails(
            try path("bn.safetensors"), into: mlp(),
            ["bn.safetensors holds", "1.running_mean", "which the model does not have", "lacks 2.weight, 2.bias"])

        let original = try bytes(path("bn.safetensors"))
        let truncated = try temporaryPath("truncated.safetensors")
        try Data(original.dropLast(10)).write(to: URL(fileURLWithPath: truncated))
        assertLoadFails(truncated, into: batchNormModel(), ["truncated.safetensors", "tensor '3.weight'", "truncated"])

        var broken = original
        broken[8] = UInt8(ascii: "[")  // the header's opening brace
        let badHeader = try temporaryPath("header.safetensors")
        try Data(broken).write(to: URL(fileURLWithPath: badHeader))
        assertLoadFails(badHeader, into: batchNormModel(), ["header.safetensors", "not valid JSON"])

        assertLoadFails("/no/such/model.safetensors", into: mlp(), ["cannot read '/no/such/model.safetensors'"])

        // Foundation's parser gives up at 512 levels with "not valid JSON"; the depth is checked first and named.
        for (name, json) in [("deep", "{\"a\":" + String(repeating: "[", count: 100_000)), ("strings", #"{"[[[[":"#)] {
            let file = try temporaryPath("\(name).safetensors")
            let header = Array(json.utf8)
            try Data(withUnsafeBytes(of: UInt64(header.count).littleEndian) { Array($0) } + header).write(
                to: URL(fileURLWithPath: file))
            let expected =
                name == "deep" ? "the header's JSON nests more than 64 deep (at byte 76 of the file)" : "not valid JSON"
            assertLoadFails(file, into: mlp(), ["\(name).safetensors", expected])
        }
    }

    func testReadRejectsMalformedLayouts() throws {
        let original = try bytes(path("mlp.safetensors"))
        func variant(_ name: String, _ edit: (inout String) -> Void) throws -> String {
            var header = String(decoding: original[8..<264], as: UTF8.self)
            edit(&header)
            let file = try temporaryPath(name)
            try Data(original.prefix(8) + Array(header.utf8) + original.dropFirst(264)).write(to: URL(fileURLWithPath: file))
            return file
        }
        // Each edit keeps the header's length, so only the named problem is wrong.
        let cases: [(String, (inout String) -> Void, [String])] = [
            (
                "dtype", { $0 = $0.replacingOccurrences(of: #""2.bias":{"dtype":"F32""#, with: #""2.bias":{"dtype":"C64""#) },
                ["tensor '2.bias'", "dtype C64 is not supported"]
            ),
            (
                "shape", { $0 = $0.replacingOccurrences(of: #""shape":[3,8]"#, with: #""shape":[3,9]"#) },
                ["tensor '2.weight'", "shape [3, 9] of F32 does not fill data_offsets [172, 268]"]
            ),
            ("gap", { $0 = $0.replacingOccurrences(of: "[0,32]", with: "[4,32]") }, ["tensor '0.bias'"]),
        ]
        for (name, edit, fragments) in cases {
            let file = try variant("\(name).safetensors", edit)
            XCTAssertThrowsError(try SafeTensors.read(path: file), name) { error in
                for fragment in fragments { XCTAssertTrue("\(error)".contains(fragment), "'\(error)' lacks '\(fragment)'") }
            }
        }
        let short = try temporaryPath("short.safetensors")
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: short))
        XCTAssertThrowsError(try SafeTensors.read(path: short)) { XCTAssertTrue("\($0)".contains("too short"), "\($0)") }
    }
}
