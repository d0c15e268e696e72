/// Expressions, from the loosest operator (`|>`) to the tightest (calls, indexing, members).
extension Parser {
    mutating func expression() throws -> Expr {
        // A nested expression costs the parser about five times the stack of an operator in a row.
        try deeper(by: 5)
        defer { depth -= 5 }
        return try pipe()
    }

    /// One level deeper into the syntax tree; past `Parser.maximumDepth` it is an error, so that
    /// neither this parser, the evaluator nor the tree's release can run out of stack.
    mutating func deeper(by levels: Int = 1) throws {
        depth += levels
        guard depth <= Parser.maximumDepth else {
            depth -= levels
            fail(
                "this expression is nested too deeply (brackets, calls and blocks inside one another, and operators in a row, all count: about 200 brackets or 1,000 operators); split it with let",
                at: current.range)
            throw Failure()
        }
    }

    mutating func binaryLevel(_ ops: [Token.Kind: BinaryOp], next: (inout Parser) throws -> Expr) throws -> Expr {
        var left = try next(&self)
        // Each operator in a row puts the chain one level deeper: a + b + c is (a + b) + c.
        let start = depth
        defer { depth = start }
        while let op = ops[current.kind] {
            try deeper()
            advance()
            skipNewlines()
            let right = try next(&self)
            left = .binary(op: op, left: left, right: right, left.range.union(right.range))
        }
        return left
    }

    mutating func pipe() throws -> Expr { try binaryLevel([.symbol(.pipe): .pipe]) { try $0.or() } }

    mutating func or() throws -> Expr { try binaryLevel([.keyword(.or): .or]) { try $0.and() } }

    mutating func and() throws -> Expr { try binaryLevel([.keyword(.and): .and]) { try $0.not() } }

    mutating func not() throws -> Expr {
        if match(.not) {
            let start = previous.range
            try deeper()
            defer { depth -= 1 }
            let operand = try not()
            return .unary(op: .not, operand: operand, start.union(operand.range))
        }
        return try comparison()
    }

    mutating func comparison() throws -> Expr {
        let ops: [Symbol: BinaryOp] = [
            .equalEqual: .equal, .notEqual: .notEqual, .less: .less, .lessEqual: .lessEqual, .greater: .greater,
            .greaterEqual: .greaterEqual,
        ]
        let left = try range()
        if case .symbol(let s) = current.kind, let op = ops[s] {
            advance()
            let right = try range()
            if case .symbol(let s2) = current.kind, ops[s2] != nil {
                fail("comparisons do not chain; combine them with 'and'", at: current.range)
                throw Failure()
            }
            return .binary(op: op, left: left, right: right, left.range.union(right.range))
        }
        return left
    }

    mutating func range() throws -> Expr {
        let left = try additive()
        if match(.range) || match(.rangeExclusive) {
            let inclusive = previous.kind == .symbol(.range)
            let right = try additive()
            return .range(from: left, to: right, inclusive: inclusive, left.range.union(right.range))
        }
        return left
    }

    mutating func additive() throws -> Expr {
        try binaryLevel([.symbol(.plus): .add, .symbol(.minus): .subtract]) { try $0.multiplicative() }
    }

    mutating func multiplicative() throws -> Expr {
        try binaryLevel([.symbol(.star): .multiply, .symbol(.slash): .divide, .symbol(.percent): .modulo, .symbol(.at): .matmul])
        { try $0.unary() }
    }

    mutating func unary() throws -> Expr {
        if match(.minus) {
            let start = previous.range
            try deeper()
            defer { depth -= 1 }
            let operand = try unary()
            return .unary(op: .negate, operand: operand, start.union(operand.range))
        }
        return try power()
    }

    /// `a ^ b`, right-associative and tighter than unary minus: `-x^2` is `-(x^2)`.
    mutating func power() throws -> Expr {
        let base = try postfix()
        if match(.caret) {
            skipNewlines()
            try deeper()
            defer { depth -= 1 }
            let exponent = try unary()
            return .binary(op: .power, left: base, right: exponent, base.range.union(exponent.range))
        }
        return base
    }

    mutating func postfix() throws -> Expr {
        var expr = try primary()
        let start = depth
        defer { depth = start }
        while true {
            if check(.symbol(.leftParen)) || check(.symbol(.leftBracket)) || check(.symbol(.dot)) { try deeper() }
            if match(.leftParen) {
                expr = try callRest(expr)
            } else if match(.leftBracket) {
                expr = try indexRest(expr)
            } else if match(.dot) {
                let (name, range) = try expectIdentifier("a field name after '.'")
                expr = .member(base: expr, name: name, expr.range.union(range))
            } else {
                return expr
            }
        }
    }

    mutating func callRest(_ callee: Expr) throws -> Expr {
        let open = previous.range.start
        var arguments: [ArgumentNode] = []
        var seenLabel = false
        if !check(.symbol(.rightParen)) {
            repeat {
                if check(.symbol(.rightParen)) { break }
                let start = current.range
                if case .identifier(let label) = current.kind, tokens[position + 1].kind == .symbol(.colon) {
                    advance()
                    advance()
                    let value = try expression()
                    if arguments.contains(where: { $0.label == label }) {
                        fail("argument '\(label)' is given twice", at: start)
                    }
                    arguments.append(ArgumentNode(label: label, value: value, range: start.union(value.range)))
                    seenLabel = true
                } else {
                    let value = try expression()
                    if seenLabel {
                        fail("a positional argument cannot follow a named one", at: value.range)
                    }
                    arguments.append(ArgumentNode(label: nil, value: value, range: value.range))
                }
            } while match(.comma)
        }
        let close = try expect(.rightParen, "to close the argument list opened at \(open.line):\(open.column)")
        return .call(callee: callee, arguments: arguments, callee.range.union(close.range))
    }

    mutating func indexRest(_ base: Expr) throws -> Expr {
        var subscripts: [Subscript] = []
        repeat {
            let start = current.range
            var first: Expr?
            if !check(.symbol(.colon)) { first = try expression() }
            if match(.colon) {
                var end: Expr?
                var step: Expr?
                if !check(.symbol(.colon)) && !check(.symbol(.comma)) && !check(.symbol(.rightBracket)) {
                    end = try expression()
                }
                if match(.colon), !check(.symbol(.comma)), !check(.symbol(.rightBracket)) {
                    step = try expression()
                }
                subscripts.append(.slice(start: first, end: end, step: step, start.union(previous.range)))
            } else if let first {
                subscripts.append(.index(first))
            }
        } while match(.comma)
        let close = try expect(.rightBracket, "to close the index")
        return .index(base: base, subscripts: subscripts, base.range.union(close.range))
    }

    mutating func primary() throws -> Expr {
        let token = current
        switch token.kind {
        case .number(let n):
            advance()
            return .number(n, token.range)
        case .string(let s):
            advance()
            return .string(s, token.range)
        case .identifier(let name):
            advance()
            return .name(name, token.range)
        case .keyword(.true):
            advance()
            return .bool(true, token.range)
        case .keyword(.false):
            advance()
            return .bool(false, token.range)
        case .keyword(.none):
            advance()
            return .none(token.range)
        case .keyword(.if):
            advance()
            return try conditionalRest(start: token.range)
        case .keyword(.fn):
            advance()
            let decl = try functionRest(start: token.range, named: false)
            return .function(decl, token.range.union(previous.range))
        case .symbol(.leftParen):
            advance()
            if match(.rightParen) { return .tuple([], token.range.union(previous.range)) }
            let first = try expression()
            if check(.symbol(.rightParen)) {
                advance()
                return first
            }
            var items = [first]
            while match(.comma) {
                if check(.symbol(.rightParen)) { break }
                items.append(try expression())
            }
            let close = try expect(.rightParen, "to close the '(' at \(token.range.start.line):\(token.range.start.column)")
            return .tuple(items, token.range.union(close.range))
        case .symbol(.leftBracket):
            advance()
            var items: [Expr] = []
            while !check(.symbol(.rightBracket)) {
                items.append(try expression())
                if !match(.comma) { break }
            }
            let close = try expect(.rightBracket, "to close the '[' at \(token.range.start.line):\(token.range.start.column)")
            return .list(items, token.range.union(close.range))
        case .symbol(.leftBrace):
            return try recordOrBlock()
        default:
            // Python's `**` and `//` reach here as a second `*` or `/` right after the first.
            let doubled = previous.kind == token.kind && previous.range.end.offset == token.range.start.offset
            // Python's `+=` and the like reach here as `=` right after the operator.
            var compound: String?
            if token.kind == .symbol(.equal), previous.range.end.offset == token.range.start.offset,
                case .symbol(let op) = previous.kind, [.plus, .minus, .star, .slash, .caret, .percent].contains(op)
            {
                compound = op.rawValue
            }
            if let op = compound {
                fail("'\(op)=' is not an operator: write x = x \(op) y", at: previous.range.union(token.range))
            } else if doubled, token.kind == .symbol(.star) {
                fail("'**' is not an operator: Retort writes a power as '^' (2 ^ 3)", at: previous.range.union(token.range))
            } else if doubled, token.kind == .symbol(.slash) {
                fail(
                    "'//' is not an operator: floor division is (a - a % b) / b, with '%' as Python's",
                    at: previous.range.union(token.range))
            } else {
                fail("expected an expression, found \(describe(token))", at: token.range)
            }
            throw Failure()
        }
    }

    /// `{name: value, ...}` is a record; any other `{ ... }` is a block whose value is its last expression.
    mutating func recordOrBlock() throws -> Expr {
        let open = current.range
        var lookahead = position + 1
        while tokens[lookahead].kind == .newline { lookahead += 1 }
        let isRecord: Bool
        if tokens[lookahead].kind == .symbol(.rightBrace) {
            isRecord = true
        } else if case .identifier = tokens[lookahead].kind, tokens[lookahead + 1].kind == .symbol(.colon) {
            isRecord = true
        } else {
            isRecord = false
        }
        guard isRecord else {
            let body = try block("")
            return .block(body, body.range)
        }
        advance()
        var fields: [(name: String, value: Expr)] = []
        skipNewlines()
        while !check(.symbol(.rightBrace)) {
            let (name, range) = try expectIdentifier("a field name")
            _ = try expect(.colon, "after the field name")
            let value = try expression()
            if fields.contains(where: { $0.name == name }) { fail("field '\(name)' appears twice", at: range) }
            fields.append((name, value))
            skipNewlines()
            if !match(.comma) { break }
            skipNewlines()
        }
        skipNewlines()
        let close = try expect(.rightBrace, "to close the record")
        return .record(fields, open.union(close.range))
    }

    mutating func conditionalRest(start: SourceRange) throws -> Expr {
        let condition = try expression()
        let then = try block("after the 'if' condition")
        var otherwise: Block?
        // `else` may sit on the line after the closing brace.
        var lookahead = position
        while tokens[lookahead].kind == .newline { lookahead += 1 }
        if tokens[lookahead].kind == .keyword(.else) {
            position = lookahead
            advance()
            if match(.if) {
                // An `else if` nests one conditional in another: counted, so a generated chain of
                // thousands stops with the depth error rather than running out of stack.
                try deeper()
                defer { depth -= 1 }
                let nested = try conditionalRest(start: previous.range)
                otherwise = Block(statements: [.expression(nested)], range: nested.range)
            } else {
                otherwise = try block("after 'else'")
            }
        }
        return .conditional(condition: condition, then: then, otherwise: otherwise, start.union(otherwise?.range ?? then.range))
    }
}
