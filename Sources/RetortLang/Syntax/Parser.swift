/// Parses tokens into a `Program`, collecting every syntax error in one pass.
///
/// After an error the parser skips to the next statement boundary (panic mode) and carries on, so
/// one typo does not hide the next. Running out of input where more was expected is reported as
/// `unexpectedEndOfInput`, which is how the REPL and the kernel know to ask for another line.
public struct Parser {
    struct Failure: Error {}

    let source: Source
    var tokens: [Token]
    var position = 0
    public private(set) var diagnostics: [Diagnostic] = []
    /// How deep the expression being parsed is, and the most allowed: a bracket, call or block
    /// counts 5, an operator in a row 1, so 200 brackets nest (Python's parser allows 200) and
    /// 1,000 operators chain.
    var depth = 0
    /// How many loops enclose the statement being parsed, within the innermost function body: a
    /// function's `break` cannot reach the loop that calls it.
    var loopDepth = 0
    /// How many function bodies enclose it (the message for a stray `break` says why a function's cannot leave a loop).
    var functionDepth = 0
    static let maximumDepth = 1000
    static let maximumErrors = 50

    public init(_ source: Source) {
        self.source = source
        var lexer = Lexer(source)
        tokens = lexer.tokenize()
        diagnostics = Array(lexer.diagnostics.prefix(Parser.maximumErrors))
    }

    /// Parses a whole program; check `diagnostics` for errors.
    public mutating func parseProgram() -> Program {
        var statements: [Stmt] = []
        skipSeparators()
        while !atEnd {
            if check(.symbol(.rightBrace)) {
                fail("unexpected '}' with no block to close", at: current.range)
                advance()
                skipSeparators()
                continue
            }
            do {
                statements.append(try statement())
                if !atEnd && !check(.symbol(.rightBrace)) {
                    try expectSeparator()
                }
                if check(.symbol(.rightBrace)) {
                    fail("unexpected '}' with no block to close", at: current.range)
                    advance()
                }
            } catch {
                synchronize()
            }
            skipSeparators()
            // Compilers stop after a number of errors: past it, more would only bury the first ones.
            if diagnostics.count >= Parser.maximumErrors && !atEnd {
                diagnostics.append(
                    Diagnostic(
                        .syntax, "too many syntax errors; stopped after \(Parser.maximumErrors)", at: current.range,
                        source: source.name))
                break
            }
        }
        return Program(statements: statements, source: source)
    }

    // MARK: Tokens

    var current: Token { tokens[position] }
    var previous: Token { tokens[Swift.max(position - 1, 0)] }
    var atEnd: Bool { current.kind == .end }

    func check(_ kind: Token.Kind) -> Bool { current.kind == kind }

    @discardableResult
    mutating func advance() -> Token {
        let token = current
        if !atEnd { position += 1 }
        return token
    }

    mutating func match(_ kind: Token.Kind) -> Bool {
        guard check(kind) else { return false }
        advance()
        return true
    }

    mutating func match(_ symbol: Symbol) -> Bool { match(.symbol(symbol)) }
    mutating func match(_ keyword: Keyword) -> Bool { match(.keyword(keyword)) }

    /// Records an error; at the end of input it is an "unexpected end of input" instead.
    mutating func fail(_ message: String, at range: SourceRange) {
        let kind: Diagnostic.Kind = atEnd ? .unexpectedEndOfInput : .syntax
        diagnostics.append(
            Diagnostic(kind, atEnd ? "unexpected end of input: \(message)" : message, at: range, source: source.name))
    }

    mutating func expect(_ symbol: Symbol, _ what: String) throws -> Token {
        if check(.symbol(symbol)) { return advance() }
        fail("expected '\(symbol.rawValue)' \(what), found \(describe(current))", at: current.range)
        throw Failure()
    }

    mutating func expectIdentifier(_ what: String) throws -> (String, SourceRange) {
        if case .identifier(let name) = current.kind {
            advance()
            return (name, previous.range)
        }
        fail("expected \(what), found \(describe(current))", at: current.range)
        throw Failure()
    }

    mutating func expectSeparator() throws {
        if match(.newline) || match(.semicolon) || atEnd { return }
        fail("expected a new line or ';' after the statement, found \(describe(current))", at: current.range)
        throw Failure()
    }

    mutating func skipSeparators() {
        while match(.newline) || match(.semicolon) {}
    }

    mutating func skipNewlines() {
        while match(.newline) {}
    }

    func describe(_ token: Token) -> String {
        switch token.kind {
        case .number(let n): return "number \(n.formatted)"
        case .string: return "a string"
        case .identifier(let name): return "'\(name)'"
        case .keyword(let k): return "'\(k.rawValue)'"
        case .symbol(let s): return "'\(s.rawValue)'"
        case .newline: return "the end of the line"
        case .end: return "the end of input"
        }
    }

    /// Skips to the next statement boundary after an error: a separator, a closing brace, or a
    /// keyword that can only start a statement. It always moves past at least the failing token.
    mutating func synchronize() {
        var depth = 0
        let start = position
        while !atEnd {
            // A statement keyword starts the next statement, even as the failing token itself:
            // `1 +` followed by `let b = ...` on the next line is one error, then a statement.
            if depth <= 0, case .keyword(let k) = current.kind, [.let, .for, .while, .return].contains(k),
                position > start || tokens[Swift.max(position - 1, 0)].kind == .newline
            {
                return
            }
            if position == start, !check(.newline), !check(.symbol(.semicolon)) {
                advance()
                continue
            }
            switch current.kind {
            case .newline, .symbol(.semicolon):
                if depth <= 0 { return }
            case .symbol(.leftBrace): depth += 1
            case .symbol(.rightBrace):
                if depth <= 0 { return }
                depth -= 1
            default: break
            }
            advance()
        }
    }

    func text(of range: SourceRange) -> String {
        let utf8 = Array(source.text.utf8)
        let start = Swift.min(range.start.offset, utf8.count)
        let end = Swift.min(Swift.max(range.end.offset, start), utf8.count)
        return String(decoding: utf8[start..<end], as: UTF8.self)
    }

    // MARK: Statements

    mutating func statement() throws -> Stmt {
        let start = current.range
        if match(.let) {
            let pattern = try self.pattern()
            _ = try expect(.equal, "after the name in 'let'")
            skipNewlines()
            let value = try expression()
            return .let(pattern, value, start.union(value.range))
        }
        if check(.keyword(.fn)), case .identifier = tokens[position + 1].kind {
            advance()
            let decl = try functionRest(start: start, named: true)
            return .function(decl, start.union(previous.range))
        }
        if match(.for) {
            let pattern = try self.pattern()
            guard match(.in) else {
                fail("expected 'in' after the loop variable, found \(describe(current))", at: current.range)
                throw Failure()
            }
            let sequence = try expression()
            loopDepth += 1
            defer { loopDepth -= 1 }
            let body = try block("after the 'for' header")
            return .for(pattern, in: sequence, body: body, start.union(body.range))
        }
        if match(.while) {
            let condition = try expression()
            loopDepth += 1
            defer { loopDepth -= 1 }
            let body = try block("after the 'while' condition")
            return .while(condition: condition, body: body, start.union(body.range))
        }
        if match(.return) {
            if check(.newline) || check(.symbol(.rightBrace)) || atEnd || check(.symbol(.semicolon)) {
                return .return(nil, start)
            }
            let value = try expression()
            return .return(value, start.union(value.range))
        }
        if match(.break) || match(.continue) {
            let isBreak = previous.kind == .keyword(.break)
            if loopDepth == 0 {
                // Not `fail`: at the end of input that would read as incomplete, and the REPL would wait for more.
                diagnostics.append(
                    Diagnostic(
                        .syntax,
                        "'\(isBreak ? "break" : "continue")' belongs inside a loop"
                            + (functionDepth > 0
                                ? " (a function's body is not inside the loop that calls it; return a value and test it there)"
                                : ""),
                        at: start, source: source.name))
            }
            return isBreak ? .break(start) : .continue(start)
        }
        let expr = try expression()
        if match(.equal) {
            switch expr {
            case .name, .member, .index: break
            default:
                fail("cannot assign to this expression; use 'let' to bind a new name", at: expr.range)
                throw Failure()
            }
            skipNewlines()
            let value = try expression()
            return .assign(target: expr, value: value, expr.range.union(value.range))
        }
        return .expression(expr)
    }

    mutating func pattern() throws -> Pattern {
        if match(.leftParen) {
            let start = previous.range
            var parts: [Pattern] = []
            repeat {
                if check(.symbol(.rightParen)) { break }
                parts.append(try pattern())
            } while match(.comma)
            let close = try expect(.rightParen, "to close the pattern")
            return .tuple(parts, start.union(close.range))
        }
        let (name, range) = try expectIdentifier("a name to bind")
        return .name(name, range)
    }

    /// Parses `(params) = expr` or `(params) { block }` after `fn` (and its name, if `named`).
    mutating func functionRest(start: SourceRange, named: Bool) throws -> FunctionDecl {
        var name: String?
        if named { name = try expectIdentifier("a function name").0 }
        _ = try expect(.leftParen, "to start the parameter list")
        var parameters: [Parameter] = []
        var seenDefault = false
        if !check(.symbol(.rightParen)) {
            repeat {
                if check(.symbol(.rightParen)) { break }
                let (param, range) = try expectIdentifier("a parameter name")
                var defaultValue: Expr?
                if match(.equal) {
                    defaultValue = try expression()
                    seenDefault = true
                } else if seenDefault {
                    fail("parameter '\(param)' needs a default value because an earlier parameter has one", at: range)
                }
                if parameters.contains(where: { $0.name == param }) {
                    fail("parameter '\(param)' appears twice", at: range)
                }
                parameters.append(Parameter(name: param, defaultValue: defaultValue, range: range))
            } while match(.comma)
        }
        _ = try expect(.rightParen, "to close the parameter list")
        let enclosingLoops = loopDepth
        loopDepth = 0
        functionDepth += 1
        defer {
            loopDepth = enclosingLoops
            functionDepth -= 1
        }
        let body: Block
        if match(.equal) {
            skipNewlines()
            let expr = try expression()
            body = Block(statements: [.expression(expr)], range: expr.range)
        } else if check(.symbol(.leftBrace)) {
            body = try block("for the function body")
        } else {
            fail("expected '=' or '{' to start the function body, found \(describe(current))", at: current.range)
            throw Failure()
        }
        // To the last token read: a body ending in a parenthesised group (`lr * (1 - p)`) has the
        // group's inner range, and the closing parenthesis was cut off the text.
        return FunctionDecl(
            name: name, parameters: parameters, body: body, sourceText: text(of: start.union(body.range).union(previous.range)))
    }

    mutating func block(_ what: String) throws -> Block {
        let open = try expect(.leftBrace, what)
        try deeper(by: 5)
        defer { depth -= 5 }
        var statements: [Stmt] = []
        skipSeparators()
        while !check(.symbol(.rightBrace)) {
            if atEnd {
                fail("'{' is never closed", at: open.range)
                throw Failure()
            }
            do {
                statements.append(try statement())
                if !check(.symbol(.rightBrace)) { try expectSeparator() }
            } catch {
                synchronize()
                if atEnd { throw Failure() }
            }
            skipSeparators()
        }
        let close = advance()
        return Block(statements: statements, range: open.range.union(close.range))
    }
}

extension Double {
    /// A number as people write it: `3` rather than `3.0`, `0.001` rather than `1e-03`.
    var formatted: String {
        if self == rounded(), Swift.abs(self) < 1e15 { return String(Int64(self)) }
        return "\(self)"
    }
}
