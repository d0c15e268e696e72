/// Turns source text into tokens.
///
/// Newlines end statements, except inside brackets and when the next line starts with an operator
/// that cannot begin an expression (`+ (1 - alpha) * ce`), so long formulas read naturally.
public struct Lexer {
    let source: Source
    let scalars: [Unicode.Scalar]
    var index = 0
    var offset = 0
    var line = 1
    var column = 1
    var depth = 0
    public private(set) var diagnostics: [Diagnostic] = []

    public init(_ source: Source) {
        self.source = source
        scalars = Array(source.text.unicodeScalars)
    }

    var location: SourceLocation { SourceLocation(offset: offset, line: line, column: column) }

    func peek(_ ahead: Int = 0) -> Unicode.Scalar? {
        index + ahead < scalars.count ? scalars[index + ahead] : nil
    }

    mutating func advance() {
        guard let c = peek() else { return }
        index += 1
        offset += String(c).utf8.count
        if c == "\n" {
            line += 1
            column = 1
        } else {
            column += 1
        }
    }

    /// A character for a message: itself in quotes, or its code point when it would not show
    /// (a NUL or another control character in a file that is not text).
    static func describe(_ c: Character) -> String {
        let invisible = c.unicodeScalars.contains {
            $0.properties.generalCategory == .control || $0.properties.generalCategory == .format
        }
        guard invisible else { return "'\(c)'" }
        return c.unicodeScalars.map { String(format: "U+%04X", $0.value) }.joined(separator: " ")
    }

    public mutating func tokenize() -> [Token] {
        var tokens: [Token] = []
        while true {
            skipSpacesAndComments()
            let start = location
            guard let c = peek() else {
                tokens.append(Token(kind: .end, range: SourceRange(start, start)))
                return tokens
            }
            if c == "\n" {
                if depth > 0 && !inBlockAtCurrentDepth {
                    // An unclosed bracket before a line that starts a new statement: close it here.
                    depth = blockDepths.last ?? 0
                }
                advance()
                let separates = depth == 0 || inBlockAtCurrentDepth
                if separates && !nextLineContinues() && tokens.last.map({ $0.kind != .newline }) ?? false {
                    tokens.append(Token(kind: .newline, range: SourceRange(start, location)))
                }
                continue
            }
            if isDigit(c) {
                tokens.append(number(start))
                continue
            }
            if c == "\"" {
                tokens.append(string(start))
                continue
            }
            if isIdentifierStart(c) {
                var name = ""
                while let d = peek(), isIdentifierStart(d) || isDigit(d) {
                    name.unicodeScalars.append(d)
                    advance()
                }
                let kind: Token.Kind = Keyword(rawValue: name).map { .keyword($0) } ?? .identifier(name)
                tokens.append(Token(kind: kind, range: SourceRange(start, location)))
                continue
            }
            if let symbol = matchSymbol() {
                switch symbol {
                case .leftParen, .leftBracket, .leftBrace: depth += 1
                case .rightParen, .rightBracket, .rightBrace: depth = Swift.max(0, depth - 1)
                default: break
                }
                // A brace opens a block whose statements are newline-separated again.
                if symbol == .leftBrace { blockDepths.append(depth) }
                if symbol == .rightBrace, !blockDepths.isEmpty { blockDepths.removeLast() }
                tokens.append(Token(kind: .symbol(symbol), range: SourceRange(start, location)))
                continue
            }
            advance()
            diagnostics.append(
                Diagnostic(
                    .syntax, "unexpected character \(Lexer.describe(Character(c)))", at: SourceRange(start, location),
                    source: source.name))
        }
    }

    /// Brace nesting levels: inside `{ }` newlines separate statements even within parentheses
    /// further out, e.g. a block passed as an argument.
    var blockDepths: [Int] = []
    var inBlockAtCurrentDepth: Bool { blockDepths.last == depth }

    mutating func skipSpacesAndComments() {
        while let c = peek() {
            if c == " " || c == "\t" || c == "\r" {
                advance()
            } else if c == "#" {
                while let d = peek(), d != "\n" { advance() }
            } else if c == "\n" && depth > 0 && !inBlockAtCurrentDepth {
                if nextLineStartsStatement() { return }
                advance()
            } else {
                return
            }
        }
    }

    /// Whether the next line starts with `let`, `for`, `while` or `return`, which only begin statements.
    func nextLineStartsStatement() -> Bool {
        var i = index + 1
        while i < scalars.count, scalars[i] == " " || scalars[i] == "\t" { i += 1 }
        var word = ""
        while i < scalars.count, isIdentifierStart(scalars[i]) {
            word.unicodeScalars.append(scalars[i])
            i += 1
        }
        return ["let", "for", "while", "return"].contains(word)
    }

    /// Whether the next non-blank, non-comment line starts with a continuing operator. A `-` does
    /// when a space follows it (`- b`, the binary minus); `-b` begins a new expression (the unary
    /// minus), as Swift tells the two apart.
    func nextLineContinues() -> Bool {
        var i = index
        while i < scalars.count {
            let c = scalars[i]
            if c == " " || c == "\t" || c == "\r" || c == "\n" {
                i += 1
            } else if c == "#" {
                while i < scalars.count, scalars[i] != "\n" { i += 1 }
            } else {
                let rest = String(String.UnicodeScalarView(scalars[i..<Swift.min(i + 3, scalars.count)]))
                if rest.hasPrefix("- ") || rest.hasPrefix("-\t") { return true }
                guard let symbol = Symbol.allCases.first(where: { rest.hasPrefix($0.rawValue) }) else {
                    // `and`/`or` at the start of a line continue a condition too.
                    let word = String(String.UnicodeScalarView(scalars[i..<Swift.min(i + 4, scalars.count)]))
                    return word.hasPrefix("and ") || word.hasPrefix("or ")
                }
                return symbol.continuesLine && !(symbol == .dot && rest.hasPrefix(".."))
            }
        }
        return false
    }

    mutating func matchSymbol() -> Symbol? {
        for symbol in Symbol.allCases {
            let chars = Array(symbol.rawValue.unicodeScalars)
            if (0..<chars.count).allSatisfy({ peek($0) == chars[$0] }) {
                for _ in chars { advance() }
                return symbol
            }
        }
        return nil
    }

    mutating func number(_ start: SourceLocation) -> Token {
        var text = ""
        while let c = peek(), isDigit(c) || c == "_" {
            if c != "_" { text.unicodeScalars.append(c) }
            advance()
        }
        // A fraction, but not the start of a range `1..10`.
        if peek() == ".", let next = peek(1), isDigit(next) {
            text += "."
            advance()
            while let c = peek(), isDigit(c) || c == "_" {
                if c != "_" { text.unicodeScalars.append(c) }
                advance()
            }
        }
        if let e = peek(), e == "e" || e == "E",
            peek(1).map(isDigit) == true || ((peek(1) == "-" || peek(1) == "+") && peek(2).map(isDigit) == true)
        {
            text += "e"
            advance()
            if let sign = peek(), sign == "-" || sign == "+" {
                text.unicodeScalars.append(sign)
                advance()
            }
            while let c = peek(), isDigit(c) {
                text.unicodeScalars.append(c)
                advance()
            }
        }
        return Token(kind: .number(Double(text) ?? .nan), range: SourceRange(start, location))
    }

    mutating func string(_ start: SourceLocation) -> Token {
        advance()
        var value = ""
        while let c = peek(), c != "\"" {
            if c == "\n" { break }
            if c == "\\" {
                advance()
                switch peek() {
                case "n": value += "\n"
                case "t": value += "\t"
                case "r": value += "\r"
                case "\"": value += "\""
                case "\\": value += "\\"
                default:
                    let here = location
                    diagnostics.append(
                        Diagnostic(.syntax, "unknown escape in string", at: SourceRange(here, here), source: source.name))
                }
                advance()
                continue
            }
            value.unicodeScalars.append(c)
            advance()
        }
        if peek() == "\"" {
            advance()
        } else {
            let kind: Diagnostic.Kind = peek() == nil ? .unexpectedEndOfInput : .syntax
            diagnostics.append(Diagnostic(kind, "unterminated string", at: SourceRange(start, location), source: source.name))
        }
        return Token(kind: .string(value), range: SourceRange(start, location))
    }

    func isDigit(_ c: Unicode.Scalar) -> Bool { c >= "0" && c <= "9" }
    func isIdentifierStart(_ c: Unicode.Scalar) -> Bool {
        (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c == "_" || (!c.isASCII && c.properties.isAlphabetic)
    }
}
