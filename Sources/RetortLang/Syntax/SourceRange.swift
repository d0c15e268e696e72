/// A span of source text: UTF-8 byte offsets plus the line and column of its start and end.
///
/// Lines and columns count from 1; columns count Unicode scalars, so carets line up under
/// non-ASCII text.
public struct SourceLocation: Equatable, Hashable, Sendable, Comparable {
    public var offset: Int
    public var line: Int
    public var column: Int

    public init(offset: Int, line: Int, column: Int) {
        self.offset = offset
        self.line = line
        self.column = column
    }

    public static func < (a: SourceLocation, b: SourceLocation) -> Bool { a.offset < b.offset }
}

public struct SourceRange: Equatable, Hashable, Sendable {
    public var start: SourceLocation
    public var end: SourceLocation

    public init(_ start: SourceLocation, _ end: SourceLocation) {
        self.start = start
        self.end = end
    }

    /// The smallest range covering both.
    public func union(_ other: SourceRange) -> SourceRange {
        SourceRange(Swift.min(start, other.start), Swift.max(end, other.end))
    }
}

/// A piece of source code with a name for messages (`model.rt`, `<cell 3>`).
public struct Source: Sendable {
    public let name: String
    public let text: String

    public init(name: String, text: String) {
        self.name = name
        self.text = text
    }

    /// The text of line `number` (1-based), without its newline. Lines end at "\n" as the lexer
    /// counts them, a "\r" before it dropped; split by scalars, since Swift reads "\r\n" as one
    /// character (a file from Windows was one line, and an error's line showed empty).
    public func line(_ number: Int) -> String {
        let lines = text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false)
        guard number >= 1, number <= lines.count else { return "" }
        var line = String(String.UnicodeScalarView(lines[number - 1]))
        if line.unicodeScalars.last == "\r" { line.unicodeScalars.removeLast() }
        return line
    }
}
