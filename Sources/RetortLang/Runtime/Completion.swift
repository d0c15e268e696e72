/// Completion candidates for the text before a cursor, shared by the REPL's Tab and the kernel's
/// `complete_request`: names in scope, fields after a dot, and parameter names inside a call.
public struct Completions: Equatable {
    /// Candidates, sorted; named parameters end with ": ".
    public var matches: [String]
    /// The span (in Unicode scalars) of the partial word the matches replace.
    public var start: Int
    public var end: Int
}

extension Session {
    /// Completions for `code` with the cursor at `cursor`, counted in Unicode scalars (as Jupyter
    /// counts code points).
    public func completions(_ code: String, cursor: Int) -> Completions {
        let scalars = Array(code.unicodeScalars.prefix(cursor))
        var start = scalars.count
        while start > 0, isWord(scalars[start - 1]) { start -= 1 }
        let prefix = String(String.UnicodeScalarView(scalars[start...]))
        let result = { (candidates: [String]) in
            Completions(
                matches: Array(Set(candidates.filter { $0.hasPrefix(prefix) })).sorted(), start: start, end: scalars.count)
        }
        // A `:command` at the start of a line completes to the commands (`:lo` → `:load`), as
        // IPython's `%` completes to its magics.
        let lineStart = scalars[..<start].lastIndex(of: "\n").map { $0 + 1 } ?? 0
        if start > lineStart, scalars[start - 1] == ":",
            scalars[lineStart..<(start - 1)].allSatisfy({ $0 == " " || $0 == "\t" })
        {
            let names = Session.commands.map { String($0.name.dropFirst()) }
            return Completions(
                matches: names.filter { $0.hasPrefix(prefix) }.sorted().map { $0 }, start: start, end: scalars.count)
        }
        // After `expr.`: the fields of the value the expression names (evaluated only when it is a
        // plain chain of names, so completion never runs user code).
        if start > 0, scalars[start - 1] == "." {
            var chainStart = start - 1
            while chainStart > 0, isWord(scalars[chainStart - 1]) || scalars[chainStart - 1] == "." { chainStart -= 1 }
            let chain = String(String.UnicodeScalarView(scalars[chainStart..<(start - 1)])).split(separator: ".").map(String.init)
            guard let first = chain.first, var value = interpreter.lookup(first) else { return result([]) }
            for name in chain.dropFirst() {
                guard let next = Members.lookup(value, name) else { return result([]) }
                value = next
            }
            return result(Members.names(of: value))
        }
        var candidates = interpreter.knownNames + Keyword.allCases.map(\.rawValue)
        if let callee = enclosingCallee(scalars[..<start]) {
            candidates += parameterNames(of: callee).map { "\($0): " }
        }
        return result(candidates)
    }

    /// What to show for the cursor's place, as Jupyter's inspect (Shift-Tab) asks: the name under
    /// or just before it, else the innermost call it is inside (`plot([1, 2], ti|` shows plot's
    /// entry, as IPython shows the signature of the call being typed).
    public func documentation(in code: String, cursor: Int) -> String? {
        let scalars = Array(code.unicodeScalars)
        let cursor = Swift.min(Swift.max(cursor, 0), scalars.count)
        var start = cursor, end = cursor
        while start > 0, isWord(scalars[start - 1]) { start -= 1 }
        while end < scalars.count, isWord(scalars[end]) { end += 1 }
        if start < end, let found = documentation(of: String(String.UnicodeScalarView(scalars[start..<end]))) {
            return found
        }
        return enclosingCallee(scalars[..<start]).flatMap { documentation(of: $0) }
    }

    /// The name of the innermost call whose parentheses are still open before the cursor.
    func enclosingCallee(_ text: ArraySlice<Unicode.Scalar>) -> String? {
        var depth = 0
        var i = text.endIndex
        while i > text.startIndex {
            i -= 1
            let c = text[i]
            if c == ")" || c == "]" || c == "}" { depth += 1 }
            if c == "[" || c == "{" { depth -= 1 }
            if c == "(" {
                if depth == 0 {
                    var j = i
                    while j > text.startIndex, isWord(text[j - 1]) { j -= 1 }
                    return j < i ? String(String.UnicodeScalarView(text[j..<i])) : nil
                }
                depth -= 1
            }
        }
        return nil
    }

    func parameterNames(of name: String) -> [String] {
        switch interpreter.lookup(name) {
        case .function(.builtin(let b))?: return b.parameters.filter { !$0.variadic }.map(\.name)
        case .function(.closure(let c))?: return c.declaration.parameters.map(\.name)
        default: return []
        }
    }
}

/// Whether `c` can be part of a name: a letter, a digit or `_`.
private func isWord(_ c: Unicode.Scalar) -> Bool { c == "_" || c.properties.isAlphabetic || ("0"..."9").contains(c) }
