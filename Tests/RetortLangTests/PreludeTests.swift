import Foundation
import RetortLang
import RetortTensor
import XCTest

/// The prelude's distillation losses, run as Retort code, against PyTorch's values and gradients.
final class PreludeTests: XCTestCase {
    func tensor(_ object: Any?) throws -> Tensor {
        guard let d = object as? [String: Any], let shape = d["shape"] as? [Int], let data = d["data"] as? [NSNumber] else {
            throw TensorError("fixture", "not a tensor")
        }
        return try Tensor(shape: shape, scalars: data.map(\.floatValue))
    }

    /// The Retort call that computes each fixture's loss from the bound inputs.
    func expression(_ loss: String, _ args: [String: Any]) -> String {
        let named = args.filter { $0.key != "weights" && $0.key != "label_smoothing" }
            .sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }
        let extra = named.isEmpty ? "" : ", " + named.joined(separator: ", ")
        switch loss {
        case "hint": return "hint(fs, ft, fn(x) = x @ transpose(w) + b)"
        case "attention": return "attention(fs, ft)"
        case "cross_entropy_smooth": return "cross_entropy(s, y, label_smoothing: \(args["label_smoothing"] ?? 0))"
        case "multi_kd":
            let w = (args["weights"] as? [NSNumber])?.map { "\($0)" }.joined(separator: ", ") ?? ""
            return "multi_kd(s, {logits: [t1, t2, t3], weights: [\(w)]}, y\(extra))"
        case "soft_kd": return "soft_kd(s, t\(extra))"
        default: return "\(loss)(s, t, y\(extra))"
        }
    }

    func testPreludeLossesMatchPyTorch() throws {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "prelude", withExtension: "json", subdirectory: "Fixtures"))
        let root = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let cases = try XCTUnwrap(root["cases"] as? [[String: Any]])
        XCTAssertEqual(cases.count, 32)
        var losses = Set<String>()
        for c in cases {
            let name = c["name"] as? String ?? "?"
            let loss = c["loss"] as? String ?? "?"
            let grads = c["grads"] as? [String: Any] ?? [:]
            let session = Session(sink: CollectingSink())
            var variables: [String: Variable] = [:]
            for (input, spec) in c["inputs"] as? [String: Any] ?? [:] {
                let needsGrad = grads[input].map { !($0 is NSNull) } ?? false
                let v = Variable(try tensor(spec), requiresGrad: needsGrad)
                variables[input] = v
                session.define(input, .tensor(v))
            }
            let code = expression(loss, c["args"] as? [String: Any] ?? [:])
            guard case .success(let value) = session.execute(code), case .tensor(let out)? = value else {
                XCTFail("\(name): \(code) did not give a tensor: \(session.execute(code))")
                continue
            }
            let expected = try tensor(c["output"])
            XCTAssertEqual(
                Double(out.value.scalar ?? .nan), Double(expected.scalar ?? .nan),
                accuracy: 1e-5 * (1 + Double(abs(expected.scalar ?? 0))), "\(name) value")
            try out.backward()
            for (input, spec) in grads where !(spec is NSNull) {
                let want = try tensor(spec)
                let got = variables[input]?.grad?.scalars ?? []
                let scale = want.scalars.map(abs).max() ?? 0
                for (i, (g, w)) in zip(got, want.scalars).enumerated() where abs(g - w) > 1e-6 + 1e-4 * (abs(w) + scale) {
                    XCTFail("\(name) d/d\(input)[\(i)] = \(g), PyTorch \(w)")
                    break
                }
            }
            losses.insert(loss)
        }
        XCTAssertEqual(losses.count, 8)
    }
}
