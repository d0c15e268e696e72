import Foundation

extension Figure {
    /// The figure as text graphics `width` columns wide, as the REPL shows plots: braille lines, block bars,
    /// glyph scatters and shaded heatmaps, panels side by side where they fit.
    /// - Parameters:
    ///   - height: total lines of output; nil chooses it from the width and the figure's aspect.
    ///   - colour: series in their palette colours through 24-bit ANSI escapes; without it there are none.
    public func text(width: Int = 80, height: Int? = nil, colour: Bool = false) -> String {
        // The grid of cells is width × height: no terminal is wider or taller than `maximumTextSize`.
        let clamp = { (n: Int) in min(max(n, 1), Self.maximumTextSize) }
        if let diagram { return (title.map { $0 + "\n" } ?? "") + diagram.text(width: clamp(width)) }
        return TextRenderer(figure: self, width: clamp(width), height: height.map(clamp), colour: colour).render()
    }

    /// The most columns or lines a figure is drawn as text in.
    public static let maximumTextSize = 2000
}

/// One character of terminal output and its colours.
struct TextCell: Equatable {
    var character: Character = " "
    var foreground: Colour? = nil
    var background: Colour? = nil
}

/// A rectangle of text cells: panels are drawn into blocks and the layout sets blocks side by side.
struct TextBlock {
    let width: Int
    var lines: [[TextCell]] = []

    init(width: Int) { self.width = max(width, 0) }

    var height: Int { lines.count }

    /// Appends a blank line and returns its index.
    @discardableResult
    mutating func addLine() -> Int {
        lines.append(Array(repeating: TextCell(), count: width))
        return lines.count - 1
    }

    /// Writes `text` on `line` from `column`, dropping what falls outside the block.
    mutating func write(_ text: String, line: Int, column: Int, foreground: Colour? = nil, background: Colour? = nil) {
        write(text.map { TextCell(character: $0, foreground: foreground, background: background) }, line: line, column: column)
    }

    mutating func write(_ cells: [TextCell], line: Int, column: Int) {
        for (k, cell) in cells.enumerated() where column + k >= 0 && column + k < width { lines[line][column + k] = cell }
    }

    /// Appends a line holding `text` centred over `columns` (shifted or shortened to stay inside the block).
    mutating func addCentred(_ text: String, over columns: Range<Int>) {
        let line = addLine(), shown = fitted(text, width)
        let start = columns.lowerBound + (columns.count - shown.count) / 2
        write(shown, line: line, column: max(0, min(start, width - shown.count)))
    }
}

/// `text` shortened with an ellipsis to at most `width` characters.
func fitted(_ text: String, _ width: Int) -> String {
    text.count <= width ? text : width <= 0 ? "" : String(text.prefix(width - 1)) + "…"
}

/// One legend entry as cells: its symbol (in the series colour when `colour`), a space, its name.
/// With `markedLines`, a line's symbol carries the marker its series is drawn with (`─×─`).
func legendCells(_ entry: LegendEntry, boxFill: Character, colour: Bool, markedLines: Bool = false) -> [TextCell] {
    let symbol: String
    let marker = markedLines ? String(PanelText.glyph(entry.colour)) : ""
    switch entry.symbol {
    case .line: symbol = "─" + marker + "─"
    case .dashedLine: symbol = "╌" + marker + "╌"
    case .box: symbol = String(repeating: boxFill, count: 2)
    case .dot: symbol = String(PanelText.glyph(entry.colour))
    }
    let ink = colour ? Palette.series(entry.colour) : nil
    return symbol.map { TextCell(character: $0, foreground: ink) } + (" " + entry.label).map { TextCell(character: $0) }
}

/// Lays a figure's panels out in its grid (fewer columns when they would be too narrow) and joins their text.
struct TextRenderer {
    let figure: Figure
    let width: Int
    let height: Int?
    let colour: Bool
    static let gap = 2

    /// Without colour, lines of more than one series in the figure each carry their series' marker
    /// along them (as matplotlib's `markevery`), so a plot in a pipe or a file tells them apart.
    var markedLines: Bool {
        guard !colour else { return false }
        var colours = Set<Int>()
        for panel in figure.panels { for case .line(let l) in panel.marks { colours.insert(l.colour) } }
        return colours.count > 1
    }

    func render() -> String {
        var lines: [[TextCell]] = []
        let panels = figure.panels.map { PanelText(panel: $0, colour: colour, markedLines: markedLines) }
        let columns = fittingColumns(panels)
        let columnWidth = max(1, (width - Self.gap * (columns - 1)) / columns)
        let gridRows = (panels.count + columns - 1) / columns
        var drawn = panels.map {
            $0.draw(width: columnWidth, plotHeight: defaultPlotHeight(columnWidth, columns: columns), maxHeight: nil)
        }
        if let height, !panels.isEmpty {
            // Second pass: what the titles, axes and legends take is fixed; the plots share the rest.
            var fixed = (figure.title == nil ? 0 : 1) + gridRows - 1
            for row in 0..<gridRows {
                fixed +=
                    drawn[row * columns..<min(drawn.count, (row + 1) * columns)].map { $0.block.height - $0.plotRows }.max() ?? 0
            }
            let plotHeight = max(2, (height - fixed) / gridRows)
            drawn = panels.map { $0.draw(width: columnWidth, plotHeight: plotHeight, maxHeight: plotHeight) }
        }
        var columnWidths = Array(repeating: 0, count: columns)
        for (i, d) in drawn.enumerated() { columnWidths[i % columns] = max(columnWidths[i % columns], d.block.width) }
        let contentWidth = columnWidths.reduce(0, +) + Self.gap * (columns - 1)
        if let title = figure.title {
            var block = TextBlock(width: min(max(contentWidth, title.count), width))
            block.addCentred(title, over: 0..<min(contentWidth, block.width))
            lines += block.lines
        }
        for row in 0..<gridRows {
            if row > 0 { lines.append([]) }
            let blocks = drawn[row * columns..<min(drawn.count, (row + 1) * columns)].map(\.block)
            for l in 0..<(blocks.map(\.height).max() ?? 0) {
                var line: [TextCell] = []
                for (k, block) in blocks.enumerated() {
                    if k > 0 { line += Array(repeating: TextCell(), count: Self.gap) }
                    let cells = l < block.height ? block.lines[l] : []
                    line += cells + Array(repeating: TextCell(), count: max(0, columnWidths[k] - cells.count))
                }
                lines.append(line)
            }
        }
        if !figure.legend.isEmpty { lines += legendLines(contentWidth: min(max(contentWidth, 1), width)) }
        return lines.isEmpty ? "\n" : lines.map { serialise(Array($0.prefix(width))) + "\n" }.joined()
    }

    /// The figure's shared legend, entries three spaces apart, wrapped and centred under the grid.
    func legendLines(contentWidth: Int) -> [[TextCell]] {
        let items = figure.legend.map { legendCells($0, boxFill: "█", colour: colour, markedLines: markedLines) }
        var rows: [[TextCell]] = [[]]
        for item in items {
            if !rows[rows.count - 1].isEmpty && rows[rows.count - 1].count + 3 + item.count > contentWidth { rows.append([]) }
            if !rows[rows.count - 1].isEmpty { rows[rows.count - 1] += Array(repeating: TextCell(), count: 3) }
            rows[rows.count - 1] += item
        }
        return [[]] + rows.map { row in Array(repeating: TextCell(), count: max(0, (contentWidth - row.count) / 2)) + row }
    }

    /// The most grid columns, up to the figure's own, for which every panel gets its minimum width.
    func fittingColumns(_ panels: [PanelText]) -> Int {
        var columns = figure.columns
        while columns > 1 {
            var total = Self.gap * (columns - 1)
            for k in 0..<columns {
                total += stride(from: k, to: panels.count, by: columns).map { panels[$0].minimumWidth }.max() ?? 0
            }
            if total <= width { break }
            columns -= 1
        }
        return max(columns, 1)
    }

    /// Plot rows for a panel `columnWidth` wide in a grid `columns` wide, following the figure's aspect
    /// (a character cell is about twice as tall as it is wide).
    func defaultPlotHeight(_ columnWidth: Int, columns: Int) -> Int {
        let rows = (figure.panels.count + columns - 1) / columns
        let ratio = (figure.height / Double(max(rows, 1))) / (figure.width / Double(columns))
        let aspect = ratio.isFinite ? ratio : 0.5625
        let plotRows = Double(columnWidth) * min(max(aspect, 0.45), 0.75) * 0.45
        return min(max(Int(plotRows.rounded()), 4), 24)
    }

    /// One line of cells as text: trailing blanks dropped, colour runs wrapped in escapes when `colour`.
    func serialise(_ cells: [TextCell]) -> String {
        var end = cells.count
        while end > 0 && cells[end - 1].character == " " && (!colour || cells[end - 1].background == nil) { end -= 1 }
        var text = "", current: (Colour?, Colour?) = (nil, nil)
        for cell in cells[..<end] {
            // A blank shows no foreground, so it keeps whatever is current rather than starting a new run.
            let foreground = cell.character != " " ? cell.foreground : current.1 == cell.background ? current.0 : nil
            let wanted: (Colour?, Colour?) = colour ? (foreground, cell.background) : (nil, nil)
            if wanted != current {
                if current != (nil, nil) { text += "\u{1B}[0m" }
                if let foreground = wanted.0 { text += foreground.ansiForeground }
                if let background = wanted.1 { text += background.ansiBackground }
                current = wanted
            }
            text.append(cell.character)
        }
        if current != (nil, nil) { text += "\u{1B}[0m" }
        return text
    }
}

/// Draws one panel as a block of text: title, y label, framed plot with ticks, x tick labels and label, legend.
struct PanelText {
    let panel: Panel
    let colour: Bool
    let x: Scale
    let y: Scale

    /// Markers for point classes, distinguishable without colour.
    static let glyphs: [Character] = ["•", "×", "+", "o", "*", "#", "@", "%", "=", "~"]
    /// Fills for the second, third, … bar series when there is no colour to tell them apart.
    static let barFills: [Character] = ["█", "▓", "░", "▒"]
    static let eighths: [Character] = [" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"]
    static let shades: [Character] = [" ", "░", "▒", "▓", "█"]
    static let greyRamp: [Character] = [" ", ".", ":", "-", "=", "+", "*", "#", "%", "@"]
    /// Faint marks for decision regions without colour, one per class.
    static let regionMarks: [Character] = [" ", "·", ":", "░", "-", "'", "~", ",", "\"", "="]
    /// Panels narrower than this are stacked rather than set side by side.
    static let minimumChartWidth = 30

    /// Whether each line carries its series' marker (`TextRenderer.markedLines`).
    let markedLines: Bool
    /// Markers along each marked line.
    static let markersPerLine = 6

    init(panel: Panel, colour: Bool, markedLines: Bool = false) {
        self.panel = panel
        self.colour = colour
        self.markedLines = markedLines
        (x, y) = Scale.of(panel)
    }

    var framed: Bool { !panel.x.hidden || !panel.y.hidden }
    var leftMargin: Int { panel.y.hidden || y.tickLabels.isEmpty ? 0 : (y.tickLabels.map(\.count).max() ?? 0) + 1 }
    var plotLeft: Int { leftMargin + (framed ? 1 : 0) }

    /// The heatmap of a panel holding nothing else, which keeps its own cell grid rather than filling the panel.
    var soleHeatmap: Heatmap? {
        var found: Heatmap?
        for mark in panel.marks {
            guard case .heatmap(let h) = mark else { return nil }
            found = found ?? h
        }
        return found
    }

    /// Characters per heatmap cell: two keep images square; annotated cells fit their widest number and label.
    func cellWidth(_ h: Heatmap) -> Int {
        guard h.annotate else { return 2 }
        let text = h.values.map { Heatmap.annotation($0).count }.max() ?? 0
        let label = min((panel.x.categories ?? []).map(\.count).max() ?? 0, 7) + 1
        return max(text + 2, label, 3)
    }

    var minimumWidth: Int {
        guard let h = soleHeatmap else { return Self.minimumChartWidth }
        let natural = plotLeft + h.columns * cellWidth(h) + (framed ? 1 : 0)
        // Annotated numbers need their full width; images may shrink to thumbnails.
        return h.annotate ? natural : min(natural, 16)
    }

    /// Draws the panel at most `width` wide; charts get `plotHeight` rows, a sole heatmap its own size up to `maxHeight`.
    func draw(width: Int, plotHeight: Int, maxHeight: Int?) -> (block: TextBlock, plotRows: Int) {
        let available = max(1, width - plotLeft - (framed ? 1 : 0))
        var pw = available, ph = plotHeight, annotate = false
        if let h = soleHeatmap, h.rows > 0, h.columns > 0 {
            let cw = cellWidth(h)
            let natural = (width: h.columns * cw, height: h.rows)
            let scale = min(
                1, Double(available) / Double(natural.width), Double(maxHeight ?? natural.height) / Double(natural.height))
            pw = max(1, Int(Double(natural.width) * scale))
            ph = max(1, Int(Double(natural.height) * scale))
            annotate = h.annotate && scale == 1
        }
        let hasBars = panel.marks.contains { if case .bars = $0 { return true } else { return false } }
        if hasBars, let categories = panel.x.categories, panel.x.limits == nil, categories.count > 0, pw >= categories.count {
            // Every category the same whole number of columns, so equal bars come out equally wide.
            pw -= pw % categories.count
        }
        var plot = Array(repeating: Array(repeating: TextCell(), count: pw), count: ph)
        for case .heatmap(let h) in panel.marks { drawHeatmap(h, into: &plot, annotate: annotate) }
        let fills = drawBars(into: &plot)
        drawBraille(into: &plot)
        drawGlyphs(into: &plot)
        return (assemble(plot, width: width, barFills: fills), ph)
    }

    // MARK: Marks

    private func drawHeatmap(_ h: Heatmap, into plot: inout [[TextCell]], annotate: Bool) {
        let ph = plot.count, pw = plot.first?.count ?? 0
        let (x0, x1, y0, y1) = h.extent ?? (-0.5, Double(h.columns) - 0.5, -0.5, Double(h.rows) - 0.5)
        let range = h.valueRange
        // Heatmap cells under the data interval a…b, nil when it misses the grid.
        func cells(_ a: Double, _ b: Double, from origin: Double, to end: Double, count: Int) -> ClosedRange<Int>? {
            // Clamped before rounding to Int: an axis far wider than the grid must not overflow.
            let fa = min(max((a - origin) / (end - origin) * Double(count), -1), Double(count) + 1)
            let fb = min(max((b - origin) / (end - origin) * Double(count), -1), Double(count) + 1)
            guard fa.isFinite, fb.isFinite else { return nil }
            let low = Int(floor(min(fa, fb) + 1e-9)), high = max(Int(ceil(max(fa, fb) - 1e-9)) - 1, low)
            return max(low, 0) <= min(high, count - 1) ? max(low, 0)...min(high, count - 1) : nil
        }
        let rowCells = (0..<ph).map { r in
            cells(
                y.value(atFraction: 1 - Double(r) / Double(ph)), y.value(atFraction: 1 - Double(r + 1) / Double(ph)), from: y0,
                to: y1, count: h.rows)
        }
        let columnCells = (0..<pw).map { c in
            cells(
                x.value(atFraction: Double(c) / Double(pw)), x.value(atFraction: Double(c + 1) / Double(pw)), from: x0, to: x1,
                count: h.columns)
        }
        for r in 0..<ph {
            guard let rows = rowCells[r] else { continue }
            for c in 0..<pw {
                guard let columns = columnCells[c] else { continue }
                if annotate {
                    let v = h[rows.lowerBound, columns.lowerBound]
                    let background =
                        colour ? Palette.colour(v, in: range, map: h.colourMap == .classes ? .sequential : h.colourMap) : nil
                    plot[r][c] = TextCell(character: " ", foreground: nil, background: background)
                } else if h.colourMap == .classes {
                    plot[r][c] = shade(
                        h[(rows.lowerBound + rows.upperBound) / 2, (columns.lowerBound + columns.upperBound) / 2], h, range)
                } else {
                    // Shrunken images average the cells each character covers.
                    let values = rows.flatMap { i in columns.map { j in h[i, j] } }.filter(\.isFinite)
                    plot[r][c] = shade(values.isEmpty ? .nan : values.reduce(0, +) / Double(values.count), h, range)
                }
            }
        }
        guard annotate else { return }
        // Each number right-aligned in its cell, one space from the cell's right edge, on the cell's middle row.
        for i in 0..<h.rows {
            let rs = (0..<ph).filter { rowCells[$0]?.contains(i) == true }
            guard let r = rs.isEmpty ? nil : rs[rs.count / 2] else { continue }
            for j in 0..<h.columns {
                let cs = (0..<pw).filter { columnCells[$0]?.contains(j) == true }
                guard let last = cs.last else { continue }
                let text = Heatmap.annotation(h[i, j])
                let background = plot[r][last].background
                let ink = background.map { $0.luminance > 0.5 ? Colour(0, 0, 0) : Colour(1, 1, 1) }
                let start = max(cs[0], last - text.count)
                for (k, ch) in text.prefix(last - start).enumerated() {
                    plot[r][start + k] = TextCell(character: ch, foreground: ink, background: background)
                }
            }
        }
    }

    private func shade(_ v: Double, _ h: Heatmap, _ range: (Double, Double)) -> TextCell {
        guard v.isFinite else { return TextCell() }
        let t = min(1, max(0, (v - range.0) / (range.1 - range.0)))
        switch h.colourMap {
        case .grey:
            return TextCell(character: Self.greyRamp[wholeNumber(t * 10, in: 0...9)])
        case .sequential:
            return TextCell(
                character: Self.shades[wholeNumber(t * 5, in: 0...4)],
                foreground: colour ? Palette.colour(v, in: range, map: .sequential) : nil)
        case .classes:
            let k = wholeNumber(v.rounded(), in: Int.min...Int.max)
            if colour { return TextCell(character: "·", foreground: Palette.colour(v, in: range, map: .classes)) }
            return TextCell(character: Self.regionMarks[((k % 10) + 10) % 10])
        }
    }

    /// Draws the bar series and returns the fill each series' palette colour got, for the legend.
    private func drawBars(into plot: inout [[TextCell]]) -> [Int: Character] {
        let ph = plot.count, pw = plot.first?.count ?? 0
        var fills: [Int: Character] = [:]
        var series = 0
        // NaN when the axis itself is not finite (limits from values that were all NaN): no bar is drawn then.
        let baseline = wholeNumber(((y.log ? 0 : y.fraction(0)) * Double(ph * 8)).rounded(), in: 0...ph * 8)
        for case .bars(let b) in panel.marks {
            let fill = colour ? "█" : Self.barFills[series % Self.barFills.count]
            // Eighth blocks are solid, so only the solid series can use them when nothing else tells series apart.
            let partial = colour || fill == "█"
            let ink = colour ? Palette.series(b.colour) : nil
            fills[b.colour] = fill
            series += 1
            for (xv, hv) in zip(b.x, b.heights) where xv.isFinite && hv.isFinite {
                let edges = [xv - b.width / 2, xv + b.width / 2].map { min(max(x.fraction($0), -1), 2) * Double(pw) }
                let (fa, fb) = (edges[0], edges[1])
                let top = y.fraction(hv)
                guard fa.isFinite, fb.isFinite, top.isFinite else { continue }
                // Edges round on their own so neighbouring bars touch; categories get whole columns each (see `draw`).
                var c0 = Int(min(fa, fb).rounded()), c1 = Int(max(fa, fb).rounded())
                if c1 <= c0 { (c0, c1) = (Int((fa + fb) / 2), Int((fa + fb) / 2) + 1) }
                let first = max(c0, 0), last = min(c1, pw)
                guard first < last else { continue }
                var topE = Int((min(max(top, 0), 1) * Double(ph * 8)).rounded())
                if hv != 0 && topE == baseline { topE += topE < ph * 8 ? 1 : -1 }
                for rb in 0..<ph {
                    let low = rb * 8
                    let character: Character?
                    if topE >= baseline {
                        let amount = min(topE, low + 8) - max(baseline, low)
                        guard amount > 0 else { continue }
                        character = amount >= 8 ? fill : partial ? Self.eighths[amount] : amount >= 4 ? fill : nil
                    } else {
                        let amount = min(baseline, low + 8) - max(topE, low)
                        guard amount > 0 else { continue }
                        character = amount >= 6 ? fill : amount >= 3 ? (partial ? "▀" : fill) : nil
                    }
                    guard let character else { continue }
                    for c in first..<last {
                        plot[ph - 1 - rb][c] = TextCell(
                            character: character, foreground: ink, background: plot[ph - 1 - rb][c].background)
                    }
                }
            }
        }
        return fills
    }

    /// Points are drawn as class glyphs when there are classes to tell apart, otherwise as braille dots.
    private func usesGlyphs(_ p: Points) -> Bool { !p.classNames.isEmpty || Set(p.classes).count > 1 }

    private func drawBraille(into plot: inout [[TextCell]]) {
        let ph = plot.count, pw = plot.first?.count ?? 0
        var grid = BrailleGrid(columns: pw, rows: ph)
        func dot(_ a: Double, _ b: Double) -> (Double, Double)? {
            let fx = x.fraction(a), fy = y.fraction(b)
            guard a.isFinite, b.isFinite, fx.isFinite, fy.isFinite else { return nil }
            return (fx * Double(grid.dotWidth), (1 - fy) * Double(grid.dotHeight))
        }
        for mark in panel.marks {
            switch mark {
            case .line(let l):
                let ink = colour ? Palette.series(l.colour) : nil
                var previous: (Double, Double)?, run = 0, dash = 0
                for (a, b) in zip(l.x, l.y) {
                    guard let p = dot(a, b) else {
                        // A point alone between breaks still shows.
                        if run == 1, let q = previous { grid.plot(q.0, q.1, colour: ink) }
                        (previous, run) = (nil, 0)
                        continue
                    }
                    if let q = previous { grid.segment(from: q, to: p, colour: ink, dashed: l.dashed, dashCounter: &dash) }
                    (previous, run) = (p, run + 1)
                }
                if run == 1, let q = previous { grid.plot(q.0, q.1, colour: ink) }
            case .points(let p) where !usesGlyphs(p):
                for (i, (a, b)) in zip(p.x, p.y).enumerated() {
                    guard let d = dot(a, b) else { continue }
                    grid.plot(d.0, d.1, colour: colour ? Palette.series(i < p.classes.count ? p.classes[i] : 0) : nil)
                }
            default: break
            }
        }
        for r in 0..<ph {
            for c in 0..<pw {
                guard let (character, ink) = grid.cell(column: c, row: r) else { continue }
                plot[r][c] = TextCell(character: character, foreground: ink, background: plot[r][c].background)
            }
        }
    }

    private func drawGlyphs(into plot: inout [[TextCell]]) {
        let ph = plot.count, pw = plot.first?.count ?? 0
        func put(_ k: Int, _ a: Double, _ b: Double) {
            let fx = x.fraction(a), fy = y.fraction(b)
            guard fx.isFinite, fy.isFinite, (-1e-9...1 + 1e-9).contains(fx), (-1e-9...1 + 1e-9).contains(fy) else { return }
            let r = min(max(Int((1 - fy) * Double(ph)), 0), ph - 1), c = min(max(Int(fx * Double(pw)), 0), pw - 1)
            plot[r][c] = TextCell(
                character: glyph(k), foreground: colour ? Palette.series(k) : nil, background: plot[r][c].background)
        }
        for case .points(let p) in panel.marks where usesGlyphs(p) {
            for (i, (a, b)) in zip(p.x, p.y).enumerated() { put(i < p.classes.count ? p.classes[i] : 0, a, b) }
        }
        guard markedLines else { return }
        for case .line(let l) in panel.marks {
            // Evenly along the series, each series a little further on, so markers of lines that
            // run together do not land on one another.
            let shown = zip(l.x, l.y).filter { x.fraction($0.0).isFinite && y.fraction($0.1).isFinite }
            guard !shown.isEmpty else { continue }
            let count = Swift.min(Self.markersPerLine, shown.count)
            let shift = Double(((l.colour % 3) + 3) % 3 + 1) / 4
            for k in 0..<count {
                let i = Swift.min(shown.count - 1, Int((Double(k) + shift) * Double(shown.count) / Double(count)))
                put(l.colour, shown[i].0, shown[i].1)
            }
        }
    }

    func glyph(_ k: Int) -> Character { Self.glyph(k) }
    static func glyph(_ k: Int) -> Character { glyphs[((k % glyphs.count) + glyphs.count) % glyphs.count] }

    // MARK: Frame, ticks, labels and legend

    private func assemble(_ plot: [[TextCell]], width: Int, barFills: [Int: Character]) -> TextBlock {
        let ph = plot.count, pw = plot.first?.count ?? 0
        let frameWidth = plotLeft + pw + (framed ? 1 : 0)
        let items = legendItems(barFills)
        let widestItem = items.map(\.count).max() ?? 0
        // The legend goes right of the plot when there is room beside it (small heatmaps), otherwise under it.
        let legendRight = !items.isEmpty && frameWidth + 3 + widestItem <= width && items.count <= ph
        var blockWidth = max(frameWidth, min(panel.title?.count ?? 0, width))
        if legendRight { blockWidth = frameWidth + 3 + widestItem }
        var block = TextBlock(width: min(blockWidth, width))
        let plotColumns = plotLeft..<plotLeft + pw

        if let title = panel.title { block.addCentred(title, over: plotColumns) }
        if !panel.y.hidden, let label = panel.y.label {
            block.write(fitted(label, block.width), line: block.addLine(), column: 0)
        }
        var yTicks: [Int: String] = [:]
        if !panel.y.hidden {
            for (t, label) in zip(y.ticks, y.tickLabels) {
                let f = y.fraction(t)
                guard f.isFinite, f >= -1e-9, f <= 1 + 1e-9 else { continue }
                let r = min(max(Int((1 - f) * Double(ph)), 0), ph - 1)
                if yTicks[r] == nil { yTicks[r] = label }
            }
        }
        let (xLabels, xTickColumns) = xTickLine(plotColumns: plotColumns, width: block.width)
        let top = block.height + (framed ? 1 : 0)
        if framed { block.write("┌" + String(repeating: "─", count: pw) + "┐", line: block.addLine(), column: plotLeft - 1) }
        for r in 0..<ph {
            let line = block.addLine()
            if let label = yTicks[r] { block.write(label, line: line, column: leftMargin - 1 - label.count) }
            if framed {
                block.write(yTicks[r] == nil ? "│" : "┤", line: line, column: plotLeft - 1)
                block.write("│", line: line, column: plotLeft + pw)
            }
            block.write(plot[r], line: line, column: plotLeft)
        }
        if framed {
            let line = block.addLine()
            block.write("└" + String(repeating: "─", count: pw) + "┘", line: line, column: plotLeft - 1)
            for c in xTickColumns { block.write("┬", line: line, column: c) }
        }
        if !xLabels.isEmpty { block.write(xLabels, line: block.addLine(), column: 0) }
        if !panel.x.hidden, let label = panel.x.label { block.addCentred(label, over: plotColumns) }

        if legendRight {
            for (k, item) in items.enumerated() { block.write(item, line: top + k, column: frameWidth + 3) }
        } else if !items.isEmpty {
            // Entries flow left to right, three spaces apart, wrapping at the block's width.
            let indent = plotLeft + widestItem <= block.width ? plotLeft : 0
            var column = indent, line = block.addLine()
            for item in items {
                if column > indent && column + 3 + item.count > block.width {
                    (column, line) = (indent, block.addLine())
                }
                if column > indent { column += 3 }
                block.write(item, line: line, column: column)
                column += item.count
            }
        }
        return block
    }

    /// The x tick labels as a line of cells, each centred under its tick and skipped when it would touch the one before,
    /// and the block columns of the ticks that got a label.
    private func xTickLine(plotColumns: Range<Int>, width: Int) -> (labels: [TextCell], columns: [Int]) {
        guard !panel.x.hidden, !plotColumns.isEmpty else { return ([], []) }
        var cells = Array(repeating: TextCell(), count: width), columns: [Int] = [], end = -1
        for (t, label) in zip(x.ticks, x.tickLabels) {
            let f = x.fraction(t)
            guard f.isFinite, f >= -1e-9, f <= 1 + 1e-9, label.count <= width else { continue }
            let column = plotColumns.lowerBound + min(max(Int(f * Double(plotColumns.count)), 0), plotColumns.count - 1)
            let start = max(0, min(column - (label.count - 1) / 2, width - label.count))
            guard start > end else { continue }
            for (k, ch) in label.enumerated() { cells[start + k] = TextCell(character: ch) }
            columns.append(column)
            end = start + label.count
        }
        return (columns.isEmpty ? [] : cells, columns)
    }

    /// Each legend entry as cells: its symbol in the series colour, a space, its name. Sequential heatmaps add a shade key.
    private func legendItems(_ barFills: [Int: Character]) -> [[TextCell]] {
        var items: [[TextCell]] = panel.legendEntries.map {
            legendCells($0, boxFill: barFills[$0.colour] ?? "█", colour: colour, markedLines: markedLines)
        }
        for case .heatmap(let h) in panel.marks where h.colourMap == .sequential && !h.annotate && panel.legend {
            let range = h.valueRange, ends = Ticks.labels([range.0, range.1])
            var key = (ends[0] + " ").map { TextCell(character: $0) }
            for (k, ch) in Self.shades.dropFirst().enumerated() {
                let v = range.0 + (range.1 - range.0) * (Double(k) + 1.5) / Double(Self.shades.count)
                key.append(TextCell(character: ch, foreground: colour ? Palette.colour(v, in: range, map: .sequential) : nil))
            }
            items.append(key + (" " + ends[1]).map { TextCell(character: $0) })
        }
        return items
    }
}
