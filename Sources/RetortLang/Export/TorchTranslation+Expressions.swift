import RetortExport
import RetortTensor

// Expressions: each Retort expression as a Python one. An `if` or a block used as a value is
// lifted into statements before the expression that reads it (the language has no side effects
// a loss could observe, so the order is kept where it matters: within each statement).

extension TorchTranslation {
    func expression(_ e: Expr, _ scope: Scope) throws -> String {
        switch e {
        case .number(let n, _): return Python.number(n)
        case .string(let s, _): return Python.string(s)
        case .bool(let b, _): return b ? "True" : "False"
        case .none: return "None"
        case .name(let name, let range):
            if let python = resolveLocal(name, scope, assigning: false) { return python }
            return try outside(name, at: range)
        case .list(let items, _):
            // A literal of numbers is a tensor in Retort; anything else a list (torch.stack and
            // torch.cat take lists of tensors).
            if let numbers = numericLiteral(e) {
                helpers.insert("rt_tensor")
                return "rt_tensor(\(numbers))"
            }
            return bracketed("[", try items.map { try expression($0, scope) }, "]")
        case .tuple(let items, _):
            return "(" + (try items.map { try expression($0, scope) }).joined(separator: ", ") + ",)"
        case .record(let fields, _):
            return "{"
                + (try fields.map { "\(Python.string($0.name)): \(try expression($0.value, scope))" })
                .joined(separator: ", ") + "}"
        case .unary(let op, let operand, _):
            let x = try expression(operand, scope)
            return op == .negate ? "(-\(x))" : "(not \(x))"
        case .binary(let op, let left, let right, let range):
            return try binary(op, left, right, scope, at: range)
        case .call(let callee, let arguments, let range):
            return try call(callee, arguments, scope, at: range)
        case .index(let base, let subscripts, _):
            let b = try expression(base, scope)
            let parts = try subscripts.map { s -> String in
                switch s {
                case .index(let i): return try index(i, scope)
                case .slice(let start, let end, let step, _):
                    let texts = try [start, end, step].map { try $0.map { try index($0, scope) } ?? "" }
                    return texts[2].isEmpty ? "\(texts[0]):\(texts[1])" : texts.joined(separator: ":")
                }
            }
            return "\(b)[\(parts.joined(separator: ", "))]"
        case .member(let base, let name, let range):
            let b = try expression(base, scope)
            switch name {
            case "shape": return "list(\(b).shape)"
            case "rank": return "\(b).dim()"
            case "count":
                helpers.insert("rt_count")
                return "rt_count(\(b))"
            case "T":
                helpers.insert("rt_transpose")
                return "rt_transpose(\(b))"
            case "grad", "requires_grad":
                throw refuse("`.\(name)` has no PyTorch translation in a loss (gradients are the training loop's)", at: range)
            default:
                // A record's field (records are dicts in Python).
                return "\(b)[\(Python.string(name))]"
            }
        case .range(let from, let to, let inclusive, _):
            let (a, b) = (try index(from, scope), try index(to, scope))
            return inclusive ? "range(\(a), \(b) + 1)" : "range(\(a), \(b))"
        case .conditional(let condition, let then, let otherwise, _):
            if let short = try ternary(condition, then, otherwise, scope) { return short }
            let temporary = fresh("_v", in: scope)
            try value(e, scope, into: .assign(temporary))
            return temporary
        case .function(let decl, let range):
            let name = fresh("_fn", in: scope)
            try nested(decl, name: name, scope, at: range)
            return name
        case .block(let b, _):
            let temporary = fresh("_v", in: scope)
            try block(b, Scope(parent: scope, function: scope.function), target: .assign(temporary))
            return temporary
        }
    }

    /// Items between brackets: on one line, or one per line when that line would be long.
    private func bracketed(_ open: String, _ items: [String], _ close: String) -> String {
        let line = open + items.joined(separator: ", ") + close
        guard line.count > 100, items.count > 1 else { return line }
        let inner = String(repeating: "    ", count: indent + 1)
        return open + "\n" + items.map { inner + $0 + ",\n" }.joined() + String(repeating: "    ", count: indent) + close
    }

    /// A literal of numbers, nested lists of them included, as Python lists; nil for anything else.
    private func numericLiteral(_ e: Expr) -> String? {
        switch e {
        case .number, .unary(.negate, .number, _): return literalText(e)
        case .list(let items, _) where !items.isEmpty:
            let parts = items.compactMap(numericLiteral)
            return parts.count == items.count ? "[" + parts.joined(separator: ", ") + "]" : nil
        default: return nil
        }
    }

    private func isStringOrNone(_ e: Expr) -> Bool {
        switch e {
        case .string, .none, .bool: return true
        default: return false
        }
    }

    /// `(a if c else b)` when both branches are one expression that needs no statements.
    private func ternary(_ condition: Expr, _ then: Block, _ otherwise: Block?, _ scope: Scope) throws -> String? {
        func single(_ b: Block?) -> Expr? {
            guard let b, b.statements.count == 1, case .expression(let e) = b.statements[0] else { return nil }
            return e
        }
        guard let a = single(then), let b = single(otherwise) else { return nil }
        let mark = lines.count
        let texts = try [condition, a, b].map { try expression($0, scope) }
        guard lines.count == mark else {
            lines.removeSubrange(mark...)
            return nil
        }
        return "(\(texts[1]) if \(texts[0]) else \(texts[2]))"
    }

    /// An index or slice bound: a whole number in Python (Retort accepts 3.0 and one-element tensors).
    private func index(_ e: Expr, _ scope: Scope) throws -> String {
        switch e {
        case .number(let n, _) where n == n.rounded(): return Python.number(n)
        case .unary(.negate, .number(let n, _), _) where n == n.rounded(): return Python.number(-n)
        case .string(let s, _): return Python.string(s)
        default:
            let text = try expression(e, scope)
            if scope.function.ints.contains(text) || text.hasPrefix("len(") { return text }
            helpers.insert("rt_index")
            return "rt_index(\(text))"
        }
    }

    static let comparisonHelpers: [BinaryOp: String] = [
        .equal: "rt_eq", .notEqual: "rt_ne", .less: "rt_lt", .lessEqual: "rt_le", .greater: "rt_gt", .greaterEqual: "rt_ge",
    ]

    private func binary(_ op: BinaryOp, _ left: Expr, _ right: Expr, _ scope: Scope, at range: SourceRange) throws -> String {
        if op == .pipe {
            // `x |> f(a, k: b)` is `f(x, a, k: b)`; `x |> f` is `f(x)`.
            let input = ArgumentNode(label: nil, value: left, range: left.range)
            if case .call(let callee, let arguments, let callRange) = right {
                return try call(callee, [input] + arguments, scope, at: callRange)
            }
            return try call(right, [input], scope, at: range)
        }
        let (a, b) = (try expression(left, scope), try expression(right, scope))
        switch op {
        case .add, .subtract, .multiply, .divide, .matmul:
            return "(\(a) \(op.rawValue) \(b))"
        case .power:
            return "(\(a) ** \(b))"
        case .modulo:
            // Retort's % is Python's: the result takes the divisor's sign.
            return "(\(a) % \(b))"
        case .and:
            return "(\(a) and \(b))"
        case .or:
            return "(\(a) or \(b))"
        case .equal, .notEqual, .less, .lessEqual, .greater, .greaterEqual:
            // Comparing with a string, none or a truth value is plain Python; numbers and tensors
            // go through helpers, since Retort's comparison of tensors gives 0/1 floats.
            if isStringOrNone(left) || isStringOrNone(right) {
                let none = { (e: Expr) -> Bool in
                    if case .none = e { return true }; return false
                }
                if none(left) || none(right) { return "(\(a) \(op == .equal ? "is" : "is not") \(b))" }
                if op == .equal || op == .notEqual { return "(\(a) \(op.rawValue) \(b))" }
            }
            let helper = Self.comparisonHelpers[op]!
            helpers.insert(helper)
            return "\(helper)(\(a), \(b))"
        case .pipe:
            return ""
        }
    }

    // MARK: - Calls

    func call(_ callee: Expr, _ arguments: [ArgumentNode], _ scope: Scope, at range: SourceRange) throws -> String {
        if case .name(let name, let nameRange) = callee, resolveLocal(name, scope, assigning: false) == nil {
            let value = origin.environment.lookup(name)
            if name == "no_grad", case .function(.builtin(let b))? = value, b.name == "no_grad" {
                return try noGrad(arguments, scope, at: range)
            }
            switch value {
            case .function(.builtin(let b))?:
                return try builtin(b, arguments, scope, at: range, nameRange: nameRange)
            case .function(.closure(let c))?:
                let python = try function(c, referencedAt: range)
                return "\(python)(\(try passed(arguments, scope)))"
            case .model?:
                throw refuse(
                    "the loss calls the model `\(name)`; export_torch translates losses of the outputs they are given (a model inside the loss has no translation yet)",
                    at: range)
            case nil:
                throw refuse("`\(name)` is not defined", at: nameRange)
            default:
                break
            }
        }
        let function = try expression(callee, scope)
        return "\(function)(\(try passed(arguments, scope)))"
    }

    /// Arguments of a call to a translated function: positional, then `name=value`.
    private func passed(_ arguments: [ArgumentNode], _ scope: Scope) throws -> String {
        try arguments.map { a in
            let text = try expression(a.value, scope)
            return a.label.map { "\(Python.identifier($0))=\(text)" } ?? text
        }.joined(separator: ", ")
    }

    /// `no_grad(e)`: e evaluated under torch.no_grad(), as Retort evaluates it without a graph.
    private func noGrad(_ arguments: [ArgumentNode], _ scope: Scope, at range: SourceRange) throws -> String {
        guard arguments.count == 1, arguments[0].label == nil else {
            throw refuse("no_grad takes one expression: no_grad(teacher(x))", at: range)
        }
        let temporary = fresh("_v", in: scope)
        emit("with torch.no_grad():")
        indent += 1
        emit("\(temporary) = \(try expression(arguments[0].value, scope))")
        indent -= 1
        return temporary
    }

    // MARK: - Values from outside

    /// A name bound outside the translated code, as Python: its value written in, or a translated function.
    func outside(_ name: String, at range: SourceRange) throws -> String {
        guard let value = origin.environment.lookup(name) else { throw refuse("`\(name)` is not defined", at: range) }
        return try literal(value, name: name, at: range)
    }

    /// A value as Python source: numbers and text as literals, small constant tensors through
    /// `rt_tensor`, functions translated. Models, datasets and the like are refused.
    func literal(_ value: Value, name: String, at range: SourceRange) throws -> String {
        switch value {
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .number(let n): return Python.number(n)
        case .string(let s): return Python.string(s)
        case .list(let items):
            return "[" + (try items.map { try literal($0, name: name, at: range) }).joined(separator: ", ") + "]"
        case .tuple(let items):
            return "(" + (try items.map { try literal($0, name: name, at: range) }).joined(separator: ", ") + ",)"
        case .record(let r):
            return "{"
                + (try r.fields.map { "\(Python.string($0.name)): \(try literal($0.value, name: name, at: range))" })
                .joined(separator: ", ") + "}"
        case .range(let a, let b):
            return "range(\(a), \(b))"
        case .tensor(let t):
            guard !t.requiresGrad else {
                throw refuse(
                    "the loss reads `\(name)`, a trainable tensor; export_torch trains the student's parameters only", at: range)
            }
            guard t.value.count <= 4096 else {
                throw refuse(
                    "the loss reads `\(name)`, a tensor of \(t.value.count) values; loss.py holds constant tensors of at most 4096",
                    at: range)
            }
            helpers.insert("rt_tensor")
            let values = t.value.scalars.map(Python.float).joined(separator: ", ")
            return "rt_tensor([\(values)], \(Python.ints(t.shape)))"
        case .function(.closure(let c)):
            return try function(c, named: name, referencedAt: range)
        case .function(.builtin(let b)):
            throw refuse(
                "the builtin `\(b.name)` is passed as a value; export_torch translates builtins only where they are called",
                at: range)
        default:
            throw refuse(
                "the loss reads `\(name)`, a \(value.typeName); export_torch translates losses of numbers, tensors and functions",
                at: range)
        }
    }
}
