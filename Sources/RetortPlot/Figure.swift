/// A plot description: data, marks, axes, scales, legend and titles, independent of how it is drawn.
/// The same figure renders to SVG, PNG and PDF through cairo and to text for a terminal.
public struct Figure: Sendable {
    public var title: String?
    public var panels: [Panel]
    /// Panels per row; rows follow from the panel count.
    public var columns: Int
    /// Size in CSS pixels (PNG renders at a multiple of it).
    public var width: Double
    public var height: Double
    /// Entries shared by every panel (the runs of a history plot), drawn once under the grid.
    public var legend: [LegendEntry] = []
    /// Boxes and arrows drawn instead of panels (a model's graph), or nil.
    public var diagram: Diagram?

    public init(title: String? = nil, panels: [Panel], columns: Int? = nil, width: Double = 640, height: Double = 360) {
        self.title = title
        self.panels = panels
        self.columns = max(1, min(columns ?? panels.count, max(panels.count, 1)))
        self.width = width
        self.height = height
    }

    public var rows: Int { (panels.count + columns - 1) / max(columns, 1) }

    /// A one-line summary, the `text/plain` of a notebook display.
    public var summary: String {
        if let diagram { return "<plot \(title.map { "\"\($0)\": " } ?? "")diagram of \(diagram.nodes.count) nodes>" }
        let kinds = Set(panels.flatMap { $0.marks.map(\.kind) }).sorted().joined(separator: ", ")
        let what = title.map { "\"\($0)\": " } ?? ""
        let count = panels.count == 1 ? "1 panel" : "\(panels.count) panels"
        return "<plot \(what)\(count) of \(kinds.isEmpty ? "nothing" : kinds)>"
    }
}

/// One set of axes and what is drawn on them.
public struct Panel: Sendable {
    public var title: String?
    public var x: Axis
    public var y: Axis
    public var marks: [Mark]
    public var legend: Bool

    public init(title: String? = nil, x: Axis = Axis(), y: Axis = Axis(), marks: [Mark], legend: Bool = true) {
        self.title = title
        self.x = x
        self.y = y
        self.marks = marks
        self.legend = legend
    }

    /// Legend entries in drawing order: one per labelled line or bar series, one per named point class.
    public var legendEntries: [LegendEntry] {
        guard legend else { return [] }
        var entries: [LegendEntry] = []
        for mark in marks {
            switch mark {
            case .line(let l):
                if let label = l.label {
                    entries.append(LegendEntry(label: label, colour: l.colour, symbol: l.dashed ? .dashedLine : .line))
                }
            case .bars(let b):
                if let label = b.label { entries.append(LegendEntry(label: label, colour: b.colour, symbol: .box)) }
            case .points(let p):
                // Only the classes some point has: classes [0, 1, 7] are three entries, not eight.
                let present = Set(p.classes)
                for (i, name) in p.classNames.enumerated() where present.contains(i) {
                    entries.append(LegendEntry(label: name, colour: i, symbol: .dot))
                }
            case .heatmap: break
            }
        }
        return entries
    }
}

public struct LegendEntry: Sendable, Equatable {
    public enum Symbol: Sendable { case line, dashedLine, box, dot }
    public var label: String
    /// Index into the palette.
    public var colour: Int
    public var symbol: Symbol

    public init(label: String, colour: Int, symbol: Symbol) {
        self.label = label
        self.colour = colour
        self.symbol = symbol
    }
}

public struct Axis: Sendable {
    public enum Scale: Sendable { case linear, log }
    public var label: String?
    public var scale: Scale
    /// Fixed limits; nil means fitted to the data and widened to nice numbers.
    public var limits: (Double, Double)?
    /// Names for the whole-number positions 0, 1, 2, …, for bar categories and matrix rows or columns.
    public var categories: [String]?
    /// Runs from high to low (matrix rows read top to bottom).
    public var inverted: Bool
    /// Neither line, ticks nor labels (images).
    public var hidden: Bool
    /// Ticks only at whole numbers (epochs, indices): no 1.5th epoch.
    public var wholeNumbers: Bool

    public init(
        label: String? = nil, scale: Scale = .linear, limits: (Double, Double)? = nil, categories: [String]? = nil,
        inverted: Bool = false, hidden: Bool = false, wholeNumbers: Bool = false
    ) {
        self.label = label
        self.scale = scale
        self.limits = limits
        self.categories = categories
        self.inverted = inverted
        self.hidden = hidden
        self.wholeNumbers = wholeNumbers
    }
}

/// Something drawn in data coordinates.
public enum Mark: Sendable {
    case line(Line)
    case bars(Bars)
    case points(Points)
    case heatmap(Heatmap)

    public var kind: String {
        switch self {
        case .line: return "lines"
        case .bars: return "bars"
        case .points: return "points"
        case .heatmap(let h): return h.colourMap == .grey ? "images" : "heatmap"
        }
    }
}

/// A polyline; a NaN in `y` breaks it.
public struct Line: Sendable {
    public var label: String?
    public var x: [Double]
    public var y: [Double]
    /// Index into the palette.
    public var colour: Int
    public var dashed: Bool

    public init(label: String? = nil, x: [Double], y: [Double], colour: Int, dashed: Bool = false) {
        self.label = label
        self.x = x
        self.y = y
        self.colour = colour
        self.dashed = dashed
    }
}

/// Vertical bars centred at `x`, rising from zero (categories sit at 0, 1, 2, …; histogram bins at their centres).
public struct Bars: Sendable {
    public var label: String?
    public var x: [Double]
    public var heights: [Double]
    public var width: Double
    public var colour: Int

    public init(label: String? = nil, x: [Double], heights: [Double], width: Double, colour: Int) {
        self.label = label
        self.x = x
        self.heights = heights
        self.width = width
        self.colour = colour
    }
}

/// A scatter of points, each coloured by its class.
public struct Points: Sendable {
    public var x: [Double]
    public var y: [Double]
    /// Palette index of each point.
    public var classes: [Int]
    /// Legend names for classes 0, 1, …; empty for no legend. The legend lists the classes some point has.
    public var classNames: [String]

    public init(x: [Double], y: [Double], classes: [Int], classNames: [String] = []) {
        self.x = x
        self.y = y
        self.classes = classes
        self.classNames = classNames
    }
}

/// A grid of values drawn as coloured cells: a matrix, an image, or a model's decision regions.
public struct Heatmap: Sendable {
    public enum ColourMap: Sendable, Equatable {
        /// Light to dark blue, for counts and probabilities.
        case sequential
        /// Black to white, for images.
        case grey
        /// Values are class indices, drawn in light palette colours (decision regions).
        case classes
    }
    public var rows: Int
    public var columns: Int
    /// Row-major, `rows × columns`.
    public var values: [Double]
    public var colourMap: ColourMap
    /// The value range the colours span; nil means the data's own.
    public var range: (Double, Double)?
    /// Data rectangle (x0, x1, y0, y1) the grid covers; nil means one unit per cell centred on whole numbers.
    /// Row 0 lies at y0: at the bottom, unless the y axis is inverted.
    public var extent: (Double, Double, Double, Double)?
    /// Writes each cell's value in it (confusion counts).
    public var annotate: Bool

    public init(
        rows: Int, columns: Int, values: [Double], colourMap: ColourMap = .sequential, range: (Double, Double)? = nil,
        extent: (Double, Double, Double, Double)? = nil, annotate: Bool = false
    ) {
        self.rows = rows
        self.columns = columns
        self.values = values
        self.colourMap = colourMap
        self.range = range
        self.extent = extent
        self.annotate = annotate
    }

    public subscript(row: Int, column: Int) -> Double { values[row * columns + column] }

    /// The low and high ends of the colour scale.
    public var valueRange: (Double, Double) {
        if let range { return range }
        let finite = values.filter(\.isFinite)
        guard let lo = finite.min(), let hi = finite.max() else { return (0, 1) }
        return lo == hi ? (lo, lo + 1) : (lo, hi)
    }
}

extension Figure {
    /// How many plotted values are NaN or infinite: renderers skip them, and the title says so.
    public var nonFiniteCount: Int {
        panels.reduce(0) { total, panel in
            total
                + panel.marks.reduce(0) { count, mark in
                    switch mark {
                    case .line(let l): return count + zip(l.x, l.y).filter { !$0.isFinite || !$1.isFinite }.count
                    case .bars(let b): return count + b.heights.filter { !$0.isFinite }.count
                    case .points(let p): return count + zip(p.x, p.y).filter { !$0.isFinite || !$1.isFinite }.count
                    case .heatmap(let h): return count + h.values.filter { !$0.isFinite }.count
                    }
                }
        }
    }

    /// How many finite points of lines and scatters lie at 0 or below on a log axis: not drawn.
    public var nonPositiveOnLogCount: Int {
        panels.reduce(0) { total, panel in
            let logX = panel.x.scale == .log, logY = panel.y.scale == .log
            guard logX || logY else { return total }
            func off(_ a: Double, _ b: Double) -> Bool {
                a.isFinite && b.isFinite && ((logX && a <= 0) || (logY && b <= 0))
            }
            return total
                + panel.marks.reduce(0) { count, mark in
                    switch mark {
                    case .line(let l): return count + zip(l.x, l.y).filter(off).count
                    case .points(let p): return count + zip(p.x, p.y).filter(off).count
                    case .bars, .heatmap: return count
                    }
                }
        }
    }

    /// The figure with its title saying how many values were not drawn, when some are NaN or
    /// infinite, or at 0 or below on a log axis (matplotlib drops those without a word).
    public func notingSkipped(extra: Int = 0) -> Figure {
        let skipped = nonFiniteCount + extra
        let offLog = nonPositiveOnLogCount
        guard skipped > 0 || offLog > 0 else { return self }
        var figure = self
        let note =
            [
                skipped > 0 ? "\(skipped) value\(skipped == 1 ? "" : "s") NaN or infinite" : nil,
                offLog > 0 ? "\(offLog)\(skipped > 0 ? "" : " value\(offLog == 1 ? "" : "s")") at 0 or below on a log axis" : nil,
            ].compactMap { $0 }.joined(separator: ", ") + ", not drawn"
        if let title = figure.title {
            figure.title = "\(title) (\(note))"
        } else if panels.count == 1 {
            figure.panels[0].title = figure.panels[0].title.map { "\($0) (\(note))" } ?? note
        } else {
            figure.title = note
        }
        return figure
    }
}

extension Heatmap {
    /// A cell's annotation, the same in the terminal and the PNG: a whole number as it is, another
    /// to two decimals, one under 0.005 to two significant digits (0.001 read "0.00", as a zero),
    /// NaN and the infinities as the language prints them (`nan`, `inf`, `-inf`).
    static func annotation(_ value: Double) -> String {
        if value.isNaN { return "nan" }
        if value.isInfinite { return value > 0 ? "inf" : "-inf" }
        if value == value.rounded() && abs(value) < 1e15 { return String(Int(value)) }
        return abs(value) < 0.005 ? String(format: "%.2g", value) : String(format: "%.2f", value)
    }
}
