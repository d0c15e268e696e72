import Foundation
import RetortNN
import RetortTensor

/// Every builtin, by area. Each has a doc entry reachable with `help(name)`.
enum Builtins {
    static let all: [Builtin] =
        general + tensorBuiltins + lossBuiltins + modelBuiltins + modeBuiltins + scheduleBuiltins + compressionBuiltins
        + quantizationBuiltins + graphBuiltins + errorBuiltins + languageBuiltins + trainingBuiltins
        + dataBuiltins + fileBuiltins
        + plotBuiltins
        + exportBuiltins

    static func named(_ name: String) -> Builtin? { all.first { $0.name == name } }

    static let general: [Builtin] = [
        Builtin(
            "print", [.init("values", .any, variadic: true)], category: "general",
            summary: "Writes values separated by spaces, then a new line.", example: "print(\"loss\", 0.25)"
        ) { call in
            let text = call.rest.map { v -> String in
                if case .string(let s) = v.value { return s }
                return v.value.displayText
            }.joined(separator: " ")
            call.interpreter.sink.write(text + "\n")
            return .none
        },
        Builtin(
            "help", [.init("name", .any, Value.none)], category: "general",
            summary: "Shows the doc entry of a builtin, or the source of a function; help() lists every builtin.",
            example: "help(distill)"
        ) { call in
            call.interpreter.sink.page(try helpText(call.value("name"), call) + "\n")
            return .none
        },
        Builtin(
            "eprint", [.init("values", .any, variadic: true)], category: "general",
            summary: "Writes values separated by spaces, then a new line, to the error stream.",
            example: "eprint(\"warning: no labels\")"
        ) { call in
            let text = call.rest.map { v -> String in
                if case .string(let s) = v.value { return s }
                return v.value.displayText
            }.joined(separator: " ")
            call.interpreter.sink.writeError(text + "\n")
            return .none
        },
        Builtin(
            "display", [.init("values", .any, variadic: true)], category: "general",
            summary:
                "Shows each value now, in the richest form the front end has (a plot inline in a notebook, as text in a terminal).",
            example: "display(plot(h))"
        ) { call in
            for v in call.rest { call.interpreter.sink.display(v.value) }
            return .none
        },
        Builtin(
            "clear_output", [.init("wait", .bool, .bool(false))], category: "general",
            summary: "Clears what the current notebook cell has shown; wait: true waits for the next output first.",
            example: "clear_output(wait: true)"
        ) { call in
            call.interpreter.sink.clearOutput(wait: try call.bool("wait"))
            return .none
        },
        Builtin(
            "input", [.init("prompt", .string, .string("")), .init("password", .bool, .bool(false))], category: "general",
            summary: "A line typed by the user after the prompt, as a string.", example: "let name = input(\"run name? \")"
        ) { call in
            let prompt = try call.string("prompt")
            guard let line = call.interpreter.sink.readInput(prompt: prompt, password: try call.bool("password")) else {
                throw call.error(
                    "no line to read: the input has ended (a script's standard input), or this front end cannot ask for "
                        + "one (a notebook must allow stdin)", kind: .runtime)
            }
            return .string(line)
        },
        Builtin(
            "source", [.init("function", .function())], category: "general",
            summary: "The source text of a function written in Retort (the prelude's losses included).",
            example: "source(kd)"
        ) { call in
            guard case .function(.closure(let c)) = call.value("function") else {
                throw call.fail("function", "a function written in Retort (builtins are written in Swift; see help)")
            }
            return .string(c.declaration.sourceText)
        },
        Builtin(
            "type", [.init("value", .any)], category: "general", summary: "The name of a value's type.", example: "type(digits())"
        ) { call in .string(call.value("value").typeName) },
        Builtin(
            "len",
            [
                .init(
                    "value",
                    .oneOf([.list(.any), .tuple, .string, .dataset, .range, .record(.any), .tensorValue, .corpus, .vocab]))
            ],
            category: "general",
            summary:
                "The number of items: list and tuple items, dataset examples, a tensor's first dimension, a corpus's lines, a vocabulary's symbols (the end mark included).",
            example: "len([1, 2, 3])"
        ) { call in
            switch call.value("value") {
            case .list(let items), .tuple(let items): return .number(Double(items.count))
            case .string(let s): return .number(Double(s.count))
            case .dataset(let d): return .number(Double(d.count))
            case .tensor(let t) where t.value.rank > 0: return .number(Double(t.shape[0]))
            case .tensor:
                throw call.error(
                    "a 0-d tensor (one number) has no first dimension to count, as in PyTorch", kind: .type, at: "value")
            case .range(let a, let b): return .number(Double(Swift.max(0, b - a)))
            case .record(let r): return .number(Double(r.fields.count))
            case .corpus(let c): return .number(Double(c.count))
            case .vocab(let v): return .number(Double(v.count))
            default: throw call.fail("value")
            }
        },
        Builtin(
            "str", [.init("value", .any)], category: "general", summary: "A value as display text.", example: "str(3.5)"
        ) { call in
            if case .string = call.value("value") { return call.value("value") }
            return .string(call.value("value").displayText)
        },
        Builtin(
            "seed", [.init("n", .wholeNumber())], category: "general",
            summary: "Reseeds the session's random generator, so what follows is reproducible.", example: "seed(42)"
        ) { call in
            call.interpreter.generator = RandomGenerator(seed: UInt64(truncatingIfNeeded: try call.int("n")))
            return .none
        },
        Builtin(
            "set_printoptions", [.init("precision", .wholeNumber(min: 0, max: 16), .number(4))], category: "general",
            summary:
                "Digits shown from now on: tensor elements with `precision` decimals (default 4, as PyTorch), numbers with precision + 2 significant digits.",
            example: "set_printoptions(precision: 8)"
        ) { call in
            PrintOptions.precision = try call.int("precision")
            return .none
        },
        Builtin(
            "round", [.init("x", .number()), .init("digits", .wholeNumber(min: -308, max: 308), .number(0))],
            category: "general",
            summary:
                "A number rounded to `digits` decimal places (negative: to tens, hundreds, ...), a half to the even neighbour as Python's round and torch.round do (round(2.5) is 2).",
            example: "round(3.14159, digits: 2)"
        ) { call in
            let x = try call.number("x")
            let digits = try call.int("digits")
            let scale = Foundation.pow(10, Double(digits))
            let scaled = x * scale
            // Past what a double holds in its digits there is nothing to round (round(5, digits: 400)
            // was NaN, round(1e300, digits: 10) infinity).
            guard x.isFinite, scaled.isFinite, scale > 0, Swift.abs(scaled) < 0x1p52 else { return .number(x) }
            // To decimal places, from the double's exact binary value, as Python rounds: 2.675 is
            // 2.67499999... and rounds to 2.67, where x * 100 rounded first gives 267.5 and 2.68.
            if digits > 0, let exact = Double(String(format: "%.\(digits)f", x)) { return .number(exact) }
            return .number(scaled.rounded(.toNearestOrEven) / scale)
        },
        Builtin(
            "range", [.init("start", .wholeNumber()), .init("end", .wholeNumber())], category: "general",
            summary: "Whole numbers from start up to, not including, end (same as start..<end).", example: "range(0, 5)"
        ) { call in .range(try call.int("start"), try call.int("end")) },
        Builtin(
            "append", [.init("list", .list(.any)), .init("item", .any)], category: "general",
            summary: "A new list with the item added at the end.", example: "let seen = append(seen, x)"
        ) { call in
            // The list nests within the limit already: only the item, one level down, can take it past.
            let item = call.value("item")
            _ = try call.interpreter.checkNesting(.list([item]), at: call.range)
            var items = try call.list("list")
            items.append(item)
            return .list(items)
        },
        Builtin(
            "list", [.init("values", .oneOf([.range, .list(.any), .tuple, .tensorValue, .string]))], category: "general",
            summary: "A list from a range, tuple, tensor's rows or list.", example: "list(1..3)"
        ) { call in .list(try call.interpreter.iterate(call.value("values"), at: call.range(of: "values"))) },
    ]

    static func helpText(_ value: Value, _ call: BuiltinCall) throws -> String {
        switch value {
        case .none:
            let byCategory = Dictionary(grouping: all, by: \.category)
            var lines = ["Retort builtins (help(name) for one; source(name) for a prelude loss):"]
            for category in byCategory.keys.sorted() {
                lines.append("  \(category): " + byCategory[category, default: []].map(\.name).sorted().joined(separator: ", "))
            }
            let prelude = call.interpreter.preludeScope.values.keys.sorted()
            lines.append("  prelude (written in Retort): " + prelude.joined(separator: ", "))
            return lines.joined(separator: "\n")
        case .function(.builtin(let b)):
            return b.documentation
        case .function(.closure(let c)):
            return c.declaration.sourceText
        case .string(let name):
            if let b = named(name) { return b.documentation }
            if let v = call.interpreter.lookup(name) { return try helpText(v, call) }
            throw call.error("no builtin or binding named '\(name)'", kind: .undefinedName, at: "name")
        default:
            return "\(value.typeName): \(describeShort(value))"
        }
    }
}
