import Foundation
import RetortLang
import RetortNN
import RetortTensor
import XCTest

/// Module semantics against PyTorch: a model with captured layers has PyTorch's `state_dict`
/// names and forward pass; optimizers with schedules and clipping follow `torch.optim` step by step.
final class TorchModuleTests: XCTestCase {
    var fixture: [String: Any] = [:]
    var residualFile = ""

    override func setUpWithError() throws {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "trust", withExtension: "json", subdirectory: "Fixtures/trust"))
        fixture = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        residualFile = try XCTUnwrap(
            Bundle.module.url(forResource: "residual", withExtension: "safetensors", subdirectory: "Fixtures/trust")
        ).path
    }

    func tensor(_ object: Any?) throws -> Tensor {
        guard let d = object as? [String: Any], let shape = d["shape"] as? [Int], let data = d["data"] as? [NSNumber] else {
            throw TensorError("fixture", "not a tensor")
        }
        return try Tensor(shape: shape, scalars: data.map(\.floatValue))
    }

    @discardableResult
    func run(_ session: Session, _ code: String, file: StaticString = #filePath, line: UInt = #line) throws -> Value? {
        switch session.execute(code) {
        case .success(let value): return value
        case .failure(let diagnostics):
            XCTFail(session.render(diagnostics), file: file, line: line)
            throw TensorError("test", "the Retort code failed")
        }
    }

    func model(_ session: Session, _ name: String) throws -> Model {
        guard case .model(let m)? = session.interpreter.lookup(name) else { throw TensorError("test", "no model \(name)") }
        return m
    }

    func testResidualModelHasPyTorchsNamesAndLogits() throws {
        let residual = try XCTUnwrap(fixture["residual"] as? [String: Any])
        let session = Session(sink: CollectingSink())
        try run(session, try XCTUnwrap(residual["retort"] as? String))
        let m = try model(session, "m")
        let keys = try XCTUnwrap(residual["keys"] as? [String])
        let ours = m.network.namedParameters.map(\.name) + m.network.namedBuffers.map(\.name) + m.network.namedCounts.map(\.name)
        XCTAssertEqual(Set(ours), Set(keys), "the state_dict names")

        // Strict load of PyTorch's file, then PyTorch's eval-mode logits.
        try run(session, "load(\"\(residualFile)\", into: m)")
        XCTAssertEqual(m.network.namedCounts.map(\.count), [3], "num_batches_tracked is loaded")
        let x = try tensor(residual["input"])
        let want = try tensor(residual["output"])
        let got = try Evaluation.predict(m.network, x)
        XCTAssertEqual(got.shape, want.shape)
        for (g, w) in zip(got.scalars, want.scalars) { XCTAssertEqual(g, w, accuracy: 1e-5) }

        // Saved again, the file is PyTorch's byte for byte, so load_state_dict(strict=True) takes it.
        let saved = FileManager.default.temporaryDirectory.appendingPathComponent("retort-residual-\(getpid()).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: saved) }
        try run(session, "save(m, \"\(saved)\")")
        XCTAssertEqual(
            try Data(contentsOf: URL(fileURLWithPath: saved)), try Data(contentsOf: URL(fileURLWithPath: residualFile)))
    }

    /// The issue's end-to-end program: a residual student with captured layers, distilled from a
    /// teacher with a FitNets hint written without no_grad, saved, and loaded as PyTorch would.
    func testDistilledResidualStudentSavesForPyTorchAndLeavesTheTeacherAlone() throws {
        let residual = try XCTUnwrap(fixture["residual"] as? [String: Any])
        let session = Session(sink: CollectingSink(), seed: 4)
        try run(
            session,
            """
            let (train, test) = split(digits(), 0.8, seed: 1)
            let train = standardize(train)
            let teacher = mlp([64, 64, 10])
            let h0 = fit(teacher, train, epochs: 2, quiet: true)
            let before = teacher.parameters
            let snapshot = [before["0.weight"] * 1, before["0.bias"] * 1, before["2.weight"] * 1, before["2.bias"] * 1]
            """)
        try run(session, try XCTUnwrap(residual["retort"] as? String))
        try run(
            session,
            """
            let adapter = linear(16, 64)
            fn fitnet(s, t, y, x) = kd(s, t, y) + hint(features(m, x, 2), features(teacher, x, 1), adapter)
            let h = distill(m, from: teacher, on: train, loss: fitnet, epochs: 2, quiet: true)
            let after = teacher.parameters
            let moved = [sum(abs(after["0.weight"] - snapshot[0])), sum(abs(after["0.bias"] - snapshot[1])),
                         sum(abs(after["2.weight"] - snapshot[2])), sum(abs(after["2.bias"] - snapshot[3]))]
            """)
        guard case .list(let moved)? = session.interpreter.lookup("moved") else { return XCTFail("no moved") }
        for value in moved {
            guard case .tensor(let t) = value else { return XCTFail("moved holds \(value.typeName)") }
            XCTAssertEqual(t.value.scalar, 0, "the teacher's weights are bit-identical")
        }
        let m = try model(session, "m")
        XCTAssertEqual(m.network.namedCounts.map(\.count), [46], "2 epochs of 23 batches, each seen once by batch norm")

        // Saved, then read back as PyTorch's loader would: exactly the state_dict's names.
        let saved = FileManager.default.temporaryDirectory.appendingPathComponent("retort-distilled-\(getpid()).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: saved) }
        try run(session, "save(m, \"\(saved)\")")
        let file = try SafeTensors.read(path: saved)
        XCTAssertEqual(Set(file.tensors.map(\.name)), Set(try XCTUnwrap(residual["keys"] as? [String])))
        let reloaded = Session(sink: CollectingSink(), seed: 9)
        try run(reloaded, try XCTUnwrap(residual["retort"] as? String))
        try run(reloaded, "load(\"\(saved)\", into: m)")
        let x = try tensor(residual["input"])
        let a = try Evaluation.predict(m.network, x)
        let b = try Evaluation.predict(try model(reloaded, "m").network, x)
        XCTAssertEqual(a.scalars, b.scalars)
    }

    func testAPyTorchFileWithOtherNamesLoadsThroughNames() throws {
        let named = try XCTUnwrap(fixture["named_mlp"] as? [String: Any])
        let file = try XCTUnwrap(
            Bundle.module.url(forResource: "fc_mlp", withExtension: "safetensors", subdirectory: "Fixtures/trust")
        ).path
        let session = Session(sink: CollectingSink())
        try run(session, try XCTUnwrap(named["retort"] as? String))
        // Without names the strict load refuses, and says which names differ.
        guard case .failure(let diagnostics) = session.execute("load(\"\(file)\", into: m)") else {
            return XCTFail("a file with fc1/fc2 names loaded into 0/2 without names:")
        }
        XCTAssertTrue(session.render(diagnostics).contains("fc1.weight"), session.render(diagnostics))
        try run(session, "load(\"\(file)\", into: m, names: \(named["names"] as? String ?? ""))")
        let got = try Evaluation.predict(try model(session, "m").network, try tensor(named["input"]))
        for (g, w) in zip(got.scalars, try tensor(named["output"]).scalars) { XCTAssertEqual(g, w, accuracy: 1e-5) }
    }

    func testOptimizersWithSchedulesAndClippingFollowTorchOptim() throws {
        let cases = try XCTUnwrap(fixture["optimizers"] as? [[String: Any]])
        XCTAssertEqual(cases.count, 5)
        for c in cases {
            let name = c["name"] as? String ?? "?"
            let session = Session(sink: CollectingSink())
            let w = Variable(try tensor(c["initial"]), requiresGrad: true)
            session.define("w", .tensor(w))
            try run(session, "let opt = \(c["retort"] as? String ?? "")")
            let steps = c["steps"] as? Int ?? 0
            let clip = (c["clip"] as? NSNumber).map { ", clip: \($0)" } ?? ""
            let grads = try XCTUnwrap(c["grads"] as? [Any])
            let params = try XCTUnwrap(c["params"] as? [Any])
            let rates = try XCTUnwrap(c["lrs"] as? [NSNumber])
            for k in 0..<steps {
                session.define("g", .tensor(Variable(try tensor(grads[k]))))
                // The loss sum(w * g) has gradient g; progress is what fit would pass at step k.
                let progress = Double(k) / Double(steps - 1)
                try run(session, "step(opt, sum(w * g)\(clip), progress: \(progress))")
                guard case .number(let rate)? = try run(session, "opt.lr") else { return XCTFail("\(name): opt.lr") }
                XCTAssertEqual(rate, rates[k].doubleValue, accuracy: 1e-6 * max(1, rates[k].doubleValue), "\(name) lr at \(k)")
                let want = try tensor(params[k])
                for (i, (got, expected)) in zip(w.value.scalars, want.scalars).enumerated() {
                    XCTAssertEqual(got, expected, accuracy: 2e-6 + 2e-5 * abs(expected), "\(name) step \(k) [\(i)]")
                }
            }
            XCTAssertNil(w.grad, "\(name): step leaves no gradient behind")
        }
    }
}
