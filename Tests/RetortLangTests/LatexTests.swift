import XCTest

@testable import RetortLang

/// Functions rendered as LaTeX by `latexFormula(of:)`: the prelude's losses, operators, and what has no formula.
final class LatexTests: XCTestCase {
    /// The first function in `code`: a `fn` statement, or an anonymous one bound by `let`.
    func declaration(_ code: String, named name: String? = nil, file: StaticString = #filePath, line: UInt = #line) throws
        -> FunctionDecl
    {
        var parser = Parser(Source(name: "t", text: code))
        let program = parser.parseProgram()
        XCTAssertEqual(parser.diagnostics.map(\.message), [], file: file, line: line)
        let found = program.statements.compactMap { statement -> FunctionDecl? in
            switch statement {
            case .function(let d, _): return d
            case .let(_, .function(let d, _), _): return d
            default: return nil
            }
        }
        return try XCTUnwrap(found.first { name == nil || $0.name == name }, "no function \(name ?? "")", file: file, line: line)
    }

    func latex(_ code: String, named name: String? = nil, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        try latexFormula(of: declaration(code, named: name, file: file, line: line))
    }

    /// Hinton KD as the issue writes it: α·T²·KL(softmax(t/T) ‖ softmax(s/T)) + (1−α)·CE(s, y).
    let hintonKD =
        #"\mathrm{kd}(s, t, y) = \alpha \, T^{2} \, \mathrm{KL}\!\left(\mathrm{softmax}(t / T) \,\middle\|\, "#
        + #"\mathrm{softmax}(s / T)\right) + (1 - \alpha) \, \mathrm{CE}(s, y)"#

    func testHintonKD() throws {
        let code = """
            fn kd(s, t, y, T = 4, alpha = 0.9) =
              alpha * T^2 * kl_div(log_softmax(s / T), soft_targets(t, T)) + (1 - alpha) * cross_entropy(s, y)
            """
        XCTAssertEqual(try latex(code), hintonKD)
        // The prelude's kd wraps each part in term("kd", ...), which names the part without changing it.
        XCTAssertEqual(try latex(Prelude.text, named: "kd"), hintonKD)
    }

    func testOperatorsAndPrecedence() throws {
        XCTAssertEqual(try latex("fn f(x) = -x^2 / 2"), #"f(x) = \frac{-x^{2}}{2}"#)
        XCTAssertEqual(
            try latex("fn g(x, y) = (x - -y) * (x + y)^(1 / 2) - (x - y) + x @ y * 2"),
            #"g(x, y) = (x - (-y)) \, (x + y)^{1 / 2} - (x - y) + x \, y \cdot 2"#)
        XCTAssertEqual(
            try latex("fn h(a, b) = not (a < b and a >= 1 or b != 0)"), #"h(a, b) = \lnot (a < b \land a \geq 1 \lor b \neq 0)"#)
        XCTAssertEqual(try latex("fn q(x) = (x / 2)^2 + x[0, 1:3]"), #"q(x) = \left(\frac{x}{2}\right)^{2} + x_{0, 1:3}"#)
    }

    func testNamesAndNumbers() throws {
        XCTAssertEqual(
            try latex("fn n(lambda, w1, lr_2, big_x) = 1e-5 * lambda + 0.001 * w1 + lr_2 * big_x"),
            #"n(\lambda, w_{1}, \mathrm{lr}_{2}, \mathrm{big\_x}) = "#
                + #"10^{-5} \, \lambda + 0.001 \, w_{1} + \mathrm{lr}_{2} \, \mathrm{big\_x}"#)
        XCTAssertEqual(try latex("let h = fn(x, y = 2) = sqrt(abs(x)) * y"), #"f(x) = \sqrt{\lvert x \rvert} \, y"#)
    }

    func testPipeIsACallWithThePipedValueFirst() throws {
        XCTAssertEqual(
            try latex("fn p(x, w) = x |> softmax |> mean(axis: 1) |> my_loss(w)"),
            #"p(x, w) = \mathrm{my\_loss}(\operatorname{mean}(\mathrm{softmax}(x)), w)"#)
    }

    func testLetsBecomeAlignedLines() throws {
        let code = """
            fn layer(x, w1, b = 0) {
              let h = x @ w1 + b
              exp(h) / sum(exp(h), axis: 1)
            }
            """
        XCTAssertEqual(
            try latex(code),
            #"""
            \begin{aligned}
            h &= x \, w_{1} + b \\
            \mathrm{layer}(x, w_{1}) &= \frac{\exp(h)}{\sum(\exp(h))}
            \end{aligned}
            """#)
    }

    func testPreludeLosses() throws {
        XCTAssertEqual(
            try latex(Prelude.text, named: "dkd"),
            #"""
            \begin{aligned}
            \mathrm{classes} &= s.\mathrm{shape}_{s.\mathrm{rank} - 1} \\
            \mathrm{rs} &= \mathrm{reshape}(s, [-1, \mathrm{classes}]) \\
            \mathrm{rt} &= \mathrm{reshape}(t, [-1, \mathrm{classes}]) \\
            \mathrm{ry} &= \mathrm{reshape}(y, [-1]) \\
            \mathrm{gt} &= \mathrm{one\_hot}(\max(\mathrm{ry}, 0), \mathrm{classes}) \\
            \mathrm{other} &= 1 - \mathrm{gt} \\
            \mathrm{ps} &= \mathrm{softmax}(\mathrm{rs} / T) \\
            \mathrm{pt} &= \mathrm{softmax}(\mathrm{rt} / T) \\
            \mathrm{bs} &= \mathrm{stack}([\sum(\mathrm{ps} \, \mathrm{gt}), \sum(\mathrm{ps} \, \mathrm{other})]) \\
            \mathrm{bt} &= \mathrm{stack}([\sum(\mathrm{pt} \, \mathrm{gt}), \sum(\mathrm{pt} \, \mathrm{other})]) \\
            \mathrm{tckd} &= T^{2} \, \mathrm{KL}\!\left(\mathrm{bt} \,\middle\|\, \mathrm{bs}\right) \\
            \mathrm{nckd} &= T^{2} \, \mathrm{KL}\!\left(\mathrm{softmax}(\mathrm{rt} / T - 1000 \, \mathrm{gt}) \,\middle\|\, \mathrm{softmax}(\mathrm{rs} / T - 1000 \, \mathrm{gt})\right) \\
            \mathrm{dkd}(s, t, y) &= \alpha \, \mathrm{tckd} + \beta \, \mathrm{nckd}
            \end{aligned}
            """#)
        XCTAssertEqual(
            try latex(Prelude.text, named: "attention"),
            #"\mathrm{attention}(\mathrm{student\_features}, \mathrm{teacher\_features}) = "#
                + #"\operatorname{mean}((\mathrm{attention\_map}(\mathrm{student\_features}) - "#
                + #"\mathrm{attention\_map}(\mathrm{teacher\_features}))^{2})"#)
        XCTAssertEqual(
            try latex(Prelude.text, named: "hint"),
            #"\mathrm{hint}(\mathrm{student\_features}, \mathrm{teacher\_features}, \mathrm{adapter}) = "#
                + #"\mathrm{MSE}(\mathrm{adapter}(\mathrm{student\_features}), \mathrm{teacher\_features})"#)
    }

    func testConstructsWithNoFormulaSayWhatAndWhere() throws {
        let loop = """
            fn total(x) {
              let y = 0
              for i in 1..3 { y = y + i }
              y
            }
            """
        XCTAssertThrowsError(try latex(loop)) { error in
            guard let d = error as? Diagnostic else { return XCTFail("not a diagnostic: \(error)") }
            XCTAssertEqual(d.message, "latex: a 'for' loop has no formula (at 3:3)")
            XCTAssertEqual(d.range?.start.line, 3)
            XCTAssertEqual(d.range?.start.column, 3)
        }
        XCTAssertThrowsError(try latex("fn pick(x) = if x > 0 { x } else { 0 }")) { error in
            XCTAssertEqual((error as? Diagnostic)?.message, "latex: an 'if' expression has no formula (at 1:14)")
        }
        XCTAssertThrowsError(try latex("fn set(x) {\n  x = 2\n  x\n}")) { error in
            XCTAssertEqual((error as? Diagnostic)?.message, "latex: an assignment has no formula (at 2:3)")
        }
    }
}
