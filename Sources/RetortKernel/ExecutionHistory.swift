import Foundation

/// The cells run in this kernel session, for `history_request` (tail, range and search). Only
/// the latest are kept, at most `capacity` cells and `byteCapacity` bytes of code and output, so
/// a session that runs for days holds a bounded history, as IPython's `history_length` bounds its own.
struct ExecutionHistory {
    /// Jupyter numbers sessions; this kernel reports its own as 1.
    static let session = 1
    static let capacity = 10_000
    static let byteCapacity = 8 << 20

    private(set) var entries: [(line: Int, code: String, output: String?)] = []
    private let capacity: Int
    private let byteCapacity: Int
    /// The UTF-8 bytes of every kept cell's code and output.
    private var bytes = 0

    init(capacity: Int = ExecutionHistory.capacity, byteCapacity: Int = ExecutionHistory.byteCapacity) {
        self.capacity = capacity
        self.byteCapacity = byteCapacity
    }

    mutating func append(line: Int, _ code: String) {
        entries.append((line, code, nil))
        bytes += code.utf8.count
        forgetOldest()
    }

    /// Records the text of the result shown for `line`.
    mutating func setOutput(line: Int, _ output: String) {
        guard let i = entries.lastIndex(where: { $0.line == line }) else { return }
        bytes += output.utf8.count - (entries[i].output?.utf8.count ?? 0)
        entries[i].output = output
        forgetOldest()
    }

    /// Drops the oldest cells past either bound; the newest is always kept.
    private mutating func forgetOldest() {
        var drop = 0
        while entries.count - drop > 1, entries.count - drop > capacity || bytes > byteCapacity {
            bytes -= entries[drop].code.utf8.count + (entries[drop].output?.utf8.count ?? 0)
            drop += 1
        }
        if drop > 0 { entries.removeFirst(drop) }
    }

    /// The `history` list of a reply: `[session, line, input]` for each chosen cell.
    func answer(_ request: JSONObject) -> [[Any]] {
        let chosen: [(line: Int, code: String, output: String?)]
        switch request["hist_access_type"] as? String ?? "tail" {
        case "range":
            let session = request["session"] as? Int ?? 0
            guard session == 0 || session == Self.session else { return [] }
            let start = request["start"] as? Int ?? 0
            let stop = request["stop"] as? Int ?? Int.max
            chosen = entries.filter { $0.line >= start && $0.line < stop }
        case "search":
            let pattern = request["pattern"] as? String ?? "*"
            var found = entries.filter { Self.matches($0.code, glob: pattern) }
            if request["unique"] as? Bool ?? false {
                var seen = Set<String>()
                found = found.reversed().filter { seen.insert($0.code).inserted }.reversed()
            }
            chosen = Self.last(found, request["n"] as? Int)
        default:
            chosen = Self.last(entries, request["n"] as? Int ?? 10)
        }
        if request["output"] as? Bool ?? false {
            return chosen.map { [Self.session, $0.line, [$0.code, $0.output.map { $0 as Any } ?? NSNull()]] }
        }
        return chosen.map { [Self.session, $0.line, $0.code] }
    }

    private static func last<T>(_ items: [T], _ n: Int?) -> [T] {
        guard let n, n >= 0 else { return items }
        return Array(items.suffix(n))
    }

    /// Glob matching as IPython's history search does it: `*` any run, `?` one character.
    static func matches(_ text: String, glob: String) -> Bool {
        fnmatch(glob, text, 0) == 0
    }
}
