/// The sources of the cells a session has run, by name, for diagnostics and tracebacks, kept
/// within a bound: a notebook session runs thousands of cells. The prelude always stays; past
/// `limit`, the oldest cell that defined no function goes first (a function's errors quote its
/// own lines), and only then the oldest of all. A traceback into a dropped cell shows no line.
struct SourceStore {
    private var byName: [String: Source] = [:]
    private var order: [String] = []
    /// Cells that defined a function, whose lines a later error may quote.
    private var definingFunctions = Set<String>()
    let limit: Int

    init(limit: Int = 2_000) { self.limit = limit }

    subscript(name: String) -> Source? {
        get { byName[name] }
        set {
            guard let newValue else { return }
            if byName[name] == nil { order.append(name) }
            byName[name] = newValue
            evict()
        }
    }

    mutating func definedFunction(in name: String) { definingFunctions.insert(name) }

    var count: Int { byName.count }

    private mutating func evict() {
        while order.count > limit {
            let victim =
                order.firstIndex { $0 != "<prelude>" && !definingFunctions.contains($0) }
                ?? order.firstIndex { $0 != "<prelude>" }
            guard let victim else { return }
            let name = order.remove(at: victim)
            byName[name] = nil
            definingFunctions.remove(name)
        }
    }
}
