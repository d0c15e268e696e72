import Foundation
import RetortLang
import RetortNN
import RetortTensor
import XCTest

/// export_torch's translation of losses to Python, read back from loss.py; the numbers are
/// checked by PyTorch in Tests/Export/torch_run.sh.
final class TorchTranslationTests: XCTestCase {
    var folder = ""

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("retort-torch-\(UUID().uuidString.prefix(8))").path
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: folder) }

    let setup = """
        let data = blobs(n: 30, seed: 2)
        let teacher = mlp([2, 8, 3])
        let student = mlp([2, 4, 3])
        """

    @discardableResult
    func run(_ session: Session, _ code: String, file: StaticString = #filePath, line: UInt = #line) -> Value? {
        switch session.execute(code) {
        case .success(let value): return value
        case .failure(let diagnostics):
            XCTFail(session.render(diagnostics), file: file, line: line)
            return nil
        }
    }

    /// loss.py after exporting with `arguments` (the part of the call after `on: data`).
    func lossFile(_ arguments: String, code: String = "", file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let session = Session(sink: CollectingSink())
        run(session, setup + "\n" + code, file: file, line: line)
        run(session, "export_torch(\"\(folder)\", student, from: teacher, on: data\(arguments))", file: file, line: line)
        return try String(contentsOfFile: folder + "/loss.py", encoding: .utf8)
    }

    func testPreludeKdIsTranslatedWithTheCallsArguments() throws {
        let text = try lossFile(", loss: kd, T: 4, alpha: 0.7")
        XCTAssertTrue(text.contains("def kd(s, t, y, T=4, alpha=0.9):"), text)
        XCTAssertTrue(
            text.contains(
                #"rt_term("kd", ((alpha * (T ** 2)) * masked_mean(kl_rows(F.log_softmax((s / T), dim=-1), soft_targets(t, T)), y)))"#
            ), text)
        XCTAssertTrue(text.contains("def soft_targets(t, T=1):"), text)
        XCTAssertTrue(text.contains(#"if (rt_type(t) == "record"):"#), text)
        XCTAssertTrue(text.contains("for i in range(1, len(t[\"logits\"])):"), text)
        XCTAssertTrue(text.contains("return kd(output, teacher, labels, T=4, alpha=0.7)"), text)
    }

    func testAScheduleBecomesAFunctionOfPWithItsNumbersWrittenIn() throws {
        let text = try lossFile(", loss: kd, alpha: ramp(0.2, 0.8), T: fn(p) = 1 + 3 * p")
        XCTAssertTrue(text.contains("def alpha_schedule(p):\n    return (0.2 + ((0.8 - 0.2) * rt_minimum((p / 1), 1)))"), text)
        XCTAssertTrue(text.contains("def T_schedule(p):\n    return (1 + (3 * p))"), text)
        XCTAssertTrue(text.contains("alpha=alpha_schedule(p)"), text)
    }

    func testBlocksThatShadowANameGetTheirOwnPythonName() throws {
        let code = """
            let scale = 0.5
            fn shadowed(s, t, y) {
              let a = soft_kd(s, t)
              let b = if a > 100 { let a = 2
                a * scale } else { 1 }
              a * b
            }
            """
        let text = try lossFile(", loss: shadowed", code: code)
        XCTAssertTrue(text.contains("a = soft_kd(s, t)"), text)
        XCTAssertTrue(text.contains("a_1 = 2") || text.contains("a_2 = 2"), text)
        XCTAssertTrue(text.contains("* 0.5"), "the captured number is written in:\n\(text)")
        XCTAssertTrue(text.contains("return (a * b)"), text)
    }

    func testAnLrFunctionIsLossPysLearningRate() throws {
        try lossFile(", opt: adam(lr: fn(p) = 1e-3 * (1 - p), schedule: cosine_lr(steps: 10))")
        let train = try String(contentsOfFile: folder + "/train.py", encoding: .utf8)
        let loss = try String(contentsOfFile: folder + "/loss.py", encoding: .utf8)
        XCTAssertTrue(loss.contains("def learning_rate(p):"), loss)
        XCTAssertTrue(train.contains("base = retort_loss.learning_rate(p)"), train)
        XCTAssertTrue(train.contains("CosineAnnealingLR(T_max=10"), train)
    }

    /// train.py's SCALING after an export, and what the export said.
    func scaling(_ code: String, _ export: String) throws -> (scaling: String, said: String, train: String) {
        let sink = CollectingSink()
        let session = Session(sink: sink, seed: 4)
        run(session, code)
        run(session, export.replacingOccurrences(of: "DIR", with: "\"\(folder)\""))
        let train = try String(contentsOfFile: folder + "/train.py", encoding: .utf8)
        let line = train.split(separator: "\n").first { $0.hasPrefix("SCALING = ") }
        return (String(line?.dropFirst("SCALING = ".count) ?? ""), sink.text, train)
    }

    /// Each process's loss is scaled as the loss reduces, found by running it on the first batches
    /// and their parts: the data's shape alone scaled kd on sequences (-1 past each name's end) by
    /// examples and a summed loss by its share, and both trained other weights under torchrun.
    func testTheScalingUnderTorchrunIsFoundByRunningTheLoss() throws {
        XCTAssertEqual(try scaling(setup, "export_torch(DIR, student, on: data, batch: 8)").scaling, #""examples""#)
        let summed = "export_torch(DIR, student, on: data, batch: 8, loss: fn(s, y) = cross_entropy(s, y, reduction: \"sum\"))"
        XCTAssertEqual(try scaling(setup, summed).scaling, #""sum""#)
        let names = """
            let v = vocab(names())
            let seqs = sequences(take(names(), 60), v, block: 12)
            let teacher = gpt(vocab: v, block: 12, layers: 1, heads: 2, width: 16)
            let student = gpt(vocab: v, block: 12, layers: 1, heads: 2, width: 8)
            let _t = fit(teacher, seqs, epochs: 3, batch: 16, opt: adam(lr: 1e-2), quiet: true)
            """
        let kd = try scaling(names, "export_torch(DIR, student, from: teacher, on: seqs, batch: 16)")
        XCTAssertEqual(kd.scaling, #""tokens""#)
        XCTAssertFalse(kd.said.contains("cannot reproduce"), kd.said)
        // An unmasked mean over every position is a mean over examples, whatever the labels.
        let unmasked = try scaling(
            names,
            "export_torch(DIR, student, from: teacher, on: seqs, batch: 16, loss: fn(s, t, y) = mse(softmax(s), softmax(t)))")
        XCTAssertEqual(unmasked.scaling, #""examples""#)
        // A mean over tokens and one over examples together: neither holds, and the export says so
        // (a loss of the user's own then falls back to examples).
        let mixed = try scaling(
            names,
            "export_torch(DIR, student, from: teacher, on: seqs, batch: 16, loss: fn(s, t, y) = soft_kd(s, t, y) + 1000 * mse(softmax(s), softmax(t)))"
        )
        XCTAssertTrue(
            mixed.said.contains("export_torch: under torchrun, train.py cannot reproduce this loss exactly"), mixed.said)
        XCTAssertEqual(mixed.scaling, #""examples""#)
    }

    /// Where the probe cannot split a batch (batch 1), a regression's targets of −1 are targets:
    /// scaled by examples (scaled by labelled tokens, a batch of one −1 target trained nothing).
    /// And a term a schedule weighs 0 at the first batch is seen at p = 0.5 and 1.
    func testTheScalingProbeSeesRegressionTargetsAndScheduledTerms() throws {
        let regression = """
            let x = randn([40, 4])
            let y = where(randn([40, 1]) > 0, ones([40, 1]), -ones([40, 1]))
            let data = dataset(x, y)
            let student = mlp([4, 8, 1])
            """
        XCTAssertEqual(
            try scaling(regression, "export_torch(DIR, student, on: data, batch: 1, loss: fn(s, y) = mse(s, y))").scaling,
            #""examples""#)
        let scheduled =
            setup + """

                fn mixed(s, t, y, a) = (1 - a) * cross_entropy(s, y) + a * kl_div(log_softmax(s), softmax(t), reduction: "sum") / 16
                """
        let ramped = try scaling(
            scheduled, "export_torch(DIR, student, from: teacher, on: data, batch: 8, loss: mixed, a: ramp(0, 0.9))")
        XCTAssertTrue(ramped.said.contains("train.py cannot reproduce this loss exactly"), ramped.said)
    }

    /// The probe runs the models in eval mode and gives each its own mode back.
    func testTheScalingProbeLeavesTheModelsModes() throws {
        let session = Session(sink: CollectingSink())
        run(session, setup + "\neval(teacher)")
        run(session, "export_torch(\"\(folder)\", student, from: teacher, on: data, batch: 8)")
        let modes = run(session, "[str(student), str(teacher)]")?.displayText ?? ""
        XCTAssertTrue(modes.contains("train mode"), modes)
        XCTAssertTrue(modes.contains("eval mode"), modes)
    }

    /// A layer the student shares with its teacher is frozen in train.py, as distill freezes it.
    func testALayerSharedWithTheTeacherIsFrozenInTrainPy() throws {
        let code = """
            let data = blobs(n: 30, seed: 2)
            let trunk = linear(2, 8)
            let teacher = sequential(trunk, relu, linear(8, 3))
            let student = sequential(trunk, relu, linear(8, 3))
            """
        let result = try scaling(code, "export_torch(DIR, student, from: teacher, on: data, batch: 8)")
        XCTAssertTrue(result.train.contains(#"FROZEN = ["0.weight", "0.bias"]"#), result.train)
        XCTAssertTrue(
            result.said.contains("export_torch: student shares 0.weight, 0.bias with its teacher; train.py freezes them"),
            result.said)
    }

    func testTheOrdersAreTheRunsAndTheSessionsGeneratorIsNotAdvanced() throws {
        let session = Session(sink: CollectingSink(), seed: 9)
        run(session, setup)
        var copy = session.interpreter.generator
        run(session, "export_torch(\"\(folder)\", student, from: teacher, on: data, epochs: 3, batch: 8)")
        XCTAssertEqual(session.interpreter.generator.stateWords, copy.stateWords)
        let file = try SafeTensors.read(path: folder + "/data.safetensors")
        let order = try XCTUnwrap(file.tensors.first { $0.name == "order" }?.tensor)
        XCTAssertEqual(order.shape, [3, 30])
        let expected = (0..<3).flatMap { _ in copy.permutation(30) }.map(Float.init)
        XCTAssertEqual(order.scalars, expected)
    }

    func testAnOpWithoutTranslationIsRefusedWhereItIs() throws {
        let session = Session(sink: CollectingSink())
        run(session, setup + "\nfn noisy(s, t, y) = kd(s, t, y) + mean(randn([2]))")
        guard case .failure(let d) = session.execute("export_torch(\"\(folder)\", student, from: teacher, on: data, loss: noisy)")
        else { return XCTFail("randn has no translation") }
        let text = session.render(d)
        XCTAssertTrue(text.contains("export_torch: `randn` cannot be exported to PyTorch"), text)
        XCTAssertTrue(text.contains("fn noisy(s, t, y) = kd(s, t, y) + mean(randn([2]))"), text)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder), "nothing is written")
    }

    func testEveryBuiltinInTheTableHasTheParametersItReads() throws {
        // The table binds arguments by parameter name: a renamed parameter must fail here, not in a user's export.
        let session = Session(sink: CollectingSink())
        let calls = [
            "softmax(x, axis: 1)", "log_softmax(x, axis: 1)", "leaky_relu(x, slope: 0.1)", "normalize(x, axis: 1, eps: 1e-6)",
            "clamp(x, min: 0, max: 1)", "matmul(x, transpose(x))", "reshape(x, [-1])", "flatten(x)", "permute(x, [1, 0])",
            "gather(x, 1, zeros([30, 1]))", "one_hot(y, 3)", "sum(x, axis: 1, keepdims: true)", "mean(x)", "max(x, axis: 0)",
            "min(x)", "logsumexp(x, axis: 1)", "argmax(x, axis: 1)", "maximum(x, 0)", "minimum(x, 1)", "concat([x, x], axis: 1)",
            "stack([x, x], axis: 0)", "where(x > 0, x, 0)", "item(sum(x))", "round(1.5, digits: 0)", "exp(x)", "log(abs(x) + 1)",
            "sqrt(abs(x))", "cos(x)", "sin(x)", "relu(x)", "tanh(x)", "sigmoid(x)", "gelu(x)", "silu(x)", "detach(x)",
            "cross_entropy(x, y, label_smoothing: 0.1, reduction: \"mean\")", "nll(log_softmax(x), y, reduction: \"sum\")",
            "mse(x, x, reduction: \"mean\")", "l1(x, x, reduction: \"sum\")",
            "kl_div(log_softmax(x), softmax(x), reduction: \"batchmean\")",
            "bce_with_logits(x, x, reduction: \"mean\")", "cosine_similarity(x, x, axis: 1, eps: 1e-8)", "zeros([2])",
            "ones([2])",
            "eye(2)", "arange(0, 3, step: 1)", "tensor([1, 2])", "len(x)", "type(x)", "str(1)", "range(0, 2)", "append([1], 2)",
            "list(1..3)", "term(\"t\", sum(x))",
        ]
        run(session, "let data = blobs(n: 30, seed: 2)\nlet student = mlp([2, 3])")
        run(session, "fn uses(s, y) {\n  let x = s\n" + calls.map { "  let _v = \($0)\n" }.joined() + "  mean(s)\n}")
        run(session, "export_torch(\"\(folder)\", student, on: data, loss: uses)")
        let text = try String(contentsOfFile: folder + "/loss.py", encoding: .utf8)
        XCTAssertTrue(text.contains("rt_cross_entropy(x, y, 0.1, \"mean\")"), text)
        XCTAssertTrue(text.contains("x.reshape([-1])"), "a literal shape is a Python list:\n\(text)")
    }
}
