import Foundation

/// Lays a figure out and draws it on a canvas: the one drawing routine behind SVG, PNG and PDF.
struct FigureRenderer {
    let figure: Figure
    let canvas: Canvas

    static let tickSize = 10.5
    static let labelSize = 11.5
    static let titleSize = 12.5
    static let figureTitleSize = 14.5

    func draw() {
        canvas.fill(Rect(x: 0, y: 0, width: figure.width, height: figure.height), Palette.background, alpha: 1)
        var top = 0.0
        if let title = figure.title {
            canvas.text(
                fitted(title, within: figure.width - 16, size: Self.figureTitleSize, bold: true), x: figure.width / 2, y: 20,
                size: Self.figureTitleSize, bold: true, Palette.ink, anchor: .middle, vertical: false)
            top = 28
        }
        if let diagram = figure.diagram {
            draw(diagram, top: top)
            return
        }
        let columns = figure.columns, rows = figure.rows
        let bottom = figure.legend.isEmpty ? 0.0 : 24
        let cellWidth = figure.width / Double(columns)
        let cellHeight = (figure.height - top - bottom) / Double(max(rows, 1))
        for (i, panel) in figure.panels.enumerated() {
            let cell = Rect(
                x: Double(i % columns) * cellWidth, y: top + Double(i / columns) * cellHeight, width: cellWidth,
                height: cellHeight)
            draw(panel, in: cell)
        }
        if !figure.legend.isEmpty { sharedLegend(y: figure.height - 12) }
    }

    /// `text` as it fits in `width`, cut with an ellipsis where it would not (as the terminal's
    /// rendering cuts it): a long title or label ran off the figure's edges.
    private func fitted(_ text: String, within width: Double, size: Double, bold: Bool) -> String {
        guard canvas.textWidth(text, size: size, bold: bold) > width else { return text }
        var kept = Substring(text)
        while !kept.isEmpty && canvas.textWidth(kept + "…", size: size, bold: bold) > width { kept = kept.dropLast() }
        return kept + "…"
    }

    /// The figure's shared legend in one centred row along the bottom.
    private func sharedLegend(y: Double) {
        let swatch = 18.0, gap = 16.0, pad = 5.0
        let widths = figure.legend.map { swatch + pad + canvas.textWidth($0.label, size: Self.tickSize, bold: false) }
        var x = (figure.width - widths.reduce(0, +) - gap * Double(widths.count - 1)) / 2
        for (entry, width) in zip(figure.legend, widths) {
            swatchFor(entry, x: x, y: y, swatch: swatch)
            canvas.text(
                entry.label, x: x + swatch + pad, y: y + Self.tickSize * 0.35, size: Self.tickSize, bold: false, Palette.ink,
                anchor: .start, vertical: false)
            x += width + gap
        }
    }

    private func swatchFor(_ entry: LegendEntry, x: Double, y: Double, swatch: Double) {
        let colour = Palette.series(entry.colour)
        switch entry.symbol {
        case .line, .dashedLine:
            canvas.polyline([(x, y), (x + swatch, y)], colour, width: 1.8, dashed: entry.symbol == .dashedLine)
        case .box:
            canvas.fill(Rect(x: x + 4, y: y - 5, width: swatch - 8, height: 10), colour, alpha: 0.9)
        case .dot:
            canvas.circle(x: x + swatch / 2, y: y, radius: 3.5, colour, alpha: 1)
        }
    }

    // MARK: - One panel

    private func draw(_ panel: Panel, in cell: Rect) {
        let (area, xs, ys, upright) = layout(panel, in: cell)
        if let title = panel.title {
            canvas.text(
                fitted(title, within: cell.width - 8, size: Self.titleSize, bold: true), x: area.x + area.width / 2,
                y: area.y - 6, size: Self.titleSize, bold: true, Palette.ink, anchor: .middle, vertical: false)
        }
        let isMatrix = panel.marks.contains { if case .heatmap = $0 { return true } else { return false } }
        if !isMatrix { gridLines(xs, ys, area, panel) }
        let map = Mapping(x: xs, y: ys, area: area)
        canvas.clip(area)
        for mark in panel.marks { draw(mark, map) }
        canvas.unclip()
        axes(panel, xs, ys, area, framed: isMatrix, upright: upright)
        legend(panel, map)
    }

    /// The rectangle inside `cell` left for data once titles, tick labels and axis labels have their
    /// room; the scales as drawn: every category named where there is a line's room for each (a
    /// confusion matrix of 27 classes, whose scale names every third, as the terminal must); and the
    /// room below the plot for x tick labels turned upright, when they would overlap side by side,
    /// as matplotlib's rotation=90 (nil when they stay level).
    private func layout(_ panel: Panel, in cell: Rect) -> (area: Rect, xs: Scale, ys: Scale, upright: Double?) {
        var (xs, ys) = Scale.of(panel)
        var area = plotArea(panel, xs, ys, in: cell, upright: nil)
        if !panel.y.hidden, let names = panel.y.categories, ys.ticks.count < names.count,
            area.height / Double(names.count) >= Self.tickSize * 1.5
        {
            ys = Self.naming(ys, every: names)
            area = plotArea(panel, xs, ys, in: cell, upright: nil)
        }
        guard !panel.x.hidden else { return (area, xs, ys, nil) }
        let thinned = xs
        if let names = panel.x.categories, xs.ticks.count < names.count, area.width / Double(names.count) >= Self.tickSize * 1.5 {
            xs = Self.naming(xs, every: names)
        }
        guard xLabelsOverlap(xs, width: area.width) else { return (area, xs, ys, nil) }
        var room = uprightLabelsHeight(xs, in: cell)
        var upright = plotArea(panel, xs, ys, in: cell, upright: room)
        // The room the upright names take narrows a square matrix: every name only while each
        // still has a line's width, else the scale's own, fewer.
        if xs.ticks.count > thinned.ticks.count, upright.width / Double(xs.ticks.count) < Self.tickSize * 1.2 {
            xs = thinned
            guard xLabelsOverlap(xs, width: area.width) else { return (area, xs, ys, nil) }
            room = uprightLabelsHeight(xs, in: cell)
            upright = plotArea(panel, xs, ys, in: cell, upright: room)
        }
        return (upright, xs, ys, room)
    }

    /// `scale` with a tick and a label for each of `names`.
    private static func naming(_ scale: Scale, every names: [String]) -> Scale {
        var named = scale
        named.ticks = names.indices.map(Double.init)
        named.tickLabels = names
        return named
    }

    /// Whether two neighbouring x tick labels, side by side, would run into each other.
    private func xLabelsOverlap(_ xs: Scale, width: Double) -> Bool {
        let places = xs.ticks.map { xs.fraction($0) * width }
        let widths = xs.tickLabels.map { canvas.textWidth($0, size: Self.tickSize, bold: false) }
        for i in places.indices.dropFirst() where i < widths.count {
            if Swift.abs(places[i] - places[i - 1]) < (widths[i] + widths[i - 1]) / 2 + 4 { return true }
        }
        return false
    }

    /// The room upright x tick labels take below the axis: the longest, at most a third of the cell.
    private func uprightLabelsHeight(_ xs: Scale, in cell: Rect) -> Double {
        let longest = xs.tickLabels.map { canvas.textWidth($0, size: Self.tickSize, bold: false) }.max() ?? 0
        return Swift.min(longest, cell.height / 3)
    }

    private func plotArea(_ panel: Panel, _ xs: Scale, _ ys: Scale, in cell: Rect, upright: Double?) -> Rect {
        var left = 8.0, right = 12.0, top = 8.0, bottom = 6.0
        if panel.title != nil { top += 18 }
        if !panel.y.hidden {
            let widest = ys.tickLabels.map { canvas.textWidth($0, size: Self.tickSize, bold: false) }.max() ?? 0
            left += widest + 8 + (panel.y.label == nil ? 0 : Self.labelSize + 6)
        }
        if !panel.x.hidden {
            bottom += (upright ?? Self.tickSize) + 8 + (panel.x.label == nil ? 0 : Self.labelSize + 8)
        }
        var area = Rect(
            x: cell.x + left, y: cell.y + top, width: max(cell.width - left - right, 10),
            height: max(cell.height - top - bottom, 10))
        // Matrices and images keep square cells.
        if let heatmap = panel.marks.lazy.compactMap({
            if case .heatmap(let h) = $0, h.extent == nil { return h } else { return nil }
        }).first {
            let aspect = Double(heatmap.rows) / Double(max(heatmap.columns, 1))
            if area.height / area.width > aspect {
                let height = area.width * aspect
                area.y += (area.height - height) / 2
                area.height = height
            } else {
                let width = area.height / aspect
                area.x += (area.width - width) / 2
                area.width = width
            }
        }
        return area
    }

    private func gridLines(_ xs: Scale, _ ys: Scale, _ area: Rect, _ panel: Panel) {
        if !panel.y.hidden {
            for t in ys.ticks {
                let y = area.maxY - ys.fraction(t) * area.height
                canvas.polyline([(area.x, y), (area.maxX, y)], Palette.grid, width: 0.8, dashed: false)
            }
        }
        if !panel.x.hidden && panel.x.categories == nil {
            for t in xs.ticks {
                let x = area.x + xs.fraction(t) * area.width
                canvas.polyline([(x, area.y), (x, area.maxY)], Palette.grid, width: 0.8, dashed: false)
            }
        }
    }

    private func axes(_ panel: Panel, _ xs: Scale, _ ys: Scale, _ area: Rect, framed: Bool, upright: Double?) {
        if framed {
            // Images get a faint edge so a white background pixel still shows where the image ends.
            let hidden = panel.x.hidden && panel.y.hidden
            canvas.strokeRect(area, hidden ? Palette.grid : Palette.axis, width: 0.8)
        }
        if !panel.x.hidden {
            if !framed {
                canvas.polyline([(area.x, area.maxY), (area.maxX, area.maxY)], Palette.axis, width: 0.8, dashed: false)
            }
            // Upright labels hang from the tick, read from the bottom up, cut to the room left for them.
            for (t, label) in zip(xs.ticks, xs.tickLabels) {
                let x = area.x + xs.fraction(t) * area.width
                canvas.polyline([(x, area.maxY), (x, area.maxY + 4)], Palette.axis, width: 0.8, dashed: false)
                if let upright {
                    canvas.text(
                        fitted(label, within: upright, size: Self.tickSize, bold: false), x: x + Self.tickSize * 0.35,
                        y: area.maxY + 6, size: Self.tickSize, bold: false, Palette.ink, anchor: .end, vertical: true)
                } else {
                    canvas.text(
                        label, x: x, y: area.maxY + 6 + Self.tickSize, size: Self.tickSize, bold: false, Palette.ink,
                        anchor: .middle, vertical: false)
                }
            }
            if let label = panel.x.label {
                let labels = upright ?? Self.tickSize
                canvas.text(
                    fitted(label, within: area.width, size: Self.labelSize, bold: false), x: area.x + area.width / 2,
                    y: area.maxY + 14 + labels + Self.labelSize,
                    size: Self.labelSize, bold: false, Palette.ink, anchor: .middle, vertical: false)
            }
        }
        if !panel.y.hidden {
            if !framed { canvas.polyline([(area.x, area.y), (area.x, area.maxY)], Palette.axis, width: 0.8, dashed: false) }
            var widest = 0.0
            for (t, label) in zip(ys.ticks, ys.tickLabels) {
                let y = area.maxY - ys.fraction(t) * area.height
                canvas.polyline([(area.x - 4, y), (area.x, y)], Palette.axis, width: 0.8, dashed: false)
                canvas.text(
                    label, x: area.x - 6, y: y + Self.tickSize * 0.35, size: Self.tickSize, bold: false, Palette.ink,
                    anchor: .end, vertical: false)
                widest = max(widest, canvas.textWidth(label, size: Self.tickSize, bold: false))
            }
            if let label = panel.y.label {
                canvas.text(
                    fitted(label, within: area.height, size: Self.labelSize, bold: false), x: area.x - widest - 12,
                    y: area.y + area.height / 2, size: Self.labelSize, bold: false, Palette.ink, anchor: .middle,
                    vertical: true)
            }
        }
    }

    // MARK: - Marks

    /// Data to canvas coordinates.
    struct Mapping {
        let x: Scale, y: Scale, area: Rect
        func px(_ v: Double) -> Double { area.x + x.fraction(v) * area.width }
        func py(_ v: Double) -> Double { area.maxY - y.fraction(v) * area.height }
    }

    private func draw(_ mark: Mark, _ map: Mapping) {
        switch mark {
        case .line(let line):
            var run: [(Double, Double)] = []
            for (x, y) in zip(line.x, line.y) {
                let point = (map.px(x), map.py(y))
                if point.0.isFinite && point.1.isFinite {
                    run.append(point)
                } else {
                    flush(&run, line)
                }
            }
            flush(&run, line)
        case .bars(let bars):
            let colour = Palette.series(bars.colour)
            let base = map.y.log ? map.y.low : 0
            for (x, h) in zip(bars.x, bars.heights) where h.isFinite {
                let x0 = map.px(x - bars.width / 2), x1 = map.px(x + bars.width / 2)
                let y0 = map.py(base), y1 = map.py(h)
                guard x0.isFinite, x1.isFinite, y0.isFinite, y1.isFinite else { continue }
                canvas.fill(Rect(x: min(x0, x1), y: min(y0, y1), width: abs(x1 - x0), height: abs(y1 - y0)), colour, alpha: 0.9)
            }
        case .points(let points):
            let radius = points.x.count > 400 ? 2.0 : 3.0
            for (i, (x, y)) in zip(points.x, points.y).enumerated() {
                let cls = i < points.classes.count ? points.classes[i] : 0
                canvas.circle(x: map.px(x), y: map.py(y), radius: radius, Palette.series(cls), alpha: 0.85)
            }
        case .heatmap(let heatmap):
            draw(heatmap, map)
        }
    }

    private func flush(_ run: inout [(Double, Double)], _ line: Line) {
        if run.count == 1 {
            canvas.circle(x: run[0].0, y: run[0].1, radius: 2, Palette.series(line.colour), alpha: 1)
        } else if run.count > 1 {
            canvas.polyline(Self.simplified(run), Palette.series(line.colour), width: 1.8, dashed: line.dashed)
        }
        run.removeAll()
    }

    /// A long line whose x only grows, reduced to what a pixel column can show: in each pixel
    /// column, the first, lowest, highest and last points in their order. 20,000 points drew in
    /// 2.3 s; the picture is the same to the eye. Short lines and lines that turn back are left as they are.
    static func simplified(_ points: [(Double, Double)]) -> [(Double, Double)] {
        guard points.count > 4000, zip(points, points.dropFirst()).allSatisfy({ $0.0 <= $1.0 }) else { return points }
        var out: [(Double, Double)] = []
        out.reserveCapacity(4000)
        var i = 0
        while i < points.count {
            let column = points[i].0.rounded(.down)
            var j = i
            var low = i
            var high = i
            while j < points.count && points[j].0.rounded(.down) == column {
                if points[j].1 < points[low].1 { low = j }
                if points[j].1 > points[high].1 { high = j }
                j += 1
            }
            for k in Set([i, low, high, j - 1]).sorted() { out.append(points[k]) }
            i = j
        }
        return out
    }

    private func draw(_ heatmap: Heatmap, _ map: Mapping) {
        let range = heatmap.valueRange
        let (x0, x1, y0, y1) = heatmap.extent ?? (-0.5, Double(heatmap.columns) - 0.5, -0.5, Double(heatmap.rows) - 0.5)
        let cellW = (x1 - x0) / Double(heatmap.columns), cellH = (y1 - y0) / Double(heatmap.rows)
        let colours = heatmap.values.map { Palette.colour($0, in: range, map: heatmap.colourMap) }
        // Equal neighbours in a row merge into one rectangle; grids still too busy become one image.
        var runs: [(row: Int, from: Int, to: Int)] = []
        for r in 0..<heatmap.rows {
            var start = 0
            for c in 1...heatmap.columns
            where c == heatmap.columns || colours[r * heatmap.columns + c] != colours[r * heatmap.columns + start] {
                runs.append((r, start, c))
                start = c
            }
        }
        if runs.count > 4096 {
            let left = map.px(x0), right = map.px(x1), top = map.py(y1), bottom = map.py(y0)
            // Image rows run top to bottom; data row 0 is at the bottom unless the axis is inverted.
            var pixels: [Colour] = []
            let order = map.y.inverted ? Array(0..<heatmap.rows) : Array((0..<heatmap.rows).reversed())
            for r in order { pixels += colours[(r * heatmap.columns)..<((r + 1) * heatmap.columns)] }
            canvas.image(
                pixels, rows: heatmap.rows, columns: heatmap.columns,
                in: Rect(x: min(left, right), y: min(top, bottom), width: abs(right - left), height: abs(bottom - top)))
        } else {
            for run in runs {
                let xa = map.px(x0 + Double(run.from) * cellW), xb = map.px(x0 + Double(run.to) * cellW)
                let ya = map.py(y0 + Double(run.row) * cellH), yb = map.py(y0 + Double(run.row + 1) * cellH)
                // A fraction of a pixel of overlap hides antialiasing seams between neighbours.
                let rect = Rect(x: min(xa, xb), y: min(ya, yb), width: abs(xb - xa) + 0.4, height: abs(yb - ya) + 0.4)
                canvas.fill(rect, colours[run.row * heatmap.columns + run.from], alpha: 1)
            }
        }
        if heatmap.annotate {
            // Small enough that the widest number fits its cell with room on either side (a 20×20
            // matrix's ran together), and no larger than tick labels.
            let texts = heatmap.values.map(Heatmap.annotation)
            let widest = texts.map { canvas.textWidth($0, size: 1, bold: false) }.max() ?? 1
            let cellWidth = abs(map.px(x0 + cellW) - map.px(x0)), cellHeight = abs(map.py(y0 + cellH) - map.py(y0))
            let size = min(Self.tickSize, cellWidth * 0.85 / max(widest, 0.1), cellHeight * 0.6)
            for r in 0..<heatmap.rows {
                for c in 0..<heatmap.columns {
                    let text = texts[r * heatmap.columns + c]
                    let ink = colours[r * heatmap.columns + c].luminance < 0.5 ? Colour(1, 1, 1) : Palette.ink
                    let cx = map.px(x0 + (Double(c) + 0.5) * cellW), cy = map.py(y0 + (Double(r) + 0.5) * cellH)
                    canvas.text(text, x: cx, y: cy + size * 0.35, size: size, bold: false, ink, anchor: .middle, vertical: false)
                }
            }
        }
    }

    // MARK: - Legend

    /// The legend in the plot corner that covers the fewest data points.
    private func legend(_ panel: Panel, _ map: Mapping) {
        let entries = panel.legendEntries
        guard !entries.isEmpty else { return }
        let rowHeight = 15.0, swatch = 18.0, pad = 6.0
        let width = (entries.map { canvas.textWidth($0.label, size: Self.tickSize, bold: false) }.max() ?? 0) + swatch + 3 * pad
        let height = Double(entries.count) * rowHeight + pad
        let area = map.area
        let corners = [
            Rect(x: area.maxX - width - 4, y: area.y + 4, width: width, height: height),
            Rect(x: area.x + 4, y: area.y + 4, width: width, height: height),
            Rect(x: area.maxX - width - 4, y: area.maxY - height - 4, width: width, height: height),
            Rect(x: area.x + 4, y: area.maxY - height - 4, width: width, height: height),
        ]
        let points = dataPoints(panel, map)
        let box =
            corners.min { a, b in
                points.filter { a.contains($0.0, $0.1) }.count < points.filter { b.contains($0.0, $0.1) }.count
            } ?? corners[0]
        canvas.fill(box, Palette.background, alpha: 0.85)
        canvas.strokeRect(box, Palette.grid, width: 0.8)
        for (i, entry) in entries.enumerated() {
            let y = box.y + pad / 2 + (Double(i) + 0.5) * rowHeight
            let x = box.x + pad
            swatchFor(entry, x: x, y: y, swatch: swatch)
            canvas.text(
                entry.label, x: x + swatch + pad, y: y + Self.tickSize * 0.35, size: Self.tickSize, bold: false, Palette.ink,
                anchor: .start, vertical: false)
        }
    }

    /// Where the data sit on the canvas, sampled, for choosing the legend's corner.
    private func dataPoints(_ panel: Panel, _ map: Mapping) -> [(Double, Double)] {
        var points: [(Double, Double)] = []
        for mark in panel.marks {
            switch mark {
            case .line(let l):
                for (a, b) in zip(l.x, l.y) { points.append((map.px(a), map.py(b))) }
                // Midpoints too, so a steep segment through a corner counts.
                for ((a0, b0), (a1, b1)) in zip(zip(l.x, l.y), zip(l.x, l.y).dropFirst()) {
                    for t in stride(from: 0.25, to: 1, by: 0.25) {
                        points.append((map.px(a0 + (a1 - a0) * t), map.py(b0 + (b1 - b0) * t)))
                    }
                }
            case .bars(let b):
                for (a, h) in zip(b.x, b.heights) {
                    for t in stride(from: 0.0, through: 1, by: 0.2) { points.append((map.px(a), map.py(h * t))) }
                }
            case .points(let p):
                for (a, b) in zip(p.x, p.y) { points.append((map.px(a), map.py(b))) }
            case .heatmap: break
            }
        }
        return points.filter { $0.0.isFinite && $0.1.isFinite }
    }
}
