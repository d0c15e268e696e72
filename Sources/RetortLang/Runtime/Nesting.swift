/// How deep lists, tuples and records may nest. A value is released (and compared, and shown) by
/// recursion over its nesting, so a list wrapped in itself a million times in a loop would
/// overflow the stack when freed; no program needs anywhere near this depth.
enum Nesting {
    static let maximumDepth = 1000

    /// Whether `value` nests deeper than `maximumDepth`, as far as a bounded look can tell: the
    /// chains through each container's first and last items, and every container level by level
    /// until a few thousand have been seen. Each look costs at most a few thousand steps, so wrapping
    /// a list in a loop stays linear.
    static func isTooDeep(_ value: Value) -> Bool {
        func items(_ v: Value) -> [Value]? {
            switch v {
            case .list(let items), .tuple(let items): return items
            case .record(let r): return r.fields.map(\.value)
            default: return nil
            }
        }
        for pick in [{ (xs: [Value]) in xs.first }, { (xs: [Value]) in xs.last }] {
            var current = value
            var depth = 0
            while let children = items(current), let next = pick(children) {
                depth += 1
                if depth > maximumDepth { return true }
                current = next
            }
        }
        var level = [value]
        var depth = 0
        var seen = 0
        while !level.isEmpty, seen < 4096 {
            level = level.flatMap { items($0) ?? [] }
            seen += level.count
            depth += 1
            if depth > maximumDepth { return true }
        }
        return false
    }
}

extension Interpreter {
    /// Refuses a new list, tuple or record that would nest deeper than `Nesting.maximumDepth`.
    func checkNesting(_ made: Value, at range: SourceRange) throws -> Value {
        guard Nesting.isTooDeep(made) else { return made }
        throw diagnostic(
            .runtime,
            "lists, tuples and records nest at most \(Nesting.maximumDepth) deep; this one would nest deeper (is a loop wrapping a list in itself?)",
            at: range)
    }
}
