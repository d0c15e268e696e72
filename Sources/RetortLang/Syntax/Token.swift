/// A lexical token with its range in the source.
public struct Token: Equatable, Sendable {
    public enum Kind: Hashable, Sendable {
        case number(Double)
        case string(String)
        case identifier(String)
        case keyword(Keyword)
        case symbol(Symbol)
        case newline
        case end
    }

    public var kind: Kind
    public var range: SourceRange
}

public enum Keyword: String, CaseIterable, Sendable {
    case `let`, fn, `if`, `else`, `for`, `in`, `while`, `return`, `true`, `false`, and, or, not, `break`, `continue`, none
}

public enum Symbol: String, CaseIterable, Sendable {
    // Longest first, so the lexer can match greedily.
    case pipe = "|>", rangeExclusive = "..<", range = "..", equalEqual = "==", notEqual = "!=", lessEqual = "<="
    case greaterEqual = ">=", arrow = "=>"
    case plus = "+", minus = "-", star = "*", slash = "/", caret = "^", at = "@", less = "<", greater = ">"
    case equal = "=", leftParen = "(", rightParen = ")", leftBracket = "[", rightBracket = "]"
    case leftBrace = "{", rightBrace = "}", comma = ",", colon = ":", dot = ".", semicolon = ";", percent = "%"

    /// Symbols that cannot start an expression, so a line beginning with one continues the last.
    var continuesLine: Bool {
        switch self {
        case .pipe, .plus, .star, .slash, .caret, .at, .equalEqual, .notEqual, .lessEqual, .greaterEqual, .less,
            .greater, .dot, .percent:
            return true
        default:
            return false
        }
    }
}
