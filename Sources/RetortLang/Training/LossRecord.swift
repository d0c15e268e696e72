import RetortNN
import RetortTensor

/// What a checkpoint records of a training call's loss, so that resuming with other code, or with
/// other values the code reads, is refused like any other difference (it once resumed silently:
/// only the loss's name was recorded, and an anonymous function's is `fn`).
///
/// A builtin or a prelude function is its name; a function written in the session is its source,
/// then each name it reads from around it and that value: numbers, strings and bools as written,
/// a tensor by its shape and a hash of its values, functions the same way in turn; names it assigns
/// to are state, left out. A model, or a tensor that requires gradients, by its shape alone: the
/// loss may read the student or an adapter, whose weights the run itself changes (the teachers are
/// recorded apart, with their weights).
enum LossRecord {
    /// Whether `value` (a loss) calls the builtin `name`, itself or through the functions written in
    /// the session that it reads.
    static func reaches(_ name: String, from value: Value, prelude: Environment) -> Bool {
        var seen = Set<ObjectIdentifier>()
        func walk(_ value: Value) -> Bool {
            guard case .function(.closure(let closure)) = value, closure.environment !== prelude,
                seen.insert(ObjectIdentifier(closure)).inserted
            else { return false }
            let reads = FreeNames.of(closure.declaration)
            if reads.contains(name) { return true }
            return reads.contains { closure.environment.lookup($0).map(walk) ?? false }
        }
        return walk(value)
    }

    /// The trainable parameters `values` (a loss and its named arguments) read, and the models, each named by the
    /// path it is read under (`adapter.weight`, `adapters.0.bias`, `w`): through the names the
    /// session's functions read, and into lists and records. A checkpoint saves them beside the
    /// model (which it leaves out of them), so a resumed run's adapter is the stopped run's.
    /// Made inside the loss, an adapter is new each batch and has nothing to save.
    static func parameters(of values: [(name: String, value: Value)], prelude: Environment) -> (
        parameters: [(name: String, variable: Variable)], models: [(name: String, network: Layer)]
    ) {
        var found: [(name: String, variable: Variable)] = []
        var models: [(name: String, network: Layer)] = []
        var names = Set<String>()
        var held = Set<ObjectIdentifier>()
        var seen = Set<ObjectIdentifier>()
        func add(_ name: String, _ variable: Variable) {
            guard variable.requiresGrad, held.insert(ObjectIdentifier(variable)).inserted else { return }
            // Two values read under one name (by two functions): the later is numbered.
            var unique = name
            var n = 2
            while !names.insert(unique).inserted {
                unique = "\(name)_\(n)"
                n += 1
            }
            found.append((unique, variable))
        }
        func walk(_ name: String, _ value: Value) {
            switch value {
            case .function(.closure(let closure)):
                guard closure.environment !== prelude, seen.insert(ObjectIdentifier(closure)).inserted else { return }
                for read in FreeNames.of(closure.declaration) {
                    if let value = closure.environment.lookup(read) { walk(read, value) }
                }
            case .model(let m):
                models.append((name, m.network))
                for (path, variable) in m.network.namedParameters { add("\(name).\(path)", variable) }
            case .tensor(let t):
                add(name, t)
            case .list(let items), .tuple(let items):
                for (i, item) in items.enumerated() { walk("\(name).\(i)", item) }
            case .record(let r):
                for (field, item) in r.fields { walk("\(name).\(field)", item) }
            default:
                return
            }
        }
        for (name, value) in values { walk(name, value) }
        return (found, models)
    }

    static func describe(_ value: Value, prelude: Environment) -> String {
        var seen = Set<ObjectIdentifier>()
        return describe(value, prelude: prelude, seen: &seen)
    }

    private static func describe(_ value: Value, prelude: Environment, seen: inout Set<ObjectIdentifier>) -> String {
        switch value {
        case .function(.closure(let closure)):
            guard closure.environment !== prelude else { return closure.declaration.name ?? "fn" }
            guard seen.insert(ObjectIdentifier(closure)).inserted else { return closure.declaration.name ?? "fn" }
            var text = closure.declaration.sourceText
            // What it assigns is state the run changes (a count of calls), not a setting.
            let written = FreeNames.written(by: closure.declaration)
            let reads = FreeNames.of(closure.declaration).compactMap { name -> String? in
                guard !written.contains(name), let read = closure.environment.lookup(name) else { return nil }
                if case .function(.builtin) = read { return nil }
                return "\(name) = \(describe(read, prelude: prelude, seen: &seen))"
            }
            if !reads.isEmpty { text += " [reads " + reads.joined(separator: "; ") + "]" }
            return text
        case .function(let f): return f.name
        case .tensor(let t):
            return t.requiresGrad ? "trainable tensor \(formatShape(t.shape))" : Checkpoint.describe(tensor: t.value)
        case .model(let m): return Checkpoint.describe(model: m.network)
        default:
            // Numbers, strings, lists and records as shown; a long one by a hash of that text.
            let text = value.displayText
            return text.count <= 200 ? text : "\(value.typeName) \(Checkpoint.fingerprint(text: text))"
        }
    }
}
