import Foundation
import RetortExport
import RetortNN
import RetortPlot
import RetortTensor

/// A short description for error messages: `a tensor of shape [2, 3]`, `the number 3`.
func describeShort(_ value: Value) -> String {
    switch value {
    case .none: return "none"
    case .number(let n): return n.formatted
    case .bool(let b): return b ? "true" : "false"
    case .string(let s): return quoted(s)
    case .tensor(let t): return "a tensor of shape \(formatShape(t.shape))"
    case .list(let items): return "a list of \(items.count)"
    case .tuple(let items): return "a tuple of \(items.count)"
    case .record: return "a record"
    case .function(let f): return "the function \(f.name)"
    case .model(let m): return "the model \(m.name ?? "")".trimmingCharacters(in: .whitespaces)
    case .optimizer(let o): return "a \(o.kind.rawValue) optimizer"
    case .schedule(let s): return "the schedule \(s.displayText)"
    case .dataset(let d): return "a dataset of \(d.count)"
    case .history: return "a training history"
    case .table: return "a table"
    case .plot: return "a plot"
    case .formula: return "a formula"
    case .range(let a, let b): return "the range \(a)..<\(b)"
    case .graph(let g): return "the graph of \(g.modelName)"
    case .corpus(let c): return "the corpus \(c.name) of \(c.count) lines"
    case .vocab(let v): return "a vocabulary of \(v.count)"
    }
}

/// How many digits values print with: `set_printoptions(precision: 8)`, as PyTorch's. One setting per
/// process (a front end runs one session); a new interpreter starts from the defaults.
enum PrintOptions {
    /// Digits after the point in a tensor's elements (PyTorch's default, 4); numbers print with two
    /// more significant digits (6 by default).
    nonisolated(unsafe) static var precision = 4
    static let defaultPrecision = 4
}

/// A string as a double-quoted literal, quotes, backslashes, newlines and tabs escaped, as Python's
/// repr shows it: inside containers and messages (`["a", "b\"c"]` once showed as `["a", "b"c"]`).
/// The same escaping the PyTorch export writes Python strings with.
func quoted(_ s: String) -> String { Python.string(s) }

func formatNumber(_ x: Double) -> String {
    if x.isNaN { return "nan" }
    if x.isInfinite { return x > 0 ? "inf" : "-inf" }
    if x == x.rounded(), Swift.abs(x) < 1e15 { return String(Int64(x)) }
    return String(format: "%.\(PrintOptions.precision + 2)g", x)
}

extension Value {
    /// The text a REPL or a notebook's `text/plain` shows for this value.
    public var displayText: String {
        switch self {
        case .none: return "none"
        case .number(let n): return formatNumber(n)
        case .bool(let b): return b ? "true" : "false"
        // A string on its own shows as written, its lines as lines (source(kd) reads as code);
        // inside a container or a message it is escaped, as Python's repr.
        case .string(let s): return "\"\(s)\""
        case .tensor(let t): return displayTensor(t)
        case .list, .tuple, .record:
            var text = ""
            var cut = false
            appendContainerText(to: &text, cut: &cut)
            return text
        case .function(.closure(let c)): return c.declaration.sourceText
        case .function(.builtin(let b)): return "builtin \(b.signature)"
        case .model(let m):
            return "\(m.name.map { "\($0): " } ?? "")\(m.network.description)\n\(m.countText), \(m.modeText) mode"
        case .optimizer(let o): return o.displayText
        case .schedule(let s): return s.displayText
        case .dataset(let d):
            return
                "dataset \(d.name): \(d.count) example\(d.count == 1 ? "" : "s"), inputs \(formatShape(Array(d.x.shape.dropFirst()))), \(d.classes) class\(d.classes == 1 ? "" : "es")"
        case .history(let h): return displayHistory(h)
        case .table(let t): return displayTable(t)
        case .plot(let f): return f.text(width: 80)
        case .formula(let latex): return latex
        case .range(let a, let b): return "\(a)..<\(b)"
        case .graph(let g): return displayTable(g.table)
        case .corpus(let c):
            let shown = c.lines.prefix(8).map { "\"\($0)\"" }.joined(separator: ", ")
            return "corpus \(c.name): \(c.count) lines: \(shown)\(c.count > 8 ? ", …" : "")"
        case .vocab(let v):
            return "vocab of \(v.count): \"\((0..<v.count).map(v.symbol).joined())\" (\".\" is the end mark, id 0)"
        }
    }

    /// The most characters the text of a list, tuple or record runs to before it is cut with "…": a
    /// list doubled in a loop by `l = [l, l]` shares its items and costs nothing to hold, but its text
    /// doubles each time, and would fill memory before it was done.
    static let maximumContainerText = 1 << 20

    /// Appends this list's, tuple's or record's text (any other value's `displayText`), stopping with
    /// "…" once `text` is past `maximumContainerText`.
    private func appendContainerText(to text: inout String, cut: inout Bool) {
        let (open, close, items): (String, String, [(String?, Value)])
        switch self {
        case .list(let values): (open, close, items) = ("[", "]", values.map { (nil, $0) })
        case .tuple(let values): (open, close, items) = ("(", values.count == 1 ? ",)" : ")", values.map { (nil, $0) })
        case .record(let r): (open, close, items) = ("{", "}", r.fields.map { ($0.name, $0.value) })
        case .string(let string):
            // Inside a list, tuple or record, escaped (["a", "b\"c"] once read ["a", "b"c"]).
            text += quoted(string)
            return
        default:
            text += displayText
            return
        }
        text += open
        for (i, (name, value)) in items.enumerated() {
            guard !cut else { return }
            guard text.utf8.count <= Value.maximumContainerText else {
                text += "…"
                cut = true
                return
            }
            if i > 0 { text += ", " }
            if let name { text += name + ": " }
            value.appendContainerText(to: &text, cut: &cut)
        }
        if !cut { text += close }
    }

    /// The text a terminal shows: plots drawn `width` columns wide, in colour when asked.
    public func displayText(width: Int, colour: Bool) -> String {
        if case .plot(let f) = self { return f.text(width: width, colour: colour) }
        return displayText
    }

    /// The value as HTML for notebooks, where it has a richer form than text (tables).
    public var displayHTML: String? {
        if case .table(let t) = self { return htmlTable(t) }
        if case .graph(let g) = self { return htmlTable(g.table) }
        return nil
    }
}

/// A table as HTML: a caption for its title, numbers right-aligned.
func htmlTable(_ t: Table) -> String {
    func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }
    func cell(_ tag: String, _ text: String) -> String {
        let numeric = Double(text.replacingOccurrences(of: "%", with: "")) != nil
        return "<\(tag)\(numeric ? " style=\"text-align: right\"" : "")>\(escape(text))</\(tag)>"
    }
    var html = "<table>\n"
    if let title = t.title { html += "<caption>\(escape(title))</caption>\n" }
    html += "<thead><tr>" + t.columns.map { "<th>\(escape($0))</th>" }.joined() + "</tr></thead>\n<tbody>\n"
    for row in t.rows { html += "<tr>" + row.map { cell("td", $0) }.joined() + "</tr>\n" }
    return html + "</tbody>\n</table>"
}

func displayTensor(_ t: Variable) -> String {
    let value = t.value
    let scalars = value.scalars
    let shape = value.shape
    let grad = t.requiresGrad ? ", requires_grad" : ""
    let format = ElementFormat(scalars)
    if shape.isEmpty { return "tensor(\(format.text(scalars.first ?? .nan))\(grad))" }
    let width = scalars.prefix(2000).map(format.text).map(\.count).max() ?? 1
    func render(_ offset: Int, _ axis: Int, _ indent: String) -> String {
        let n = shape[axis]
        let stride = shape[(axis + 1)...].reduce(1, *)
        let edge = 3
        let indices: [Int?] =
            n > 2 * edge + 1 && value.count > 1000 ? Array(0..<edge) + [nil] + Array((n - edge)..<n) : Array(0..<n)
        if axis == shape.count - 1 {
            return "["
                + indices.map { i in
                    guard let i else { return "..." }
                    let s = format.text(scalars[offset + i])
                    return String(repeating: " ", count: Swift.max(0, width - s.count)) + s
                }.joined(separator: ", ") + "]"
        }
        let separator = ",\n" + String(repeating: "\n", count: shape.count - axis - 2) + indent + " "
        return "["
            + indices.map { i in i.map { render(offset + $0 * stride, axis + 1, indent + " ") } ?? "..." }
            .joined(separator: separator) + "]"
    }
    return "tensor(" + render(0, 0, "       ") + "\(grad))  \(formatShape(shape))"
}

/// How a tensor's elements print, chosen once per tensor as PyTorch does: whole numbers plainly,
/// else four decimals, or scientific notation when magnitudes are very large or small.
struct ElementFormat {
    enum Style { case integer, fixed, scientific }
    let style: Style

    init(_ values: [Float]) {
        let finite = values.filter(\.isFinite)
        if finite.allSatisfy({ $0 == $0.rounded() && Swift.abs($0) < 1e7 }) {
            style = .integer
        } else {
            let magnitudes = finite.map { Swift.abs($0) }.filter { $0 > 0 }
            let (lo, hi) = (magnitudes.min() ?? 1, magnitudes.max() ?? 1)
            style = hi >= 1e5 || lo < 1e-4 ? .scientific : .fixed
        }
    }

    func text(_ x: Float) -> String {
        if x.isNaN { return "nan" }
        if x.isInfinite { return x > 0 ? "inf" : "-inf" }
        switch style {
        case .integer: return String(Int64(x))
        case .fixed: return String(format: "%.\(PrintOptions.precision)f", Double(x))
        case .scientific: return String(format: "%.\(PrintOptions.precision)e", Double(x))
        }
    }
}

func displayHistory(_ h: History) -> String {
    var lines = ["history \(h.name): \(h.epochs.count) epochs"]
    for (name, values) in h.series {
        guard let last = values.last else { continue }
        lines.append("  \(name): \(formatNumber(values.first ?? .nan)) → \(formatNumber(last))")
    }
    if let stopped = h.stoppedAt { lines.append("  stopped \(stopped)") }
    return lines.joined(separator: "\n")
}

func displayTable(_ t: Table) -> String {
    var widths = t.columns.map(\.count)
    for row in t.rows {
        for (i, cell) in row.enumerated() where i < widths.count { widths[i] = Swift.max(widths[i], cell.count) }
    }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { i, c in
            let pad = String(repeating: " ", count: Swift.max(0, widths[i] - c.count))
            // Text left-aligned, numbers right-aligned.
            return Double(c.replacingOccurrences(of: "%", with: "")) != nil ? pad + c : c + pad
        }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
    }
    var out: [String] = []
    if let title = t.title { out.append(title) }
    out.append(line(t.columns))
    out.append(widths.map { String(repeating: "─", count: $0) }.joined(separator: "  "))
    out += t.rows.map(line)
    return out.joined(separator: "\n")
}
