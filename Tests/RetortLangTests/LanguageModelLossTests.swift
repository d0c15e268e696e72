import Foundation
import RetortLang
import RetortTensor
import XCTest

/// The prelude's sequence losses, run as Retort code, against PyTorch (Tests/Fixtures/generate_lm.py):
/// TRL's generalised JSD for several betas and temperatures, and the forward and reverse KL of the
/// KD losses on `[N, T, V]` logits with positions labelled −1 left out.
final class LanguageModelLossTests: XCTestCase {
    func tensor(_ object: Any?) throws -> Tensor {
        guard let d = object as? [String: Any], let shape = d["shape"] as? [Int], let data = d["data"] as? [NSNumber] else {
            throw TensorError("fixture", "not a tensor")
        }
        return try Tensor(shape: shape, scalars: data.map(\.floatValue))
    }

    /// The Retort call for a fixture case, over the bound `s`, `t` and (when given) `y`.
    func expression(_ c: [String: Any], labelled: Bool) -> String {
        let args = c["args"] as? [String: Any] ?? [:]
        let T = "\(args["temperature"] ?? 1)"
        let y = labelled ? "y" : "none"
        switch c["op"] as? String {
        case "jsd": return "jsd(s, t, \(y), beta: \(args["beta"] ?? 0.5), T: \(T))"
        case "forward_kl": return "soft_kd(s, t, \(y), T: \(T))"
        // alpha 1 leaves the cross-entropy part out: what is left is T² · KL(student ‖ teacher).
        default: return "reverse_kd(s, t, \(y), T: \(T), alpha: 1)"
        }
    }

    /// Logits ~90 to 104 apart: the mixture's log underflowed to log 0 (NaN loss, infinite gradient)
    /// before it became a logsumexp. Reference: TRL's formula in float64 (torch.logsumexp of the
    /// stacked lt + log(beta) and ls + log(1 - beta), kl_div with log_target), 0.008844403579315263
    /// for both, gradient [-0.004712508131889274, ~1.7e-42, 0.004712508131889274].
    func testJSDStaysFiniteForLogitsFarApart() throws {
        let session = Session(sink: CollectingSink())
        for code in [
            "jsd([[0, -104, 5]], [[0, -104, 3]])",
            "let s = tensor([[0, -90, 5]], requires_grad: true)\nlet g = grad(jsd(s, [[0, -95, 3]]), s)\njsd(s, [[0, -95, 3]])",
        ] {
            guard case .success(.tensor(let loss)?) = session.execute(code) else {
                return XCTFail("\(code) did not give a tensor: \(session.execute(code))")
            }
            XCTAssertEqual(Double(loss.value.scalar ?? .nan), 0.008844403579315263, accuracy: 1e-6, code)
        }
        guard case .success(.tensor(let g)?) = session.execute("g") else { return XCTFail("no gradient") }
        let want: [Float] = [-0.004712508131889274, 0, 0.004712508131889274]
        for (got, expected) in zip(g.value.scalars, want) { XCTAssertEqual(got, expected, accuracy: 1e-6) }
    }

    func testSequenceLossesMatchPyTorch() throws {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "lm_losses", withExtension: "json", subdirectory: "Fixtures"))
        let root = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let cases = try XCTUnwrap(root["cases"] as? [[String: Any]])
        XCTAssertEqual(cases.count, 14)
        for c in cases {
            let name = c["name"] as? String ?? "?"
            let inputs = try (c["inputs"] as? [Any] ?? []).map(tensor)
            let s = Variable(inputs[0], requiresGrad: true)
            let t = Variable(inputs[1], requiresGrad: true)
            let session = Session(sink: CollectingSink())
            session.define("s", .tensor(s))
            session.define("t", .tensor(t))
            if inputs.count > 2 { session.define("y", .tensor(Variable(inputs[2]))) }
            let code = expression(c, labelled: inputs.count > 2)
            guard case .success(let value) = session.execute(code), case .tensor(let out)? = value else {
                XCTFail("\(name): \(code) did not give a tensor: \(session.execute(code))")
                continue
            }
            let expected = try tensor(c["output"])
            XCTAssertEqual(
                Double(out.value.scalar ?? .nan), Double(expected.scalar ?? .nan),
                accuracy: 1e-5 * (1 + Double(abs(expected.scalar ?? 0))), "\(name) value")
            // The fixture's gradients are of sum(output · cotangent).
            try out.backward(seed: try c["cotangent"].map(tensor) ?? Tensor(1))
            let grads = c["grads"] as? [Any] ?? []
            for (i, variable) in [s, t].enumerated() where i < grads.count && !(grads[i] is NSNull) {
                let want = try tensor(grads[i]).scalars
                let got = variable.grad?.scalars ?? []
                XCTAssertEqual(got.count, want.count, "\(name) grad \(i)")
                for (a, b) in zip(got, want) where abs(a - b) > 1e-5 + 1e-4 * abs(b) {
                    XCTFail("\(name) grad \(i): \(a), expected \(b)")
                    break
                }
            }
        }
    }
}
