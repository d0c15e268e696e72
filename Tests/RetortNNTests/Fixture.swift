import Foundation
import RetortTensor
import XCTest

/// Loads the `cases` of a PyTorch-generated fixture file shipped as a test resource.
func loadCases(_ file: String) throws -> [[String: Any]] {
    guard let url = Bundle.module.url(forResource: file, withExtension: "json", subdirectory: "Fixtures") else {
        throw TensorError("fixture", "missing resource Fixtures/\(file).json")
    }
    let object = try JSONSerialization.jsonObject(with: Data(contentsOf: url))
    return (object as? [String: Any])?["cases"] as? [[String: Any]] ?? []
}

/// Decodes `{"shape": [...], "data": [...]}`.
func tensor(_ object: Any?) throws -> Tensor {
    guard let dict = object as? [String: Any], let shape = dict["shape"] as? [Int], let data = dict["data"] as? [NSNumber] else {
        throw TensorError("fixture", "not a tensor: \(String(describing: object))")
    }
    return try Tensor(shape: shape, scalars: data.map(\.floatValue))
}

func assertClose(_ a: [Float], _ e: [Float], rtol: Float = 1e-5, atol: Float = 1e-6, _ what: String, line: UInt = #line) {
    XCTAssertEqual(a.count, e.count, what, line: line)
    for (i, (x, y)) in zip(a, e).enumerated() where !(Swift.abs(x - y) <= atol + rtol * Swift.abs(y)) {
        XCTFail("\(what): element \(i) is \(x), expected \(y)", line: line)
        return
    }
}

/// What `body` throws, as its message, or "no error": for checking that a fused or chained pass
/// fails with the error the layers give one by one.
func errorMessage(_ body: () throws -> Variable) -> String {
    do {
        _ = try body()
        return "no error"
    } catch { return "\(error)" }
}
