import RetortLang
import XCTest

/// Syntax errors with their positions, and the parser's verdict on incomplete input.
final class ParserTests: XCTestCase {
    func diagnostics(_ code: String) -> [Diagnostic] {
        var parser = Parser(Source(name: "t", text: code))
        _ = parser.parseProgram()
        return parser.diagnostics
    }

    func assertError(_ code: String, _ message: String, line: Int, column: Int, file: StaticString = #filePath, at: UInt = #line)
    {
        let found = diagnostics(code)
        guard let d = found.first(where: { $0.message == message }) else {
            return XCTFail("no '\(message)' in \(found.map(\.message))", file: file, line: at)
        }
        XCTAssertEqual(d.range?.start.line, line, file: file, line: at)
        XCTAssertEqual(d.range?.start.column, column, file: file, line: at)
    }

    func testErrorsSayWhatAndWhere() {
        assertError("let = 3", "expected a name to bind, found '='", line: 1, column: 5)
        assertError("let x 3", "expected '=' after the name in 'let', found number 3", line: 1, column: 7)
        assertError("f(a: 1, 2)", "a positional argument cannot follow a named one", line: 1, column: 9)
        assertError("f(a: 1, a: 2)", "argument 'a' is given twice", line: 1, column: 9)
        assertError(
            "fn g(a = 1, b) = a", "parameter 'b' needs a default value because an earlier parameter has one", line: 1, column: 13)
        assertError("fn g(a, a) = a", "parameter 'a' appears twice", line: 1, column: 9)
        assertError("1 < 2 < 3", "comparisons do not chain; combine them with 'and'", line: 1, column: 7)
        assertError("3 = x", "cannot assign to this expression; use 'let' to bind a new name", line: 1, column: 1)
        assertError("x = 1 2", "expected a new line or ';' after the statement, found number 2", line: 1, column: 7)
        assertError("{a: 1, a: 2}", "field 'a' appears twice", line: 1, column: 8)
        assertError("let s = \"abc\ndef\"", "unterminated string", line: 1, column: 9)
        assertError("x ? 1", "unexpected character '?'", line: 1, column: 3)
        assertError("}", "unexpected '}' with no block to close", line: 1, column: 1)
        assertError("for i 1..3 { }", "expected 'in' after the loop variable, found number 1", line: 1, column: 7)
    }

    func testEveryErrorInACellIsReportedInOnePass() {
        let found = diagnostics("let a = 1 +\nlet b = (2\nlet c = * 3\nlet d = 4")
        XCTAssertEqual(found.map(\.range?.start.line), [2, 2, 3])
    }

    func testIncompleteInputIsKnownByTheParser() {
        let session = Session(sink: CollectingSink())
        for code in [
            "fn kd(s, t) =", "let x = (1 +", "[1, 2,", "for i in 1..3 {", "kd(s, t,\n  y", "let s = \"abc",
            "if x {\n 1\n} else {",
        ] {
            XCTAssertEqual(session.isComplete(code), .incomplete, code)
        }
        for code in ["1 + 2", "fn kd(s, t) = s\n", "let x = [1,\n 2]", "fn f(a) =\n    a\n  + 1", ""] {
            XCTAssertEqual(session.isComplete(code), .complete, code)
        }
        for code in ["1 +* 2", ")", "let = 4"] {
            XCTAssertEqual(session.isComplete(code), .invalid, code)
        }
    }

    func testRangesPointAtTheOffendingText() throws {
        let session = Session(sink: CollectingSink())
        guard case .failure(let d) = session.execute("let a = zeros([2, 3])\nlet b = a @ a") else {
            return XCTFail("should fail")
        }
        XCTAssertEqual(d[0].kind, .shape)
        XCTAssertEqual(d[0].range?.start.line, 2)
        XCTAssertEqual(d[0].range?.start.column, 9)
        XCTAssertEqual(d[0].range?.end.column, 14)
        XCTAssertEqual(
            session.render(d),
            "<cell 1>:2:9: ShapeError: matmul: inner dimensions differ: [2, 3] @ [2, 3]\n2 | let b = a @ a\n  |         ^^^^^\n")
    }

    /// A script with Windows line ends (CRLF) shows the line an error is on, not an empty one.
    func testAnErrorInACRLFScriptShowsItsLine() {
        let session = Session(sink: CollectingSink())
        guard case .failure(let d) = session.execute("let a = 1\r\nlet b = 2\r\nprint(zz)\r\n") else {
            return XCTFail("should fail")
        }
        XCTAssertEqual(
            session.render(d), "<cell 1>:3:7: NameError: 'zz' is not defined\n3 | print(zz)\n  |       ^^\n")
    }
}
