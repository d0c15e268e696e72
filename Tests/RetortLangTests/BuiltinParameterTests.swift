import Foundation
import XCTest

@testable import RetortLang

/// Every builtin declares what each parameter takes, `help` shows it, and every argument the binder
/// refuses is refused in one shape: "`NAME` of BUILTIN must be TYPE, got VALUE".
final class BuiltinParameterTests: XCTestCase {
    /// Builtins with a parameter that takes any value, by choice: they print, describe or pass on
    /// what they are given. Any other `.any` is a type nobody declared.
    static let takingAnything: Set<String> = ["print", "eprint", "display", "help", "type", "str", "append", "no_grad"]

    func testEveryParameterDeclaresATypeItsDefaultMeets() {
        XCTAssertGreaterThan(Builtins.all.count, 100)
        for builtin in Builtins.all {
            for p in builtin.parameters {
                if p.type == .any {
                    XCTAssertTrue(
                        Self.takingAnything.contains(builtin.name),
                        "\(builtin.name)(\(p.name)) takes any value: declare what it takes")
                }
                guard let d = p.defaultValue else { continue }
                let accepted = p.type.accepts(d) { if case .tensor = $0 { return true } else { return false } }
                XCTAssertTrue(accepted, "the default \(d.displayText) of \(builtin.name)(\(p.name)) is not \(p.type.description)")
            }
        }
    }

    func testHelpShowsEveryParameterWithItsTypeAndDefault() {
        for builtin in Builtins.all {
            let first = String(builtin.documentation.prefix { $0 != "\n" })
            XCTAssertTrue(first.hasPrefix("\(builtin.name)("), first)
            for p in builtin.parameters {
                XCTAssertFalse(p.type.signatureText.isEmpty, "\(builtin.name)(\(p.name)) shows no type")
                var shown = "\(p.name)\(p.variadic ? "..." : ""): \(p.type.signatureText)"
                if let d = p.defaultValue { shown += " = \(d.displayText)" }
                XCTAssertTrue(first.contains(shown), "\(builtin.name)'s entry lacks '\(shown)': \(first)")
            }
        }
        let quantize = Builtins.named("quantize")?.documentation.prefix { $0 != "\n" }
        XCTAssertEqual(
            quantize.map(String.init),
            "quantize(model: model, calibrate: dataset, bits: whole number = 8, per_channel: bool = true, "
                + "observer: \"minmax\" | \"percentile\" | \"mse\" = \"minmax\", batches: whole number ≥ 1 or none = none)")
    }

    func testTypesReadNaturallyInMessagesAndHelp() {
        let cases: [(ParameterType, message: String, help: String)] = [
            (.fraction(includingOne: false), "a fraction in [0, 1)", "fraction in [0, 1)"),
            (.wholeNumber(min: 1), "a whole number ≥ 1", "whole number ≥ 1"),
            (.wholeNumber(min: 0, max: 16), "a whole number from 0 to 16", "whole number from 0 to 16"),
            (.number(.above(0, finite: true)), "a finite number > 0", "finite number > 0"),
            (.number(.between(0, 1, includingLow: false, includingHigh: true)), "a number in (0, 1]", "number in (0, 1]"),
            (
                .option(["minmax", "percentile", "mse"]), "one of \"minmax\", \"percentile\", \"mse\"",
                "\"minmax\" | \"percentile\" | \"mse\""
            ),
            (.optional(.wholeNumber(min: 1)), "a whole number ≥ 1 or none", "whole number ≥ 1 or none"),
            (.optional(.oneOf([.tensorValue, .dataset])), "a tensor, a dataset or none", "tensor, dataset or none"),
            (
                .oneOf([.number(.atLeast(0)), .function(of: "p")]), "a number ≥ 0 or a function of p",
                "number ≥ 0 or function of p"
            ),
            (.list(.model), "a list of models", "list of models"),
            (.bool, "true or false", "bool"),
        ]
        for (type, message, help) in cases {
            XCTAssertEqual(type.description, message)
            XCTAssertEqual(type.signatureText, help)
        }
    }

    /// One refusal per family of types, each through a session as a program meets it.
    func testEveryRefusalHasTheCommonShape() throws {
        let session = Session(sink: CollectingSink())
        guard case .success = session.execute("let m = mlp([2, 3])\nlet d = blobs(n: 20, classes: 3)") else {
            return XCTFail("setup failed")
        }
        let cases: [(code: String, message: String)] = [
            ("adam(lr: -1)", "`lr` of adam must be a finite number ≥ 0 or a function of p, got -1"),
            ("step_lr(every: 10, gamma: 2)", "`gamma` of step_lr must be a number in (0, 1], got 2"),
            ("blobs(n: 2.5)", "`n` of blobs must be a whole number ≥ 1, got 2.5"),
            ("set_printoptions(precision: 17)", "`precision` of set_printoptions must be a whole number from 0 to 16, got 17"),
            ("prune(m, 1)", "`amount` of prune must be a fraction in [0, 1), got 1"),
            (
                "prune(m, 0.5, structure: \"blocks\")",
                "`structure` of prune must be one of \"weights\", \"channels\", got \"blocks\""
            ),
            (
                "quantize(m, calibrate: d, observer: \"foo\")",
                "`observer` of quantize must be one of \"minmax\", \"percentile\", \"mse\", got \"foo\""
            ),
            (
                "mse(zeros([2]), zeros([2]), reduction: \"avg\")",
                "`reduction` of mse must be one of \"none\", \"mean\", \"sum\", got \"avg\""
            ),
            ("batches(d, 4, shuffle: 1)", "`shuffle` of batches must be true or false, got 1"),
            ("csv(3)", "`path` of csv must be a string, got 3"),
            ("softmax(\"x\")", "`x` of softmax must be a tensor, got \"x\""),
            ("zeros([2.5])", "`shape` of zeros must be a list of whole numbers, got a tensor of shape [1]"),
            ("summary(3)", "`model` of summary must be a model, got 3"),
            ("distill(m, from: 3, on: d)", "`from` of distill must be a model or a list of models, got 3"),
            ("accuracy(m, 3)", "`data` of accuracy must be a dataset, got 3"),
            ("fit(m, d, loss: 3)", "`loss` of fit must be a function of (output, labels) or none, got 3"),
            ("quantize(m, calibrate: d, batches: 0)", "`batches` of quantize must be a whole number ≥ 1 or none, got 0"),
            ("fit(m, d, opt: 3)", "`opt` of fit must be an optimizer or none, got 3"),
            ("compare(m, d)", "`models` of compare must be a list of models, got the model m"),
            ("plot([1, 2], 3)", "`histories` of plot must be a training history, a list of numbers or a graph, got 3"),
        ]
        let shape = try NSRegularExpression(pattern: "^`[a-z_]+` of [a-z_0-9]+ must be .+, got .+$")
        for (code, message) in cases {
            guard case .failure(let diagnostics) = session.execute(code), let d = diagnostics.first else {
                XCTFail("\(code) should be refused")
                continue
            }
            XCTAssertEqual(d.kind, .type, code)
            XCTAssertEqual(d.message, message, code)
            let range = NSRange(d.message.startIndex..., in: d.message)
            XCTAssertNotNil(shape.firstMatch(in: d.message, range: range), "\(code): \(d.message)")
        }
    }

    /// The check runs before the builtin does: a refused fit trains nothing.
    func testArgumentsAreCheckedBeforeTheBuiltinRuns() {
        let sink = CollectingSink()
        let session = Session(sink: sink)
        guard case .failure(let d) = session.execute("fit(mlp([2, 3]), blobs(n: 20), epochs: 2, every: 0)") else {
            return XCTFail("every: 0 should be refused")
        }
        XCTAssertEqual(d.first?.message, "`every` of fit must be a whole number ≥ 1, got 0")
        XCTAssertTrue(sink.events.isEmpty, "no epoch ran")
    }
}
