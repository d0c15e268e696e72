import Foundation
import RetortLang
import XCTest

/// distinct and novel count characters as the vocabulary does: code points, compared one by one,
/// as Python's n-grams and `in` do (Swift's characters merged "é" with "e" and a combining accent).
final class TextBuiltinTests: XCTestCase {
    func testDistinctAndNovelCountCodePoints() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("retort-text-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let samples = folder.appendingPathComponent("samples.txt")
        let known = folder.appendingPathComponent("known.txt")
        try "caf\u{E9}\ncafe\u{301}\n\u{1F44D}\u{1F3FD}\n".write(to: samples, atomically: true, encoding: .utf8)
        try "caf\u{E9}\n".write(to: known, atomically: true, encoding: .utf8)
        let session = Session(sink: CollectingSink())
        let code = """
            let s = text("\(samples.path)")
            [distinct(s, 1), novel(s, text("\(known.path)"))]
            """
        guard case .success(let value) = session.execute(code) else { return XCTFail("the cell failed") }
        // Python: 11 code points, 8 distinct (c, a, f, é, e, U+0301, 👍, 🏽); 2 of 3 lines not known.
        XCTAssertEqual(value?.displayText, "tensor([0.7273, 0.6667])  [2]")
    }
}
