/// The syntax tree. Every node carries the source range it was parsed from.
public indirect enum Expr: Sendable {
    case number(Double, SourceRange)
    case string(String, SourceRange)
    case bool(Bool, SourceRange)
    case none(SourceRange)
    case name(String, SourceRange)
    /// `[a, b, c]`: a tensor when every element is numeric, else a list.
    case list([Expr], SourceRange)
    case tuple([Expr], SourceRange)
    case record([(name: String, value: Expr)], SourceRange)
    case unary(op: UnaryOp, operand: Expr, SourceRange)
    case binary(op: BinaryOp, left: Expr, right: Expr, SourceRange)
    /// `f(a, b, key: c)`
    case call(callee: Expr, arguments: [ArgumentNode], SourceRange)
    /// `x[i, a:b]`
    case index(base: Expr, subscripts: [Subscript], SourceRange)
    case member(base: Expr, name: String, SourceRange)
    case range(from: Expr, to: Expr, inclusive: Bool, SourceRange)
    case conditional(condition: Expr, then: Block, otherwise: Block?, SourceRange)
    /// `fn (params) = body` without a name.
    case function(FunctionDecl, SourceRange)
    /// `{ statements }` used where an expression is expected (a block's value is its last expression).
    case block(Block, SourceRange)

    public var range: SourceRange {
        switch self {
        case .number(_, let r), .string(_, let r), .bool(_, let r), .none(let r), .name(_, let r), .list(_, let r),
            .tuple(_, let r), .record(_, let r), .unary(_, _, let r), .binary(_, _, _, let r), .call(_, _, let r),
            .index(_, _, let r), .member(_, _, let r), .range(_, _, _, let r), .conditional(_, _, _, let r),
            .function(_, let r), .block(_, let r):
            return r
        }
    }
}

public enum UnaryOp: String, Sendable { case negate = "-", not = "not" }

public enum BinaryOp: String, Sendable {
    case add = "+", subtract = "-", multiply = "*", divide = "/", power = "^", matmul = "@", modulo = "%"
    case equal = "==", notEqual = "!=", less = "<", lessEqual = "<=", greater = ">", greaterEqual = ">="
    case and, or, pipe = "|>"
}

/// A call argument, positional (`label` nil) or named.
public struct ArgumentNode: Sendable {
    public var label: String?
    public var value: Expr
    public var range: SourceRange
}

/// One position inside `[...]` after an expression: an index or a slice `a:b:c`.
public enum Subscript: Sendable {
    case index(Expr)
    case slice(start: Expr?, end: Expr?, step: Expr?, SourceRange)
}

public struct Parameter: Sendable {
    public var name: String
    public var defaultValue: Expr?
    public var range: SourceRange
}

public struct FunctionDecl: Sendable {
    public var name: String?
    public var parameters: [Parameter]
    public var body: Block
    /// The function's source text, shown by `source(name)` and the kernel's inspect.
    public var sourceText: String
}

public struct Block: Sendable {
    public var statements: [Stmt]
    public var range: SourceRange
}

/// A binding target: a name, or a tuple pattern `(a, b)` to destructure.
public indirect enum Pattern: Sendable {
    case name(String, SourceRange)
    case tuple([Pattern], SourceRange)

    public var names: [String] {
        switch self {
        case .name(let n, _): return [n]
        case .tuple(let parts, _): return parts.flatMap(\.names)
        }
    }
}

public enum Stmt: Sendable {
    case expression(Expr)
    case `let`(Pattern, Expr, SourceRange)
    /// `name = value` to an existing binding, or `x.field = value`.
    case assign(target: Expr, value: Expr, SourceRange)
    case function(FunctionDecl, SourceRange)
    case `for`(Pattern, in: Expr, body: Block, SourceRange)
    case `while`(condition: Expr, body: Block, SourceRange)
    case `return`(Expr?, SourceRange)
    case `break`(SourceRange)
    case `continue`(SourceRange)

    public var range: SourceRange {
        switch self {
        case .expression(let e): return e.range
        case .let(_, _, let r), .assign(_, _, let r), .function(_, let r), .for(_, _, _, let r), .while(_, _, let r),
            .return(_, let r), .break(let r), .continue(let r):
            return r
        }
    }
}

/// A parsed program or cell.
public struct Program: Sendable {
    public var statements: [Stmt]
    public var source: Source
}
