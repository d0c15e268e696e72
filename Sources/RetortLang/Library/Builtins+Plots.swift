import Foundation
import RetortNN
import RetortPlot
import RetortTensor

extension BuiltinCall {
    /// Rows as `rows(_:)` reads them, with at least one value in each.
    func nonEmptyRows(_ name: String) throws -> [[Double]] {
        let rows = try rows(name)
        guard let first = rows.first, !first.isEmpty else { throw error("`\(name)` has no values to draw", at: name) }
        return rows
    }
}

extension Builtins {
    /// Every plot builtin's figure says how many values it could not draw (NaN, infinity).
    static let plotBuiltins: [Builtin] = drawingBuiltins.map { builtin in
        Builtin(
            builtin.name, builtin.parameters, category: builtin.category, summary: builtin.summary, example: builtin.example,
            acceptsExtraNamed: builtin.acceptsExtraNamed
        ) { call in
            let value = try builtin.body(call)
            if case .plot(let figure) = value { return .plot(figure.notingSkipped(extra: call.skippedValues)) }
            return value
        }
    }

    static let drawingBuiltins: [Builtin] = [
        Builtin(
            "plot",
            [
                .init("histories", .oneOf([.history, .numbers(), .graph]), variadic: true), .init("log", .bool, .bool(false)),
                .init("title", .optional(.string), Value.none), .init("x", .optional(.numbers()), Value.none),
                .init("xlabel", .optional(.string), Value.none), .init("ylabel", .optional(.string), Value.none),
            ],
            category: "plots",
            summary:
                "Training curves: histories overlaid, one panel per metric (loss, each term(), accuracy), validation dashed; log: true for log-scale losses. A tensor or list plots its values against their index, several lists as several series; x: gives their positions instead (matplotlib's plot(x, y) is plot(y, x: x)), xlabel: and ylabel: name the axes.",
            example: "plot(h, d, log: true)"
        ) { call in
            let title = try call.ifGiven("title", call.string)
            var histories: [History] = []
            var series: [[Double]] = []
            // A model's graph is drawn as boxes and arrows on its own.
            if call.rest.count == 1, case .graph(let g) = call.rest[0].value { return .plot(g.figure) }
            for arg in call.rest {
                if case .history(let h) = arg.value {
                    histories.append(h)
                } else if let numbers = arg.value.numberList {
                    series.append(numbers)
                } else {
                    throw call.fail("histories", got: arg.value, at: arg.range)
                }
            }
            guard !histories.isEmpty || !series.isEmpty else {
                throw call.error("plot needs something to draw: a history from fit or distill, or a vector of values")
            }
            guard histories.isEmpty || series.isEmpty else {
                throw call.error("plot draws histories or vectors, not both in one figure")
            }
            if !histories.isEmpty {
                for name in ["x", "xlabel", "ylabel"] where call.isGiven(name) {
                    throw call.error(
                        "a history is drawn against its epochs, each panel named by its metric; \(name): is for vectors",
                        at: name)
                }
                return .plot(Plots.history(histories, log: try call.bool("log"), title: title))
            }
            if try call.bool("log"), !series.joined().contains(where: { $0 > 0 }) {
                throw call.error("a log scale needs positive values, and these have none", at: "log")
            }
            let positions = try call.ifGiven("x", call.numbers)
            if let positions, let other = series.first(where: { $0.count != positions.count }) {
                throw call.error(
                    "x has \(positions.count) positions and a series \(other.count) values: give one position per value", at: "x")
            }
            let marks = series.enumerated().map { i, ys in
                Mark.line(
                    Line(
                        label: series.count > 1 ? "series \(i + 1)" : nil, x: positions ?? ys.indices.map(Double.init), y: ys,
                        colour: i))
            }
            // Whole-number positions (epochs, steps) tick at whole numbers, as the index does.
            let whole = positions?.allSatisfy { $0 == $0.rounded() } ?? true
            let xAxis = Axis(
                label: try call.ifGiven("xlabel", call.string) ?? (positions == nil ? "index" : "x"), wholeNumbers: whole)
            let yAxis = Axis(label: try call.ifGiven("ylabel", call.string), scale: try call.bool("log") ? .log : .linear)
            let panel = Panel(x: xAxis, y: yAxis, marks: marks)
            return .plot(Figure(title: title, panels: [panel]))
        },
        Builtin(
            "bars",
            [
                .init("values", .vectors), .init("over", .optional(.numbers(.above(0))), Value.none),
                .init("names", .optional(.strings), Value.none), .init("labels", .optional(.strings), Value.none),
                .init("title", .optional(.string), Value.none), .init("ylabel", .optional(.string), Value.none),
            ],
            category: "plots",
            summary:
                "A bar chart of a distribution (rows of a matrix or a list of vectors side by side, named by `names`), ylabel: naming the values. With over: [T1, T2, ...] the values are logits and each panel shows softmax(values / T) (its axis reads probability).",
            example: "bars(teacher(test.x)[0], over: [1, 2, 4, 8, 20])"
        ) { call in
            let rows = try call.nonEmptyRows("values")
            let names = try call.ifGiven("names", call.strings)
            let title = try call.ifGiven("title", call.string)
            let categories = try call.ifGiven("labels", call.strings) ?? (0..<rows[0].count).map(String.init)
            guard categories.count == rows[0].count else {
                throw call.error("labels has \(categories.count) names for \(rows[0].count) values", at: "labels")
            }
            let ylabel = try call.ifGiven("ylabel", call.string)
            guard call.isGiven("over") else {
                return .plot(
                    Figure(
                        title: nil,
                        panels: [Plots.bars(rows, names: names, categories: categories, title: title, ylabel: ylabel)]))
            }
            let temperatures = try call.numbers("over")
            guard !temperatures.isEmpty else { throw call.fail("over", "a list of at least one temperature") }
            func softmax(_ v: [Double], _ t: Double) -> [Double] {
                let m = v.max() ?? 0
                let e = v.map { exp(($0 - m) / t) }
                let s = e.reduce(0, +)
                return e.map { $0 / s }
            }
            let tempered = temperatures.map { t in rows.map { softmax($0, t) } }
            let top = (tempered.joined().joined().max() ?? 1) * 1.05
            let panels = zip(temperatures, tempered).map { t, r in
                Plots.bars(
                    r, names: names, categories: categories, title: "T = \(formatNumber(t))", ylabel: ylabel ?? "probability",
                    limits: (0, top))
            }
            let columns = min(panels.count, 5)
            return .plot(
                Figure(
                    title: title, panels: panels, columns: columns, width: max(640, 200 * Double(columns)),
                    height: 240 * Double((panels.count + columns - 1) / columns) + (title == nil ? 0 : 28)))
        },
        Builtin(
            "images",
            [
                .init("x", .oneOf([.tensorValue, .dataset])), .init("shape", .optional(.wholeNumbers(min: 1)), Value.none),
                .init("labels", .optional(.strings), Value.none), .init("columns", .optional(.wholeNumber(min: 1)), Value.none),
            ],
            category: "plots",
            summary:
                "A grid of grey images from rows of x (or a dataset's inputs, titled by its labels); shape: [h, w] when the rows are flat and not square. "
                + "All share one grey scale, white the least value among them and black the greatest, so their pixels compare "
                + "(as torchvision's make_grid(normalize=True); matplotlib's imshow scales each image to its own range).",
            example: "images(test.x[0:16], shape: [8, 8], labels: test.y[0:16])"
        ) { call in
            var x: Tensor
            var labels = try call.ifGiven("labels", call.strings)
            switch call.value("x") {
            case .dataset(let d):
                x = d.x
                // One label per image: a sequence dataset's rows of next ids (and −1s) title nothing.
                if labels == nil, d.y.rank == 1 {
                    labels = d.y.scalars.map { v in
                        let i = v.isFinite && Swift.abs(v) < 1e9 ? Int(v) : -1
                        return d.classNames.flatMap { $0.indices.contains(i) ? $0[i] : nil } ?? formatNumber(Double(v))
                    }
                }
            case .tensor(let t): x = t.value
            default: throw call.fail("x")
            }
            guard x.rank > 0 else { throw call.error("needs rows of pixels, got a single number", at: "x") }
            if x.rank == 1 { x = try x.reshaped([1, x.count]) }
            guard x.shape[0] > 0, x.count > 0 else { throw call.error("there are no images to draw", at: "x") }
            let count = min(x.shape[0], 100)
            let perImage = x.count / max(x.shape[0], 1)
            var (h, w) = (0, 0)
            if call.isGiven("shape") {
                let s = try call.ints("shape")
                guard s.count == 2, s[0] <= perImage, s[1] <= perImage else {
                    throw call.fail("shape", "[height, width], whose product is the \(perImage) values of each row")
                }
                (h, w) = (s[0], s[1])
            } else if x.rank >= 3 {
                (h, w) = (x.shape[x.rank - 2], x.shape[x.rank - 1])
            } else {
                let side = Int(Double(perImage).squareRoot().rounded())
                guard side * side == perImage else {
                    throw call.error("each row has \(perImage) values, not a square image: give shape: [height, width]", at: "x")
                }
                (h, w) = (side, side)
            }
            guard h * w == perImage else {
                throw call.error("shape [\(h), \(w)] holds \(h * w) pixels but each image has \(perImage) values", at: "shape")
            }
            let scalars = x.scalars
            let pixels = (0..<count).map { i in scalars[(i * perImage)..<((i + 1) * perImage)].map(Double.init) }
            if let given = labels, given.count < count {
                throw call.error("\(given.count) labels for \(count) images", at: "labels")
            }
            let columns = try call.ifGiven("columns", call.int)
            return .plot(Plots.images(pixels, height: h, width: w, titles: labels, columns: columns))
        },
        Builtin(
            "heatmap",
            [
                .init("matrix", .vectors), .init("rows", .optional(.strings), Value.none),
                .init("columns", .optional(.strings), Value.none), .init("annotate", .bool, .bool(false)),
                .init("title", .optional(.string), Value.none), .init("xlabel", .optional(.string), Value.none),
                .init("ylabel", .optional(.string), Value.none),
            ],
            category: "plots",
            summary:
                "A matrix as coloured cells (probabilities, attention maps), row 0 on top; rows/columns name them, annotate: true writes the values.",
            example: "heatmap(softmax(teacher(test.x[0:10]) / 4), annotate: true)"
        ) { call in
            let rows = try call.nonEmptyRows("matrix")
            let rowNames = try call.ifGiven("rows", call.strings), columnNames = try call.ifGiven("columns", call.strings)
            if let rowNames, rowNames.count != rows.count {
                throw call.error("\(rowNames.count) row names for \(rows.count) rows", at: "rows")
            }
            if let columnNames, columnNames.count != rows[0].count {
                throw call.error("\(columnNames.count) column names for \(rows[0].count) columns", at: "columns")
            }
            return .plot(
                Plots.matrix(
                    Array(rows.joined()), rows: rows.count, columns: rows[0].count, rowNames: rowNames, columnNames: columnNames,
                    annotate: try call.bool("annotate"), title: try call.ifGiven("title", call.string),
                    xLabel: try call.ifGiven("xlabel", call.string), yLabel: try call.ifGiven("ylabel", call.string)))
        },
        Builtin(
            "confusion", [.init("model", .model), .init("data", .dataset)], category: "plots",
            summary:
                "The confusion matrix of a model on a dataset drawn: true classes down, predicted across, counts in the cells (confusion_matrix gives the numbers).",
            example: "confusion(student, test)"
        ) { call in
            let data = try call.examples("data", for: "measure")
            let model = try call.model("model")
            do {
                return .plot(try Plots.confusion(model, data))
            } catch {
                throw call.interpreter.wrap(error, at: call.range)
            }
        },
        Builtin(
            "confusion_matrix", [.init("model", .model), .init("data", .dataset)], category: "training",
            summary:
                "The confusion matrix as numbers, like sklearn's confusion_matrix: a tensor [C, C] whose row i, column j counts examples of class i predicted as j (confusion(model, data) draws it).",
            example: "let cm = confusion_matrix(student, test); cm[3, 8]"
        ) { call in
            let (model, data) = (try call.model("model"), try call.examples("data", for: "measure"))
            return try call.tensorOp {
                let (counts, k) = try Plots.confusionCounts(model, data)
                return Variable(try Tensor(shape: [k, k], scalars: counts.map(Float.init)))
            }
        },
        Builtin(
            "boundary",
            [.init("models", .models), .init("data", .dataset), .init("resolution", .wholeNumber(min: 4), .number(80))],
            category: "plots",
            summary:
                "Decision regions of a model (or several, side by side) over a dataset with two input features, its points on top.",
            example: "boundary([teacher, alone, student], moons)"
        ) { call in
            let models = try call.models("models")
            let data = try call.examples("data", for: "measure")
            guard data.x.rank == 2, data.x.shape[1] == 2 else {
                throw call.error(
                    "boundary needs data with 2 input features to draw on a plane; this dataset's inputs are \(formatShape(Array(data.x.shape.dropFirst())))",
                    at: "data")
            }
            let resolution = try call.int("resolution")
            do {
                return .plot(try Plots.boundary(models, data, resolution: min(resolution, 400)))
            } catch {
                throw call.interpreter.wrap(error, at: call.range)
            }
        },
        Builtin(
            "scatter",
            [
                .init("x", .oneOf([.dataset, .vectors])), .init("y", .optional(.vectors), Value.none),
                .init("classes", .optional(.vectors), Value.none), .init("title", .optional(.string), Value.none),
                .init("xlabel", .optional(.string), Value.none), .init("ylabel", .optional(.string), Value.none),
            ],
            category: "plots",
            summary:
                "Points: scatter(xs, ys), scatter(matrix with 2 columns) or scatter(dataset with 2 features), coloured by classes (labels).",
            example: "scatter(before.x, after.x)"
        ) { call in
            var xs: [Double] = [], ys: [Double] = []
            var classes: [Int]?
            var classNames: [String] = []
            switch call.value("x") {
            case .dataset(let d) where d.x.rank == 2 && d.x.shape[1] == 2:
                (xs, ys) = Plots.columns(d.x)
                classes = d.y.scalars.map { Int($0) }
                classNames = d.classNames ?? (0..<d.classes).map { "class \($0)" }
            case .tensor(let t) where t.value.rank == 2 && t.shape[1] == 2 && !call.isGiven("y"):
                (xs, ys) = Plots.columns(t.value)
            default:
                guard call.isGiven("y") else {
                    throw call.fail("x", "a matrix with 2 columns, a dataset with 2 features, or x values with y: given")
                }
                xs = try call.rows("x").joined().map { $0 }
                ys = try call.rows("y").joined().map { $0 }
                guard xs.count == ys.count else { throw call.error("\(xs.count) x values but \(ys.count) y values", at: "y") }
            }
            if call.isGiven("classes") {
                let values = try call.rows("classes").joined()
                // Each class is a colour and a legend entry: a few hundred are already more than a plot can tell apart.
                guard values.allSatisfy({ $0 >= 0 && $0 < 1000 && $0 == $0.rounded() }) else {
                    throw call.fail("classes", "class indices: whole numbers from 0 to 999")
                }
                let c = values.map { Int($0) }
                guard c.count == xs.count else { throw call.error("\(c.count) classes for \(xs.count) points", at: "classes") }
                classes = c
                classNames = (0...(c.max() ?? 0)).map { "class \($0)" }
            }
            let points = Points(x: xs, y: ys, classes: classes ?? Array(repeating: 0, count: xs.count), classNames: classNames)
            return .plot(
                Figure(panels: [
                    Panel(
                        title: try call.ifGiven("title", call.string), x: Axis(label: try call.ifGiven("xlabel", call.string)),
                        y: Axis(label: try call.ifGiven("ylabel", call.string)), marks: [.points(points)])
                ]))
        },
        Builtin(
            "histogram",
            [
                .init("values", .oneOf([.tensorValue, .list(.oneOf([.number(), .tensorValue]))]), variadic: true),
                .init("bins", .wholeNumber(min: 1), .number(30)), .init("names", .optional(.strings), Value.none),
                .init("log", .bool, .bool(false)), .init("title", .optional(.string), Value.none),
            ],
            category: "plots",
            summary:
                "Histograms of tensors (a model's weights, say, before and after pruning) over shared bins; names label them. m.parameters[...] is the model's own tensor, which prune and training change in place (as a PyTorch parameter): keep a copy with detach(...) to compare before and after.",
            example:
                "histogram(detach(teacher.parameters[\"0.weight\"]), pruned.parameters[\"0.weight\"], names: [\"before\", \"after\"])"
        ) { call in
            var sets: [[Double]] = []
            for arg in call.rest {
                switch arg.value {
                case .tensor(let t): sets.append(t.value.scalars.map(Double.init))
                case .list(let items):
                    var values: [Double] = []
                    for item in items {
                        switch item {
                        case .number(let n): values.append(n)
                        case .tensor(let t): values += t.value.scalars.map(Double.init)
                        default: throw call.fail("values", got: arg.value, at: arg.range)
                        }
                    }
                    sets.append(values)
                default: throw call.fail("values", got: arg.value, at: arg.range)
                }
            }
            guard !sets.isEmpty else { throw call.error("histogram needs at least one tensor of values") }
            // NaN and infinity have no bin: they are left out, and the figure says how many.
            call.skippedValues += sets.reduce(0) { $0 + $1.filter { !$0.isFinite }.count }
            sets = sets.map { $0.filter(\.isFinite) }
            guard sets.contains(where: { !$0.isEmpty }) else {
                throw call.error("histogram has no finite values to draw (\(call.skippedValues) NaN or infinite)")
            }
            let names = try call.ifGiven("names", call.strings)
            if let names, names.count != sets.count {
                throw call.error("\(names.count) names for \(sets.count) sets of values", at: "names")
            }
            return .plot(
                try Plots.histogram(
                    sets, bins: try call.int("bins"), names: names, log: try call.bool("log"),
                    title: try call.ifGiven("title", call.string)))
        },
        Builtin(
            "latex", [.init("function", .function())], category: "plots",
            summary: "A loss function written in Retort as a LaTeX formula (a notebook shows it typeset).",
            example: "latex(kd)"
        ) { call in
            guard case .function(.closure(let c)) = call.value("function") else {
                throw call.fail("function", "a function written in Retort")
            }
            return .formula(try latexFormula(of: c.declaration))
        },
        Builtin(
            "term", [.init("name", .string), .init("value", .number())], category: "training",
            summary:
                "Names part of a loss and returns it unchanged; fit and distill record each term per epoch, and plot draws it in its own panel.",
            example: "term(\"kd\", alpha * T^2 * kl_div(log_softmax(s / T), softmax(t / T)))"
        ) { call in
            let name = try call.string("name")
            // Outside fit and distill nobody reads the terms, so none are kept.
            call.interpreter.trainingContext?.log(name, try call.number("value"))
            return call.value("value")
        },
    ]
}
