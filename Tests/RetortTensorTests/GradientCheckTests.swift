import Foundation
import RetortTensor
import XCTest

/// Every differentiable op's backward against central finite differences of its own forward,
/// at the fixture inputs: a check that needs no reference implementation at all.
final class GradientCheckTests: XCTestCase {
    func testEveryDifferentiableOpAgreesWithFiniteDifferences() throws {
        let cases = try FixtureCase.load("ops", bundle: .module)
        var checkedOps = Set<String>()
        for json in cases {
            let name = json["name"] as? String ?? "?"
            let opName = json["op"] as? String ?? "?"
            guard let op = TorchReferenceTests.ops[opName], let cotangentJSON = json["cotangent"] else { continue }
            let specs = json["inputs"] as? [[String: Any]] ?? []
            let expectedGrads = json["grads"] as? [Any] ?? []
            let args = json["args"] as? [String: Any] ?? [:]
            let values = try specs.map { try tensor($0) }
            // Finite differences in float32 are only meaningful on small tensors.
            guard values.allSatisfy({ $0.count <= 64 }) else { continue }
            let cotangent = try tensor(cotangentJSON)
            let differentiable = specs.indices.filter { i in
                (specs[i]["dtype"] as? String) != "int" && i < expectedGrads.count && !(expectedGrads[i] is NSNull)
            }

            func objective(_ inputs: [Tensor]) throws -> Double {
                let out = try op(inputs.enumerated().map { Variable($1, requiresGrad: differentiable.contains($0)) }, args)
                return zip(out.value.scalars, cotangent.scalars).reduce(0) { $0 + Double($1.0) * Double($1.1) }
            }

            let variables = values.enumerated().map { Variable($1, requiresGrad: differentiable.contains($0)) }
            let output = try op(variables, args)
            try output.backward(seed: cotangent)
            for i in differentiable {
                let analytic = (variables[i].grad ?? .zeros(values[i].shape)).scalars
                let scale = analytic.reduce(0) { Swift.max($0, Swift.abs($1)) }
                for j in 0..<values[i].count {
                    let x = values[i].scalars[j]
                    // Small steps, but never across zero: log and sqrt are only defined on one side.
                    let h = x == 0 ? 1e-3 : Swift.min(1e-3 * Swift.max(1, Swift.abs(x)), Swift.abs(x) / 4)
                    var plus = values
                    var minus = values
                    plus[i].withUnsafeMutableBufferPointer { $0[j] = x + h }
                    minus[i].withUnsafeMutableBufferPointer { $0[j] = x - h }
                    let numeric = Float((try objective(plus) - objective(minus)) / Double(2 * h))
                    let tolerance = 2e-2 * (Swift.abs(analytic[j]) + scale) + 2e-3
                    if Swift.abs(numeric - analytic[j]) > tolerance {
                        XCTFail("\(name) input \(i) element \(j): backward gives \(analytic[j]), finite difference \(numeric)")
                        break
                    }
                }
            }
            checkedOps.insert(opName)
        }
        XCTAssertGreaterThanOrEqual(checkedOps.count, 40, "checked ops: \(checkedOps.sorted())")
    }
}
