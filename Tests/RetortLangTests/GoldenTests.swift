import Foundation
import RetortLang
import XCTest

/// Runs every `Golden/<area>/<name>.rt` as a script and compares what it shows (each top-level
/// value, printed text, diagnostics with carets) with `<name>.expected` beside it.
///
/// `RETORT_UPDATE_GOLDEN=1 swift test --filter GoldenTests` rewrites the expected files; read the
/// diff before committing it.
final class GoldenTests: XCTestCase {
    /// Runs a script; a line `# ---` splits it into cells run one after another in the same
    /// session, as a notebook's are, so one file can show several errors and what survives them.
    static func run(_ code: String, name: String) -> String {
        // The files a script writes under /tmp/retort-golden-... go to a folder of this process's
        // own, fresh each run, so scripts that resume checkpoints start without any and two test
        // runs at once (two checkouts) cannot see each other's. The folder's path is as long as the
        // prefix it stands for, so columns in messages stay, and the output shows the path as written.
        let prefix = "/tmp/retort-golden-"
        let folder = "/tmp/rt" + String(String(getpid()).suffix(11)).leftPadded(to: 11) + "/"
        precondition(folder.count == prefix.count)
        try? FileManager.default.removeItem(atPath: folder)
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let output = runIsolated(code.replacingOccurrences(of: prefix, with: folder), name: name)
        return output.replacingOccurrences(of: folder, with: prefix)
    }

    private static func runIsolated(_ code: String, name: String) -> String {
        let sink = CollectingSink()
        let session = Session(sink: sink, seed: 0)
        var shown = ""
        let cells = code.components(separatedBy: "\n# ---\n")
        for (i, cell) in cells.enumerated() {
            sink.clear()
            let outcome = session.execute(cell, name: cells.count == 1 ? name : "\(name)[\(i + 1)]") { value in
                shown += sink.text
                sink.clear()
                shown += value.displayText + "\n"
            }
            shown += sink.text
            if case .failure(let diagnostics) = outcome { shown += session.render(diagnostics) }
        }
        return shown
    }

    /// Whether two outputs differ only in numbers, each within a relative 1e-3 (BLAS kernels differ
    /// in how they round: a loss after training is printed to six digits, which one kernel's
    /// summation order can move in the last ones). Text, and the count of numbers, must match exactly.
    static func sameWithinRounding(_ a: String, _ b: String) -> Bool {
        let pattern = try! NSRegularExpression(pattern: "-?[0-9]+\\.[0-9]+(e[-+]?[0-9]+)?")
        func split(_ s: String) -> (text: String, numbers: [Double]) {
            let range = NSRange(s.startIndex..., in: s)
            let numbers = pattern.matches(in: s, range: range).compactMap { Range($0.range, in: s).flatMap { Double(s[$0]) } }
            return (pattern.stringByReplacingMatches(in: s, range: range, withTemplate: "#"), numbers)
        }
        let (x, y) = (split(a), split(b))
        guard x.text == y.text, x.numbers.count == y.numbers.count else { return false }
        return zip(x.numbers, y.numbers).allSatisfy { abs($0 - $1) <= 1e-5 + 1e-3 * max(abs($0), abs($1)) }
    }

    func testNumbersMayDifferInTheirLastDigitsOnly() {
        XCTAssertTrue(Self.sameWithinRounding("loss: 0.899737 → 0.257077", "loss: 0.899741 → 0.257075"))
        XCTAssertFalse(Self.sameWithinRounding("loss: 0.899737 → 0.257077", "loss: 0.899737 → 0.267077"))
        XCTAssertFalse(Self.sameWithinRounding("loss: 0.5", "lost: 0.5"))
        XCTAssertFalse(Self.sameWithinRounding("3 of 10", "4 of 10"), "whole numbers (counts, epochs) must match exactly")
    }

    func testGoldenScripts() throws {
        guard let root = Bundle.module.url(forResource: "Golden", withExtension: nil) else {
            return XCTFail("the Golden resource folder is missing")
        }
        let update = ProcessInfo.processInfo.environment["RETORT_UPDATE_GOLDEN"] == "1"

        let files =
            FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil)?
            .compactMap { $0 as? URL }.filter { $0.pathExtension == "rt" }.sorted { $0.path < $1.path } ?? []
        XCTAssertGreaterThanOrEqual(files.count, 10)
        for file in files {
            let name = file.deletingLastPathComponent().lastPathComponent + "/" + file.lastPathComponent
            let actual = Self.run(try String(contentsOf: file, encoding: .utf8), name: name)
            let expectedURL = file.deletingPathExtension().appendingPathExtension("expected")
            if update {
                // Write back into the source tree, not the copied bundle.
                let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
                    .appendingPathComponent("Golden/\(name)").deletingPathExtension().appendingPathExtension("expected")
                try actual.write(to: source, atomically: true, encoding: .utf8)
                continue
            }
            let expected = (try? String(contentsOf: expectedURL, encoding: .utf8)) ?? "<missing \(expectedURL.lastPathComponent)>"
            if actual != expected && !Self.sameWithinRounding(actual, expected) {
                XCTFail("\(name) differs from its .expected file:\n--- expected\n\(expected)\n--- actual\n\(actual)")
            }
        }
    }
}

extension String {
    /// The string with zeros in front, to `width` characters.
    fileprivate func leftPadded(to width: Int) -> String { String(repeating: "0", count: Swift.max(0, width - count)) + self }
}
