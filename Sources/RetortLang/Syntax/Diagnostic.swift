import RetortTensor

/// A problem found in a program, as a value: what, where, and any notes. Rendering is separate
/// (`DiagnosticRenderer`), so the REPL, the script runner and the kernel show them alike.
public struct Diagnostic: Error, Equatable, Sendable {
    public enum Kind: String, Equatable, Sendable {
        /// The input stopped inside a bracket, block or expression: more lines may complete it.
        case unexpectedEndOfInput
        case syntax
        case undefinedName
        case type
        case argument
        case shape
        /// Something would need more memory than the budget allows (Python's MemoryError).
        case memory
        case runtime
        case interrupted
    }

    public var kind: Kind
    public var message: String
    public var range: SourceRange?
    public var notes: [String]
    public var sourceName: String
    /// The calls that led to the error, innermost caller first: Python's traceback, read upwards.
    public var trace: [TraceFrame]

    /// One call on the way to an error: the call's place and the function it called.
    public struct TraceFrame: Sendable, Equatable {
        public var function: String
        public var range: SourceRange
        public var sourceName: String
    }

    public init(
        _ kind: Kind, _ message: String, at range: SourceRange?, notes: [String] = [], source: String = "",
        trace: [TraceFrame] = []
    ) {
        self.kind = kind
        self.message = message
        self.range = range
        self.notes = notes
        sourceName = source
        self.trace = trace
    }

    /// Whether this is a syntax problem (as opposed to one found while running).
    public var isSyntax: Bool { kind == .syntax || kind == .unexpectedEndOfInput }

    /// A short name for the kind of error, as a kernel's `ename` or a REPL heading.
    public var title: String {
        switch kind {
        case .unexpectedEndOfInput, .syntax: return "SyntaxError"
        case .undefinedName: return "NameError"
        case .type: return "TypeError"
        case .argument: return "ArgumentError"
        case .shape: return "ShapeError"
        case .memory: return "MemoryError"
        case .runtime: return "RuntimeError"
        case .interrupted: return "Interrupted"
        }
    }
}

extension Diagnostic.Kind {
    /// The kind a tensor-core error shows as: a shape that disagrees is a shape error, one too large
    /// for the memory budget a memory error; an argument, the values in one, or a file it names, an
    /// argument error.
    init(_ kind: TensorError.Kind) {
        switch kind {
        case .shape: self = .shape
        case .budget: self = .memory
        case .argument, .value, .file: self = .argument
        }
    }

    /// The kind of a tensor-core error, or `otherwise` for any other error.
    init(of error: Error, otherwise: Diagnostic.Kind) {
        if let e = error as? TensorError { self.init(e.kind) } else { self = otherwise }
    }
}

/// Renders diagnostics as text: `file:line:col: error: message`, the source line, and a caret
/// line under the range, with colour as an optional decoration.
public struct DiagnosticRenderer {
    public var colour: Bool

    public init(colour: Bool = false) { self.colour = colour }

    /// `sources` finds the text of the error's source and of each caller's, by name.
    public func render(_ d: Diagnostic, source: Source?, sources: (String) -> Source? = { _ in nil }) -> String {
        let red = colour ? "\u{1B}[1;31m" : ""
        let bold = colour ? "\u{1B}[1m" : ""
        let cyan = colour ? "\u{1B}[36m" : ""
        let reset = colour ? "\u{1B}[0m" : ""
        var out = ""
        let name = source?.name ?? d.sourceName
        if let r = d.range {
            out += "\(bold)\(name):\(r.start.line):\(r.start.column):\(reset) "
        } else if !name.isEmpty {
            out += "\(bold)\(name):\(reset) "
        }
        out += "\(red)\(d.title):\(reset) \(bold)\(d.message)\(reset)\n"
        if let r = d.range, let source { out += excerpts(r, in: source, marker: red) }
        for note in d.notes { out += "\(cyan)note:\(reset) \(note)\n" }
        // A frame the one before it repeats is counted, not shown again (Python's "[Previous line
        // repeated 996 more times]"): deep recursion once printed a thousand frames.
        var i = 0
        while i < d.trace.count {
            let frame = d.trace[i]
            let r = frame.range
            out +=
                "\(cyan)in \(frame.function), called from\(reset) \(bold)\(frame.sourceName):\(r.start.line):\(r.start.column)\(reset)\n"
            if let text = sources(frame.sourceName) { out += excerpts(r, in: text, marker: red) }
            var repeats = 0
            while i + 1 + repeats < d.trace.count, d.trace[i + 1 + repeats] == frame { repeats += 1 }
            if repeats > 0 { out += "\(cyan)[the call above repeated \(repeats) more time\(repeats == 1 ? "" : "s")]\(reset)\n" }
            i += 1 + repeats
        }
        return out
    }

    /// The excerpt of each line the range covers, up to four (an operand on the next line is part of
    /// the error as much as the first), then where the rest ends.
    private func excerpts(_ r: SourceRange, in source: Source, marker: String) -> String {
        var out = excerpt(r, in: source, marker: marker)
        guard r.end.line > r.start.line else { return out }
        let last = Swift.min(r.end.line, r.start.line + 3)
        for line in (r.start.line + 1)...last {
            let scalars = Array(source.line(line).unicodeScalars)
            let first = (scalars.firstIndex { $0 != " " && $0 != "\t" } ?? 0) + 1
            let end = line == r.end.line ? r.end.column : scalars.count + 1
            guard end > first else { continue }
            let part = SourceRange(
                SourceLocation(offset: 0, line: line, column: first), SourceLocation(offset: 0, line: line, column: end))
            out += excerpt(part, in: source, marker: marker)
        }
        if r.end.line > last { out += "(through line \(r.end.line))\n" }
        return out
    }

    /// `12 | source line` and a caret line under the range.
    private func excerpt(_ r: SourceRange, in source: Source, marker: String) -> String {
        let cyan = colour ? "\u{1B}[36m" : ""
        let reset = colour ? "\u{1B}[0m" : ""
        var scalars = Array(source.line(r.start.line).unicodeScalars)
        var startColumn = r.start.column
        var width: Int
        if r.end.line == r.start.line {
            width = Swift.max(1, r.end.column - r.start.column)
        } else {
            width = Swift.max(1, scalars.count - r.start.column + 1)
        }
        // A very long line is shown as a window around the caret, marked with … where cut.
        let window = 160
        if scalars.count > window {
            let from = Swift.max(0, Swift.min(startColumn - 1 - window / 4, scalars.count - window))
            let to = Swift.min(scalars.count, from + window)
            let cutFront = from > 0
            scalars = (cutFront ? ["…"] : []) + Array(scalars[from..<to]) + (to < scalars.count ? ["…"] : [])
            startColumn = startColumn - from + (cutFront ? 1 : 0)
            width = Swift.min(width, scalars.count - startColumn + 1)
        }
        // Control characters (a NUL in a file that is not text) are shown as a visible mark, never raw.
        let text = String(
            String.UnicodeScalarView(scalars.map { $0 != "\t" && $0.properties.generalCategory == .control ? "\u{FFFD}" : $0 }))
        let gutter = String(r.start.line)
        let pad = String(repeating: " ", count: gutter.count)
        var out = "\(cyan)\(gutter) |\(reset) \(text)\n"
        // The caret goes under the range as a terminal draws the line: a CJK character or an emoji
        // takes two columns, a combining accent none.
        let before = text.unicodeScalars.prefix(Swift.max(startColumn - 1, 0))
        let prefix = before.map { $0 == "\t" ? "\t" : String(repeating: " ", count: Self.columns($0)) }.joined()
        let under = text.unicodeScalars.dropFirst(before.count).prefix(width)
        let carets = Swift.max(1, under.reduce(0) { $0 + Self.columns($1) } + Swift.max(0, width - under.count))
        out += "\(cyan)\(pad) |\(reset) \(prefix)\(marker)\(String(repeating: "^", count: carets))\(reset)\n"
        return out
    }

    /// The columns a terminal gives a code point: 0 for a combining mark, a joiner or a variation
    /// selector, 2 for East Asian wide characters and emoji, 1 otherwise (wcwidth's rule, roughly).
    static func columns(_ scalar: Unicode.Scalar) -> Int {
        switch scalar.properties.generalCategory {
        case .nonspacingMark, .enclosingMark, .format: return 0
        default: break
        }
        let v = scalar.value
        if (0x1F3FB...0x1F3FF).contains(v) { return 0 }  // skin tones, drawn with the emoji before
        let wide: [ClosedRange<UInt32>] = [
            0x1100...0x115F, 0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xA000...0xA4CF,
            0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE30...0xFE4F, 0xFF00...0xFF60, 0xFFE0...0xFFE6, 0x1F300...0x1F64F,
            0x1F900...0x1F9FF, 0x20000...0x3FFFD,
        ]
        if wide.contains(where: { $0.contains(v) }) || scalar.properties.isEmojiPresentation { return 2 }
        return 1
    }
}

/// A diagnostic quoted inside another message (an export's report of why a length stays fixed):
/// its message, not the structure's dump.
extension Diagnostic: CustomStringConvertible {
    public var description: String { message }
}
