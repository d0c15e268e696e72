/// A scope of bindings, chained to the scope it is nested in.
final class Environment {
    private(set) var values: [String: Value] = [:]
    let parent: Environment?

    init(parent: Environment? = nil) { self.parent = parent }

    func define(_ name: String, _ value: Value) { values[name] = value }

    func lookup(_ name: String) -> Value? {
        var scope: Environment? = self
        while let s = scope {
            if let v = s.values[name] { return v }
            scope = s.parent
        }
        return nil
    }

    /// Rebinds an existing name in the nearest scope that has it; false when no scope does.
    func assign(_ name: String, _ value: Value) -> Bool {
        var scope: Environment? = self
        while let s = scope {
            if s.values[name] != nil {
                s.values[name] = value
                return true
            }
            scope = s.parent
        }
        return false
    }

    /// Every name visible from here, nearest scope first.
    var allNames: [String] {
        var names: [String] = []
        var scope: Environment? = self
        while let s = scope {
            names += s.values.keys
            scope = s.parent
        }
        return names
    }

    func removeAll() { values = [:] }

    /// Drops one binding of this scope (a `last_history` that would describe an earlier run).
    func remove(_ name: String) { values[name] = nil }
}
