import Foundation
import RetortPlot

/// One figure of each kind the language draws, built from fixed numbers.
enum SampleFigures {
    static var all: [(name: String, figure: Figure)] {
        [
            ("lines", lines), ("bars", bars), ("images", images), ("confusion", confusion), ("boundary", boundary),
            ("scatter", scatter), ("histogram", histogram),
        ]
    }

    /// Two runs, a log-scale loss panel and an accuracy panel with a dashed validation curve.
    static var lines: Figure {
        let epochs = (1...30).map(Double.init)
        let teacher = epochs.map { 2.3 * exp(-$0 / 6) + 0.03 }
        let student = epochs.map { 2.3 * exp(-$0 / 10) + 0.1 }
        let accuracy = epochs.map { 1 - 0.9 * exp(-$0 / 5) }
        let validation = epochs.map { 0.95 - 0.85 * exp(-$0 / 5) }
        return Figure(
            title: "Distillation",
            panels: [
                Panel(
                    title: "loss", x: Axis(label: "epoch"), y: Axis(scale: .log),
                    marks: [
                        .line(Line(label: "teacher", x: epochs, y: teacher, colour: 0)),
                        .line(Line(label: "student", x: epochs, y: student, colour: 1)),
                    ]),
                Panel(
                    title: "accuracy", x: Axis(label: "epoch"),
                    marks: [
                        .line(Line(label: "teacher", x: epochs, y: accuracy, colour: 0)),
                        .line(Line(label: "teacher (validation)", x: epochs, y: validation, colour: 0, dashed: true)),
                    ]),
            ])
    }

    /// Softened distributions at three temperatures, teacher and student side by side.
    static var bars: Figure {
        let logits = [1.0, 2.5, 9.0, 0.5, 3.0, 0.0, 1.5, 4.0, 2.0, 0.8]
        let categories = (0..<10).map(String.init)
        let panels = [1.0, 4.0, 20.0].map { t -> Panel in
            let e = logits.map { exp($0 / t) }, s = e.reduce(0, +)
            let p = e.map { $0 / s }
            let q = p.map { ($0 + 0.1) / 2 }
            return Panel(
                title: "T = \(Int(t))", x: Axis(categories: categories), y: Axis(limits: (0, 1)),
                marks: [
                    .bars(Bars(label: "teacher", x: (0..<10).map { Double($0) - 0.2 }, heights: p, width: 0.4, colour: 0)),
                    .bars(Bars(label: "student", x: (0..<10).map { Double($0) + 0.2 }, heights: q, width: 0.4, colour: 1)),
                ])
        }
        return Figure(panels: panels, columns: 3, height: 240)
    }

    /// Four 8×8 "digits" drawn as simple shapes.
    static var images: Figure {
        let shapes: [(Int, Int) -> Double] = [
            { r, c in (r == 1 || r == 6) && (2...5).contains(c) || (c == 2 || c == 5) && (1...6).contains(r) ? 16 : 0 },
            { r, c in c == 4 && r >= 1 && r <= 6 ? 16 : 0 },
            { r, c in r == c ? 16 : Double(abs(r - c)) < 2 ? 6 : 0 },
            { r, c in Double(r + c) },
        ]
        let panels = shapes.enumerated().map { i, shape in
            Panel(
                title: "\(i)", x: Axis(hidden: true), y: Axis(inverted: true, hidden: true),
                marks: [
                    .heatmap(
                        Heatmap(
                            rows: 8, columns: 8, values: (0..<64).map { shape($0 / 8, $0 % 8) }, colourMap: .grey, range: (0, 16))
                    )
                ], legend: false)
        }
        return Figure(panels: panels, columns: 4, width: 320, height: 98)
    }

    static var confusion: Figure {
        let counts: [Double] = [30, 2, 0, 1, 25, 4, 0, 3, 35]
        let names = ["cat", "dog", "fox"]
        return Figure(
            panels: [
                Panel(
                    title: "student on test: 88.0%", x: Axis(label: "predicted", categories: names),
                    y: Axis(label: "true", categories: names, inverted: true),
                    marks: [.heatmap(Heatmap(rows: 3, columns: 3, values: counts, annotate: true))], legend: false)
            ], height: 400)
    }

    /// Decision regions of two made-up models over a plane, with points of two classes.
    static var boundary: Figure {
        let n = 40
        let xs = (0..<20).map { -1 + Double($0) * 0.1 }, ys = (0..<20).map { sin(Double($0)) }
        let classes = (0..<20).map { $0 % 2 }
        let panels = [0.0, 0.5].enumerated().map { i, tilt -> Panel in
            let regions = (0..<(n * n)).map { k -> Double in
                let x = -1.2 + 2.4 * (Double(k % n) + 0.5) / Double(n), y = -1.2 + 2.4 * (Double(k / n) + 0.5) / Double(n)
                return y > tilt * x ? 1 : 0
            }
            return Panel(
                title: i == 0 ? "teacher 95.0%" : "student 90.0%",
                marks: [
                    .heatmap(Heatmap(rows: n, columns: n, values: regions, colourMap: .classes, extent: (-1.2, 1.2, -1.2, 1.2))),
                    .points(Points(x: xs, y: ys, classes: classes, classNames: i == 0 ? ["class 0", "class 1"] : [])),
                ])
        }
        return Figure(panels: panels, columns: 2)
    }

    static var scatter: Figure {
        let x = (0..<50).map { Double($0) / 10 }
        return Figure(panels: [
            Panel(
                title: "weights", x: Axis(label: "before"), y: Axis(label: "after"),
                marks: [
                    .points(
                        Points(
                            x: x, y: x.map { $0 * 0.9 + sin($0) * 0.1 }, classes: x.map { $0 > 2.5 ? 1 : 0 },
                            classNames: ["kept", "pruned"]))
                ])
        ])
    }

    static var histogram: Figure {
        let before = (0..<400).map { sin(Double($0) * 12.9898) * 0.5 }
        let after = before.map { abs($0) < 0.1 ? 0 : $0 }
        let lo = -0.5, step = 0.1
        func counts(_ v: [Double]) -> [Double] {
            var c = Array(repeating: 0.0, count: 10)
            for x in v { c[min(9, max(0, Int((x - lo) / step)))] += 1 }
            return c
        }
        return Figure(panels: [
            Panel(
                title: "pruning", x: Axis(label: "value"), y: Axis(label: "count"),
                marks: [
                    .bars(
                        Bars(
                            label: "before", x: (0..<10).map { lo + Double($0) * step + 0.025 }, heights: counts(before),
                            width: 0.05, colour: 0)),
                    .bars(
                        Bars(
                            label: "after", x: (0..<10).map { lo + Double($0) * step + 0.075 }, heights: counts(after),
                            width: 0.05, colour: 1)),
                ])
        ])
    }
}
