import Foundation
import RetortExport
import RetortNN
import RetortTensor
import XCTest

/// model.py and the exported folder. The structure is checked here; the numbers by PyTorch:
/// `RETORT_TORCH_OUT=/tmp/torch-check swift test --filter TorchExportTests` writes each model's
/// class (`torch-NAME.py`), weights and inputs with Retort's outputs at batch sizes 3 and 7, and
/// for a language model at lengths from 1 to its block (`torch-NAME.json`), which
/// Tests/Export/check_torch_models.py compares with PyTorch's.
final class TorchExportTests: XCTestCase {
    /// The models checked: the ONNX export's (batch norm, pooling, residual, tensor ops), a GPT
    /// with nanoGPT's names, and an MLP with dropout.
    static func models() throws -> [ExportModels.Case] {
        var g = RandomGenerator(seed: 31)
        let gpt = try GPT.make(vocabulary: 11, block: 6, layers: 2, heads: 2, width: 8, dropout: 0.1, generator: &g)
        let dropout = Sequential.perceptron([10, 16, 4], dropout: 0.3, generator: &g)
        return try ExportModels.all() + [
            ExportModels.Case(name: "gpt", model: gpt, row: [6]), ExportModels.Case(name: "dropout", model: dropout, row: [10]),
            ExportModels.Case(name: "frozen-bn", model: try frozenNorm(), row: [10]),
        ]
    }

    /// A batch norm with its weight and bias frozen: Retort normalises with its running statistics
    /// in training too, so the class's train mode must as well (PyTorch's batch statistics gave a
    /// relative difference of 0.45 in the export review).
    static func frozenNorm() throws -> Sequential {
        var g = RandomGenerator(seed: 32)
        let model = Sequential([
            Linear(10, 16, generator: &g), BatchNorm(16), Activation(.relu), Linear(16, 4, generator: &g),
        ])
        try ExportModels.settleBatchNorms(model, row: [10], generator: &g)
        for (_, norm) in model.modules(of: BatchNorm.self) {
            norm.weight.requiresGrad = false
            norm.bias.requiresGrad = false
        }
        return model
    }

    func testAFrozenBatchNormStaysInItsRunningStatisticsInTheClasssTrainMode() throws {
        var g = RandomGenerator(seed: 6)
        let text = try TorchExport.modelFile([("Student", try Self.frozenNorm(), "frozen")], example: g.normal([1, 10]))
        XCTAssertTrue(text.contains(#"for name in ["1.weight", "1.bias"]:"#), text)
        XCTAssertTrue(text.contains("self.get_parameter(name).requires_grad_(False)"), text)
        XCTAssertTrue(text.contains("    def train(self, mode=True):"), text)
        XCTAssertTrue(text.contains("        self.train()"), text)
        let plain = try TorchExport.modelFile([("Student", ExportModels.mlp().model, "mlp")], example: g.normal([1, 16]))
        XCTAssertFalse(plain.contains("def train("), "a class without batch norms keeps nn.Module's train")
    }

    func testModelClassesHaveRetortsNamesAndReplayTheGraph() throws {
        var g = RandomGenerator(seed: 5)
        let model = ExportModels.mlp().model
        let text = try TorchExport.modelFile([("Student", model, "an MLP")], example: g.normal([1, 16]))
        XCTAssertTrue(text.contains("class Student(nn.Module):"))
        XCTAssertTrue(text.contains(#"self.add_module("0", nn.Linear(16, 32))"#))
        XCTAssertTrue(text.contains(#"self.add_module("1", nn.ReLU())"#))
        XCTAssertTrue(
            text.contains(#"linear = F.linear(x, self.get_parameter("0.weight"), self.get_parameter("0.bias"))"#), text)
        XCTAssertTrue(text.contains("return linear_1"), text)
    }

    func testGPTKeepsNanoGPTsNamesAndItsDropoutActsInTraining() throws {
        let gpt = try Self.models().first { $0.name == "gpt" }!
        let ids = try Tensor(shape: [1, 6], scalars: [1, 2, 3, 4, 5, 6])
        let text = try TorchExport.modelFile([("Student", gpt.model, "a GPT")], example: ids)
        for line in [
            #"m_transformer = Container()"#, #"m_transformer.add_module("wte", nn.Embedding(11, 8))"#,
            #"m_transformer.add_module("wpe", nn.Embedding(6, 8))"#, #"m_transformer.add_module("drop", nn.Dropout(0.1))"#,
            #"m_transformer_h_0.add_module("ln_1", nn.LayerNorm([8], eps=1e-05))"#,
            #"m_transformer_h_0_attn.add_module("c_attn", nn.Linear(8, 24))"#,
            #"self.add_module("lm_head", m_lm_head)"#,
        ] {
            XCTAssertTrue(text.contains(line), "missing \(line) in\n\(text)")
        }
        // The embedding dropout is its module; the attention's own, which no module holds, are functional.
        XCTAssertTrue(text.contains(#"self.get_submodule("transformer.drop")("#), text)
        XCTAssertTrue(text.contains("F.dropout("), text)
        XCTAssertTrue(text.contains("training=self.training"), text)
        // The tied head reads the embedding's weight: no lm_head.weight of its own.
        XCTAssertFalse(text.contains("lm_head.weight"))
    }

    /// A GPT's class takes any length up to its block, as nanoGPT's does: the positions and the
    /// causal mask are made from the input's length, and a longer input is refused by name.
    func testAGPTClassFollowsTheSequenceLength() throws {
        let gpt = try Self.models().first { $0.name == "gpt" }!
        let ids = try Tensor(shape: [1, 4], scalars: [1, 2, 3, 4])
        let text = try TorchExport.modelFile([("Student", gpt.model, "a GPT")], example: ids)
        for line in [
            "length = x.shape[1]", "torch.arange(0, length, dtype=torch.float32, device=x.device)",
            "torch.ones(length, length, device=x.device).tril()", "if x.dim() != 2 or not 1 <= x.shape[1] <= 6:",
        ] {
            XCTAssertTrue(text.contains(line), "missing \(line) in\n\(text)")
        }
        XCTAssertFalse(text.contains("fixed every size but the batch"), text)
        XCTAssertFalse(text.contains("the sequence length is fixed"), text)
    }

    /// A model that runs at one length only (an MLP over a fixed context) keeps it fixed, says why
    /// in the class, and refuses other lengths.
    func testAModelThatRunsAtOneLengthKeepsItFixedAndSaysWhy() throws {
        var g = RandomGenerator(seed: 8)
        let model = Sequential([Embedding(10, 4, generator: &g), Flatten(), Linear(12, 5, generator: &g)])
        let text = try TorchExport.modelFile(
            [("Context", model, "a context MLP")], example: Tensor(shape: [1, 3], scalars: [1, 4, 9]))
        XCTAssertTrue(
            text.contains("        # the sequence length is fixed at 3: the model does not run at length 2 (linear:"), text)
        XCTAssertTrue(text.contains("if list(x.shape[1:]) != [3]:"), text)
        XCTAssertFalse(text.contains("length = x.shape[1]"), text)
    }

    func testInt8ModelsAreRefused() throws {
        var g = RandomGenerator(seed: 6)
        let model = ExportModels.mlp().model
        let observed = try Quantizer.prepare(model, stage: .calibrating, perChannel: false)
        observed.isTraining = false
        _ = try GradMode.withoutGradients { try observed.forward(Variable(g.normal([8, 16]))) }
        let int8 = try Quantizer.convert(observed)
        XCTAssertThrowsError(try TorchExport.modelFile([("Student", int8, "")], example: g.normal([1, 16]))) { error in
            XCTAssertTrue("\(error)".contains("int8"), "\(error)")
        }
    }

    func testAFolderIsWrittenWholeOrNotAtAll() throws {
        var g = RandomGenerator(seed: 7)
        let model = ExportModels.mlp().model
        let data = try Dataset(
            x: g.normal([20, 16]), y: Tensor(shape: [20], scalars: (0..<20).map { Float($0 % 10) }), classes: 10, name: "toy")
        let parent = FileManager.default.temporaryDirectory.appendingPathComponent("retort-torch-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: parent) }
        var job = TorchExport.Job(
            student: model, teachers: [], teacherWeights: [], data: data, orders: [Array(0..<20)],
            lossSource: "def loss(output, labels, p, x=None):\n    return output.sum()\n",
            optimizer: .init(
                kind: .adam, learningRate: 1e-3, betas: (0.9, 0.999), weightDecay: 0, momentum: 0, nesterov: false,
                schedule: .constant),
            epochs: 1, batch: 8, clip: nil, scaling: .examples, frozen: [], call: "fit(m, data)", studentSummary: "m",
            teacherSummaries: [])
        let target = parent.appendingPathComponent("run")
        let report = try TorchExport.write(job, to: target.path)
        XCTAssertEqual(
            Set(report.files), ["model.py", "loss.py", "train.py", "README.md", "data.safetensors", "student_init.safetensors"])
        let data2 = try SafeTensors.read(path: target.appendingPathComponent("data.safetensors").path)
        XCTAssertEqual(data2.tensors.map(\.name).sorted(), ["order", "x", "y"])

        // A failure (orders that do not cover the epochs) leaves the earlier export and no temporary folder.
        job.epochs = 2
        XCTAssertThrowsError(try TorchExport.write(job, to: target.path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: target.appendingPathComponent("train.py").path))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: parent.path), ["run"])

        // A folder holding other things is not replaced; a missing parent is named.
        let other = parent.appendingPathComponent("other")
        try FileManager.default.createDirectory(at: other, withIntermediateDirectories: true)
        try Data("keep".utf8).write(to: other.appendingPathComponent("notes.txt"))
        job.epochs = 1
        XCTAssertThrowsError(try TorchExport.write(job, to: other.path)) { error in
            XCTAssertTrue("\(error)".contains("holds other files"), "\(error)")
        }
        XCTAssertThrowsError(try TorchExport.write(job, to: "/nonexistent-retort/run")) { error in
            XCTAssertTrue("\(error)".contains("cannot write '/nonexistent-retort/run'"), "\(error)")
        }
    }

    /// Writes every model's class, weights, inputs and Retort's outputs when RETORT_TORCH_OUT names a folder.
    func testWritesModelsForPyTorchWhenAsked() throws {
        guard let folder = ProcessInfo.processInfo.environment["RETORT_TORCH_OUT"], !folder.isEmpty else { return }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var g = RandomGenerator(seed: 2028)
        var names: [String] = []
        // The image and tensor models at batches 3 and 7; the language models (ids) also at
        // shorter lengths, down to one token, which their classes must follow.
        var models: [(name: String, model: Layer, row: [Int], vocabulary: Int?)] = try Self.models().map {
            ($0.name, $0.model, $0.row, $0.name == "gpt" ? 11 : nil)
        }
        models += try ExportModels.languageModels().map { ("lm-" + $0.name, $0.model, [$0.block], $0.vocabulary) }
        for (name, model, row, vocabulary) in models {
            func input(_ batch: Int, length: Int? = nil) throws -> Tensor {
                if let vocabulary {
                    let length = length ?? row[0]
                    return try Tensor(
                        shape: [batch, length], scalars: (0..<(batch * length)).map { _ in Float(g.nextInt(below: vocabulary)) })
                }
                return g.normal([batch] + row)
            }
            model.isTraining = false
            let text = try TorchExport.modelFile([("Model", model, name)], example: try input(1))
            let base = URL(fileURLWithPath: folder).appendingPathComponent("torch-\(name)")
            try Data(text.utf8).write(to: base.appendingPathExtension("py"))
            try SafeTensors.save(model, to: base.appendingPathExtension("safetensors").path)
            var cases: [[String: Any]] = []
            var sizes: [(batch: Int, length: Int?)] = [(3, nil), (7, nil)]
            if vocabulary != nil { sizes += [(2, max(1, row[0] - 3)), (4, 1)] }
            for (batch, length) in sizes {
                let x = try input(batch, length: length)
                let y = try GradMode.withoutGradients { try model.forward(Variable(x)) }.value
                cases.append(["input": encode(x), "output": encode(y)])
            }
            var record: [String: Any] = ["name": name, "cases": cases]
            if name == "frozen-bn" {
                // Retort's train-mode outputs, which the class's train() must give too.
                model.isTraining = true
                let x = try input(5)
                let y = try GradMode.withoutGradients { try model.forward(Variable(x)) }.value
                model.isTraining = false
                record["train_cases"] = [["input": encode(x), "output": encode(y)]]
            }
            if vocabulary != nil { record["block"] = row[0] }
            try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys])
                .write(to: base.appendingPathExtension("json"))
            names.append(name)
        }
        try JSONSerialization.data(withJSONObject: ["models": names], options: [.sortedKeys])
            .write(to: URL(fileURLWithPath: folder).appendingPathComponent("torch-manifest.json"))
    }

    private func encode(_ t: Tensor) -> [String: Any] { ["dims": t.shape, "data": t.scalars.map(Double.init)] }
}
