import Foundation
import RetortNN
import RetortPlot
import RetortTensor

/// Figures built from the language's values: histories, distributions, images, matrices, models.
enum Plots {
    /// Training histories overlaid, one panel per metric; a `val_` metric joins its training metric, dashed.
    static func history(_ histories: [History], log: Bool, title: String?) -> Figure {
        var metrics: [String] = []
        for h in histories {
            for (name, _) in h.series {
                let base = name.hasPrefix("val_") ? String(name.dropFirst(4)) : name
                if !metrics.contains(base) { metrics.append(base) }
            }
        }
        let names = histories.enumerated().map { i, h in h.name.isEmpty ? "run \(i + 1)" : h.name }
        var panels: [Panel] = []
        var anyValidation = false
        for metric in metrics {
            var marks: [Mark] = []
            var hasValidation = false
            for (i, h) in histories.enumerated() {
                let x = h.epochs.map(Double.init)
                if let train = h.values(metric) {
                    marks.append(.line(Line(label: names[i], x: x, y: train, colour: i)))
                }
                if let validation = h.values("val_" + metric) {
                    hasValidation = true
                    marks.append(.line(Line(label: "\(names[i]) (validation)", x: x, y: validation, colour: i, dashed: true)))
                }
            }
            anyValidation = anyValidation || hasValidation
            let logScale = log && !metric.contains("accuracy")
            panels.append(
                Panel(
                    title: metric, x: Axis(label: "epoch", wholeNumbers: true), y: Axis(scale: logScale ? .log : .linear),
                    marks: marks, legend: false
                ))
        }
        let columns = panels.count == 4 ? 2 : min(panels.count, 3)
        let rows = (panels.count + columns - 1) / max(columns, 1)
        var figure = Figure(title: title, panels: panels, columns: columns, height: rows > 1 ? 280 * Double(rows) + 24 : 360)
        // One legend for all panels: a run per colour, and the dashed style for validation curves.
        figure.legend = names.enumerated().map { LegendEntry(label: $1, colour: $0, symbol: .line) }
        if anyValidation { figure.legend.append(LegendEntry(label: "validation", colour: 6, symbol: .dashedLine)) }
        return figure
    }

    /// Bars of one or more rows of values over the same categories, side by side.
    static func bars(
        _ rows: [[Double]], names: [String]?, categories: [String], title: String?, ylabel: String? = nil,
        limits: (Double, Double)? = nil
    ) -> Panel {
        let groups = rows.count
        let width = 0.8 / Double(groups)
        let marks: [Mark] = rows.enumerated().map { g, values in
            let x = values.indices.map { Double($0) - 0.4 + width * (Double(g) + 0.5) }
            let label = names.flatMap { g < $0.count ? $0[g] : nil }
            return .bars(Bars(label: label, x: x, heights: values, width: width, colour: g))
        }
        return Panel(title: title, x: Axis(categories: categories), y: Axis(label: ylabel, limits: limits), marks: marks)
    }

    /// Small grey images in a grid, each titled with its label.
    static func images(_ pixels: [[Double]], height: Int, width: Int, titles: [String]?, columns: Int?) -> Figure {
        let low = pixels.joined().filter(\.isFinite).min() ?? 0
        let high = pixels.joined().filter(\.isFinite).max() ?? 1
        let panels = pixels.enumerated().map { i, image in
            Panel(
                title: titles.flatMap { i < $0.count ? $0[i] : nil }, x: Axis(hidden: true),
                y: Axis(inverted: true, hidden: true),
                marks: [
                    .heatmap(
                        Heatmap(
                            rows: height, columns: width, values: image, colourMap: .grey,
                            range: (low, high == low ? low + 1 : high)))
                ], legend: false)
        }
        // More columns than images (columns: 1e12) would size the canvas for columns that are never drawn.
        let cols = min(columns ?? 8, pixels.count)
        let rows = (pixels.count + cols - 1) / max(cols, 1)
        let cell = Double(max(height, width)) >= 20 ? 96.0 : 80.0
        return Figure(
            panels: panels, columns: cols, width: max(Double(cols) * cell, 160),
            height: Double(rows) * (cell + (titles == nil ? 0 : 18)))
    }

    /// A matrix as coloured cells, row 0 at the top.
    static func matrix(
        _ values: [Double], rows: Int, columns: Int, rowNames: [String]?, columnNames: [String]?, annotate: Bool,
        title: String?, xLabel: String?, yLabel: String?
    ) -> Figure {
        let panel = Panel(
            title: title,
            x: Axis(label: xLabel, categories: columnNames ?? (0..<columns).map(String.init)),
            y: Axis(label: yLabel, categories: rowNames ?? (0..<rows).map(String.init), inverted: true),
            marks: [.heatmap(Heatmap(rows: rows, columns: columns, values: values, annotate: annotate))], legend: false)
        // Taller with more rows, up to 800, so each row (and, upright, each column) has its name: a
        // 27-class confusion named every third class at 400.
        let height = Swift.min(Swift.max(400, 20 * Double(Swift.max(rows, columns)) + 170), 800)
        return Figure(panels: [panel], width: Swift.max(640, height + 240), height: height)
    }

    /// Counts of (true class, predicted class) for a model on a dataset.
    /// Counts of (true class, predicted class), row-major, k × k: sklearn's confusion_matrix. k
    /// covers the data's classes and the model's outputs, so no prediction is dropped.
    static func confusionCounts(_ model: Model, _ data: Dataset) throws -> (counts: [Double], k: Int) {
        let logits = try Evaluation.predict(model.network, data.x)
        // Classes on the last axis, as accuracy reads them: a sequence model's [N, T, V] was read
        // on axis 1, the positions taken for classes.
        try Accuracy.check(output: logits.shape, labels: data.y.shape, op: "confusion")
        let predicted = try logits.argmax(axis: logits.rank - 1).scalars
        let k = Swift.max(data.classes, logits.shape[logits.rank - 1])
        // One label of 100000 makes k × k counts, ten billion of them: checked before they are made.
        try MemoryBudget.check(
            "confusion", count: MemoryBudget.product([k, k]), bytesEach: 8, what: "a \(k) × \(k) matrix of counts")
        var counts = Array(repeating: 0.0, count: k * k)
        for (truth, guess) in zip(data.y.scalars, predicted) {
            let t = Int(truth), g = Int(guess)
            if (0..<k).contains(t) && (0..<k).contains(g) { counts[t * k + g] += 1 }
        }
        return (counts, k)
    }

    static func confusion(_ model: Model, _ data: Dataset) throws -> Figure {
        let (counts, k) = try confusionCounts(model, data)
        let correct = (0..<k).map { counts[$0 * k + $0] }.reduce(0, +)
        // Over the labelled examples, as accuracy counts them (labels of −1 are in no cell).
        let accuracy = String(format: "%.1f%%", 100 * correct / Swift.max(counts.reduce(0, +), 1))
        let names = (data.classNames ?? []) + (0..<k).dropFirst(data.classNames?.count ?? 0).map(String.init)
        return matrix(
            counts, rows: k, columns: k, rowNames: names, columnNames: names, annotate: k <= 20,
            title: "\(model.name ?? "model") on \(data.name): \(accuracy)", xLabel: "predicted", yLabel: "true")
    }

    /// The two columns of an N × 2 tensor, as the x and y of N points.
    static func columns(_ points: Tensor) -> (x: [Double], y: [Double]) {
        let s = points.scalars.map(Double.init)
        return (stride(from: 0, to: s.count, by: 2).map { s[$0] }, stride(from: 1, to: s.count, by: 2).map { s[$0] })
    }

    /// Decision regions of each model over a 2-D dataset, with the data's points on top.
    static func boundary(_ models: [Model], _ data: Dataset, resolution: Int) throws -> Figure {
        let (xs, ys) = columns(data.x)
        func padded(_ v: [Double]) -> (Double, Double) {
            let lo = v.min() ?? 0, hi = v.max() ?? 1
            let pad = max((hi - lo) * 0.08, 1e-3)
            return (lo - pad, hi + pad)
        }
        let (x0, x1) = padded(xs), (y0, y1) = padded(ys)
        var grid: [Float] = []
        grid.reserveCapacity(resolution * resolution * 2)
        for r in 0..<resolution {
            for c in 0..<resolution {
                grid.append(Float(x0 + (Double(c) + 0.5) * (x1 - x0) / Double(resolution)))
                grid.append(Float(y0 + (Double(r) + 0.5) * (y1 - y0) / Double(resolution)))
            }
        }
        let inputs = try Tensor(shape: [resolution * resolution, 2], scalars: grid)
        let labels = data.y.scalars.map { Int($0) }
        let classNames = data.classNames ?? (0..<data.classes).map { "class \($0)" }
        let panels = try models.enumerated().map { i, model -> Panel in
            let regions = try Evaluation.predict(model.network, inputs).argmax(axis: 1).scalars.map(Double.init)
            let accuracy = try Evaluation.accuracy(model.network, on: data)
            return Panel(
                title: "\(model.name ?? "model \(i + 1)") \(String(format: "%.1f%%", 100 * accuracy))", x: Axis(), y: Axis(),
                marks: [
                    .heatmap(
                        Heatmap(
                            rows: resolution, columns: resolution, values: regions, colourMap: .classes, extent: (x0, x1, y0, y1))
                    ),
                    .points(Points(x: xs, y: ys, classes: labels, classNames: i == 0 ? classNames : [])),
                ])
        }
        return Figure(panels: panels, columns: panels.count, width: max(640, 320 * Double(panels.count)), height: 360)
    }

    /// Histograms of several sets of values over shared bins, side by side within each bin.
    static func histogram(_ sets: [[Double]], bins: Int, names: [String]?, log: Bool, title: String?) throws -> Figure {
        // Each bin of each set holds a count and a position, both Doubles.
        try MemoryBudget.check(
            "histogram", count: MemoryBudget.product([bins, sets.count]), bytesEach: 16, what: "a histogram of \(bins) bins")
        let all = sets.joined().filter(\.isFinite)
        var lo = all.min() ?? 0, hi = all.max() ?? 1
        // Equal values get a bin around them, wide enough to register at their magnitude (1e30 - 0.5 is 1e30).
        if hi - lo <= Swift.abs(lo) * 1e-6 || hi == lo {
            let half = Swift.max(0.5, Swift.abs(lo) * 1e-6)
            (lo, hi) = (lo - half, hi + half)
        }
        let step = (hi - lo) / Double(bins)
        let marks: [Mark] = sets.enumerated().map { g, values in
            var counts = Array(repeating: 0.0, count: bins)
            for v in values where v.isFinite {
                let position = ((v - lo) / step).rounded(.down)
                // A span too wide for a Double (from -3e38 to 3e38) puts everything in the first bin.
                let bin = position.isFinite ? Int(Swift.max(0, Swift.min(Double(bins - 1), position))) : 0
                counts[bin] += 1
            }
            let width = step / Double(sets.count)
            let x = (0..<bins).map { lo + Double($0) * step + width * (Double(g) + 0.5) }
            let label = names.flatMap { g < $0.count ? $0[g] : nil }
            return .bars(Bars(label: label, x: x, heights: counts, width: width, colour: g))
        }
        return Figure(panels: [
            Panel(title: title, x: Axis(label: "value"), y: Axis(label: "count", scale: log ? .log : .linear), marks: marks)
        ])
    }
}
