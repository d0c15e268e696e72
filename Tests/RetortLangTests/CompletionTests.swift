import RetortLang
import XCTest

final class CompletionTests: XCTestCase {
    let session = Session(sink: CollectingSink())

    func complete(_ text: String) -> Completions {
        session.completions(text, cursor: text.unicodeScalars.count)
    }

    func testBuiltinsAndBindings() {
        XCTAssertEqual(complete("disti").matches, ["distill", "distinct"])
        XCTAssertEqual(complete("distil").matches, ["distill"])
        XCTAssertEqual(complete("let h = dist").start, 8)
        _ = session.execute("let teacher_big = mlp([4, 2])")
        XCTAssertTrue(complete("teach").matches.contains("teacher_big"))
        XCTAssertEqual(complete("").matches.count, complete("").matches.count)
    }

    /// A `:` at the start of a line completes to the commands, not the builtins (it offered all 191).
    func testCommandsAfterAColonAtTheStartOfALine() {
        XCTAssertEqual(complete(":lo").matches, ["load"])
        XCTAssertEqual(complete(":lo").start, 1)
        XCTAssertTrue(complete(":").matches.contains("help"))
        XCTAssertFalse(complete(":").matches.contains("distill"))
        XCTAssertEqual(complete("let x = 1\n  :ti").matches, ["time"])
        XCTAssertTrue(complete("fit(m, d, epochs: dis").matches.contains("distill"), "a colon inside code is not a command")
    }

    func testMembersAfterADot() {
        _ = session.execute("let h = fit(mlp([2, 3]), blobs(n: 30), epochs: 1, quiet: true)\nlet data = blobs(n: 10)")
        XCTAssertEqual(complete("h.lo").matches, ["loss"])
        XCTAssertEqual(complete("data.").matches, ["class_names", "classes", "count", "features", "name", "x", "y"])
        XCTAssertEqual(complete("data.x.sh").matches, ["shape"])
        XCTAssertEqual(complete("nothing.").matches, [])
    }

    func testNamedParametersInsideACall() {
        XCTAssertTrue(complete("distill(student, fr").matches.contains("from: "))
        XCTAssertTrue(complete("fit(m, d, ep").matches.contains("epochs: "))
        _ = session.execute("fn kd2(s, t, temperature = 4) = s")
        XCTAssertTrue(complete("kd2(a, b, tem").matches.contains("temperature: "))
        XCTAssertFalse(complete("kd2(a, [1, 2], x(1), tem").matches.isEmpty)
    }

    func testCursorCountsUnicodeScalars() {
        let text = "let é = 1; dist"
        XCTAssertEqual(session.completions(text, cursor: text.unicodeScalars.count).start, 11)
    }
}
