/// Renders a function written in Retort as a LaTeX formula (for `latex(fn)`); throws a diagnostic on loops, `if` and the like.
///
/// A single-expression body gives `\mathrm{kd}(s, t, y) = ...`; a block of `let`s gives an `aligned` list of
/// `name &= ...` lines ending in the function's own line. The signature lists the parameters without defaults.
func latexFormula(of declaration: FunctionDecl) throws -> String {
    try LatexRenderer().formula(declaration)
}

/// Turns the syntax tree into LaTeX with as few parentheses as the operators' precedence allows.
///
/// Division is a `\frac` except inside a call's arguments and in exponents, where `a / b` stays inline so
/// `\mathrm{softmax}(s / T)` reads like the source.
struct LatexRenderer {
    /// How tightly a rendered piece binds, loosest first; a piece looser than its place needs parentheses.
    enum Level: Int, Comparable {
        case or, and, not, comparison, sum, product, prefix, power, atom

        static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
    }

    /// Rendered text with the level it binds at.
    struct Piece {
        var text: String
        var level: Level
    }

    /// Call options that change how, not what, a function computes; they are left out of formulas.
    static let options: Set<String> = ["axis", "keepdims", "reduction", "label_smoothing"]

    /// Builtins that render as a named operator applied to their arguments.
    static let operators: [String: String] = [
        "cross_entropy": "\\mathrm{CE}", "mse": "\\mathrm{MSE}", "l1": "\\mathrm{L1}", "nll": "\\mathrm{NLL}",
        "bce_with_logits": "\\mathrm{BCE}", "softmax": "\\mathrm{softmax}", "log_softmax": "\\log\\mathrm{softmax}",
        "exp": "\\exp", "log": "\\log", "tanh": "\\tanh", "mean": "\\operatorname{mean}", "max": "\\max", "min": "\\min",
        "maximum": "\\max", "minimum": "\\min", "no_grad": "\\operatorname{sg}", "detach": "\\operatorname{sg}",
    ]

    /// Names written as Greek letters.
    static let greek: Set<String> = [
        "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu", "nu", "xi",
        "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi", "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi",
        "Sigma", "Upsilon", "Phi", "Psi", "Omega",
    ]

    /// The whole formula: `f(params) = body`, or an `aligned` block with one line per `let`.
    func formula(_ declaration: FunctionDecl) throws -> String {
        let parameters = declaration.parameters.filter { $0.defaultValue == nil }.map { name($0.name) }
        let signature = "\(name(declaration.name ?? "f"))(\(parameters.joined(separator: ", ")))"
        var statements = declaration.body.statements
        if statements.count == 1, case .expression(.block(let inner, _)) = statements[0] { statements = inner.statements }
        // The prelude's argument checks (`check_mix(...)`, T > 0 and a weight in [0, 1]) are no part
        // of the loss: they are left out of its formula.
        statements.removeAll { statement in
            if case .expression(.call(.name("check_mix", _), _, _)) = statement { return true }
            return false
        }
        var lines: [String] = []
        for (i, statement) in statements.enumerated() {
            let isLast = i == statements.count - 1
            switch statement {
            case .let(let pattern, let value, _) where !isLast:
                lines.append("\(self.pattern(pattern)) &= \(try top(value))")
            case .expression(let value) where isLast, .return(let value?, _) where isLast:
                let body = try top(value)
                if lines.isEmpty { return "\(signature) = \(body)" }
                lines.append("\(signature) &= \(body)")
                return "\\begin{aligned}\n" + lines.joined(separator: " \\\\\n") + "\n\\end{aligned}"
            default:
                throw unsupported(describe(statement, isLast: isLast), at: statement.range)
            }
        }
        throw unsupported("an empty body", at: declaration.body.range)
    }

    /// What a statement is, for the message saying it has no formula.
    func describe(_ statement: Stmt, isLast: Bool) -> String {
        switch statement {
        case .expression: return "an expression whose value is unused"
        case .let: return "a body ending in 'let'"
        case .assign: return "an assignment"
        case .function: return "a nested function"
        case .for: return "a 'for' loop"
        case .while: return "a 'while' loop"
        case .return: return isLast ? "an empty 'return'" : "an early 'return'"
        case .break: return "'break'"
        case .continue: return "'continue'"
        }
    }

    /// The error for a construct with no formula, naming it and where it is.
    func unsupported(_ what: String, at range: SourceRange) -> Diagnostic {
        Diagnostic(.runtime, "latex: \(what) has no formula (at \(range.start.line):\(range.start.column))", at: range)
    }

    /// A `let` target: a name, or a tuple of them.
    func pattern(_ pattern: Pattern) -> String {
        switch pattern {
        case .name(let n, _): return name(n)
        case .tuple(let parts, _): return "(" + parts.map(self.pattern).joined(separator: ", ") + ")"
        }
    }

    /// A name as a variable: Greek letters, single letters in italics, others upright; trailing digits as a subscript.
    func name(_ raw: String) -> String {
        var stem = Substring(raw)
        while let last = stem.last, last.isASCII, last.isNumber { stem = stem.dropLast() }
        var digits = raw.dropFirst(stem.count)
        if !digits.isEmpty, stem.count > 1, stem.hasSuffix("_") { stem = stem.dropLast() }
        if stem.isEmpty || stem.hasSuffix("_") { (stem, digits) = (Substring(raw), "") }
        let base: String
        if Self.greek.contains(String(stem)) {
            base = "\\" + stem
        } else if stem.count == 1, stem.first?.isLetter == true {
            base = String(stem)
        } else {
            base = "\\mathrm{\(stem.map { $0 == "_" ? "\\_" : String($0) }.joined())}"
        }
        return digits.isEmpty ? base : "\(base)_{\(digits)}"
    }

    /// A number as written by hand: `3`, `0.5`, `10^{-5}`, `2.5 \cdot 10^{-5}`.
    func number(_ n: Double) -> Piece {
        let text: String = n.formatted
        guard let e = text.firstIndex(of: "e"), let exponent = Int(text[text.index(after: e)...]) else {
            return Piece(text: text, level: .atom)
        }
        let mantissa = text[..<e]
        if mantissa == "1" || mantissa == "1.0" { return Piece(text: "10^{\(exponent)}", level: .power) }
        return Piece(text: "\(mantissa) \\cdot 10^{\(exponent)}", level: .product)
    }

    /// A whole expression in display position: fractions allowed, no parentheses.
    func top(_ expr: Expr) throws -> String { try render(expr, inline: false).text }

    /// An operand in a place that needs at least `level`; `signed` allows a leading minus without parentheses.
    func operand(_ expr: Expr, _ level: Level, inline: Bool, signed: Bool = false) throws -> String {
        let piece = try render(expr, inline: inline)
        return piece.level < level || (!signed && piece.text.hasPrefix("-")) ? parens(piece.text) : piece.text
    }

    /// Parentheses, grown with `\left`/`\right` around fractions.
    func parens(_ text: String) -> String {
        text.contains("\\frac") || text.contains("\\left") ? "\\left(\(text)\\right)" : "(\(text))"
    }

    /// Comma-separated items rendered inline, as in an argument list.
    func list(_ items: [Expr]) throws -> String {
        try items.map { try operand($0, .or, inline: true, signed: true) }.joined(separator: ", ")
    }

    /// One expression; `inline` is true inside arguments and exponents, where `/` is not a `\frac`.
    func render(_ expr: Expr, inline: Bool) throws -> Piece {
        switch expr {
        case .number(let n, _): return number(n)
        case .name(let n, _): return Piece(text: name(n), level: .atom)
        case .bool(let b, _): return Piece(text: "\\mathrm{\(b)}", level: .atom)
        case .none: return Piece(text: "\\mathrm{none}", level: .atom)
        case .string(let s, _): return Piece(text: "\\text{\(escapedText(s))}", level: .atom)
        case .list(let items, _): return Piece(text: "[\(try list(items))]", level: .atom)
        case .tuple(let items, _): return Piece(text: parens(try list(items)), level: .atom)
        case .unary(.negate, let x, _): return Piece(text: "-" + (try operand(x, .prefix, inline: inline)), level: .prefix)
        case .unary(.not, let x, _): return Piece(text: "\\lnot " + (try operand(x, .not, inline: inline)), level: .not)
        case .binary(let op, let left, let right, _): return try binary(op, left, right, inline: inline)
        case .call(let callee, let arguments, _): return try call(callee, arguments, inline: inline)
        case .member(let base, let field, _):
            return Piece(text: "\(try operand(base, .atom, inline: inline)).\(name(field))", level: .atom)
        case .index(let base, let subscripts, _):
            var head = try operand(base, .atom, inline: inline)
            if head.contains("_") || head.contains("^") { head = "{\(head)}" }
            let parts = try subscripts.map { sub -> String in
                switch sub {
                case .index(let e): return try operand(e, .or, inline: true, signed: true)
                case .slice(let start, let end, let step, _):
                    let bounds = [start, end] + (step.map { [$0] } ?? [])
                    return try bounds.map { try $0.map { try operand($0, .sum, inline: true, signed: true) } ?? "" }
                        .joined(separator: ":")
                }
            }
            return Piece(text: "\(head)_{\(parts.joined(separator: ", "))}", level: .atom)
        case .range(_, _, _, let r): throw unsupported("a range", at: r)
        case .record(_, let r): throw unsupported("a record", at: r)
        case .conditional(_, _, _, let r): throw unsupported("an 'if' expression", at: r)
        case .function(_, let r): throw unsupported("an anonymous function", at: r)
        case .block(_, let r): throw unsupported("a block", at: r)
        }
    }

    /// A binary operation; `|>` becomes a call with the piped value first.
    func binary(_ op: BinaryOp, _ left: Expr, _ right: Expr, inline: Bool) throws -> Piece {
        switch op {
        case .pipe:
            let piped = ArgumentNode(label: nil, value: left, range: left.range)
            if case .call(let callee, let arguments, _) = right { return try call(callee, [piped] + arguments, inline: inline) }
            return try call(right, [piped], inline: inline)
        case .add, .subtract:
            let a = try operand(left, .sum, inline: inline, signed: true)
            let b = try operand(right, op == .add ? .sum : .product, inline: inline)
            return Piece(text: "\(a) \(op.rawValue) \(b)", level: .sum)
        case .multiply, .matmul:
            let a = try operand(left, .product, inline: inline, signed: true)
            var chained = false
            if case .binary(let inner, _, _, _) = right, inner == .multiply || inner == .matmul { chained = true }
            let b = try operand(right, chained ? .product : .prefix, inline: inline)
            // Juxtaposed numbers would read as one number: 2 \cdot 3, x \cdot 2.
            let separator = b.first?.isNumber == true ? " \\cdot " : " \\, "
            return Piece(text: a + separator + b, level: .product)
        case .divide where !inline:
            return Piece(text: "\\frac{\(try top(left))}{\(try top(right))}", level: .prefix)
        case .divide, .modulo:
            let a = try operand(left, .product, inline: inline, signed: true)
            let b = try operand(right, .prefix, inline: inline)
            return Piece(text: "\(a) \(op == .divide ? "/" : "\\bmod") \(b)", level: .product)
        case .power:
            let base = try operand(left, .atom, inline: inline)
            return Piece(text: "\(base)^{\(try operand(right, .or, inline: true, signed: true))}", level: .power)
        case .equal, .notEqual, .less, .lessEqual, .greater, .greaterEqual:
            let symbols: [BinaryOp: String] = [
                .equal: "=", .notEqual: "\\neq", .less: "<", .lessEqual: "\\leq", .greater: ">", .greaterEqual: "\\geq",
            ]
            let a = try operand(left, .sum, inline: inline, signed: true)
            let b = try operand(right, .sum, inline: inline, signed: true)
            return Piece(text: "\(a) \(symbols[op] ?? op.rawValue) \(b)", level: .comparison)
        case .and, .or:
            let level: Level = op == .and ? .and : .or
            let a = try operand(left, level, inline: inline, signed: true)
            let b = try operand(right, level, inline: inline, signed: true)
            return Piece(text: "\(a) \(op == .and ? "\\land" : "\\lor") \(b)", level: level)
        }
    }

    /// The argument for a parameter: given by its label, or the `position`-th positional one.
    func argument(_ arguments: [ArgumentNode], _ position: Int, _ label: String) -> Expr? {
        if let named = arguments.first(where: { $0.label == label }) { return named.value }
        let positional = arguments.filter { $0.label == nil }
        return position < positional.count ? positional[position].value : nil
    }

    /// A call: the distillation losses and math functions in their usual notation, anything else as `\mathrm{f}(a, b)`.
    func call(_ callee: Expr, _ arguments: [ArgumentNode], inline: Bool) throws -> Piece {
        let positional = arguments.filter { $0.label == nil }.map(\.value)
        let named = try arguments.filter { $0.label.map { !Self.options.contains($0) } ?? false }
            .map { "\(name($0.label ?? "")) = \(try operand($0.value, .or, inline: true, signed: true))" }
        let all = try list(positional) + (positional.isEmpty || named.isEmpty ? "" : ", ") + named.joined(separator: ", ")
        guard case .name(let function, _) = callee else {
            return Piece(text: try operand(callee, .atom, inline: false) + parens(all), level: .atom)
        }
        switch function {
        case "term":
            // A named part of a loss is the part itself; the name only labels logged values.
            guard let value = argument(arguments, 1, "value") else { break }
            return try render(value, inline: inline)
        case "masked_mean":
            // The prelude's mean over labelled positions is the expectation the KL is written with.
            guard let values = argument(arguments, 0, "values") else { break }
            return try render(values, inline: inline)
        case "kl_div", "kl_rows":
            // kl_div takes log-probabilities first, so kl_div(log q, p) is KL(p ‖ q); kl_rows is the
            // same summed over the classes at each position.
            let names = function == "kl_div" ? ("input", "target") : ("log_q", "p")
            guard let input = argument(arguments, 0, names.0), let target = argument(arguments, 1, names.1) else { break }
            let q: String
            if case .call(.name("log_softmax", _), let inner, _) = input {
                q = try call(.name("softmax", input.range), inner, inline: true).text
            } else if case .call(.name("log", _), let inner, _) = input, let x = argument(inner, 0, "x") {
                q = try operand(x, .or, inline: true, signed: true)
            } else {
                q = "\\exp" + parens(try operand(input, .or, inline: true, signed: true))
            }
            let p = try operand(target, .or, inline: true, signed: true)
            return Piece(text: "\\mathrm{KL}\\!\\left(\(p) \\,\\middle\\|\\, \(q)\\right)", level: .atom)
        case "soft_targets":
            guard let t = argument(arguments, 0, "t") else { break }
            let logits = try argument(arguments, 1, "T").map { temperature -> String in
                "\(try operand(t, .product, inline: true, signed: true)) / \(try operand(temperature, .prefix, inline: true))"
            }
            return Piece(text: "\\mathrm{softmax}" + parens(try logits ?? list([t])), level: .atom)
        case "sqrt" where positional.count == 1: return Piece(text: "\\sqrt{\(try list(positional))}", level: .atom)
        case "abs" where positional.count == 1: return Piece(text: "\\lvert \(try list(positional)) \\rvert", level: .atom)
        case "sum": return Piece(text: "\\sum" + parens(all), level: .prefix)
        default:
            if let head = Self.operators[function] { return Piece(text: head + parens(all), level: .atom) }
        }
        return Piece(text: name(function) + parens(all), level: .atom)
    }

    /// Text for `\text{...}`, with LaTeX's special characters escaped.
    func escapedText(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "\\": out += "\\textbackslash{}"
            case "{", "}", "_", "%", "&", "#", "$": out += "\\\(c)"
            case "^", "~": out += "\\\(c){}"
            default: out.append(c)
            }
        }
        return out
    }
}
