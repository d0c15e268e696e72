import RetortPlot
import XCTest

@testable import RetortLang

/// The plotting builtins from the language: what they return, how they fail, and `save`.
final class PlotBuiltinTests: XCTestCase {
    func run(_ session: Session, _ code: String) -> (value: Value?, error: String?) {
        switch session.execute(code) {
        case .success(let value): return (value, nil)
        case .failure(let diagnostics): return (nil, session.render(diagnostics))
        }
    }

    func testMistakesSayWhatWasExpectedAndWhere() {
        let session = Session(sink: CollectingSink())
        _ = run(session, "let kept = 42")
        let cases: [(String, String)] = [
            ("plot(3)", "1:6: TypeError: `histories` of plot must be a training history, a list of numbers or a graph, got 3"),
            ("plot()", "plot needs something to draw"),
            ("images(randn([2, 10]))", "each row has 10 values, not a square image: give shape: [height, width]"),
            ("images(randn([2, 12]), shape: [3, 5])", "shape [3, 5] holds 15 pixels but each image has 12 values"),
            ("bars([0.5, 0.5], labels: [\"a\"])", "labels has 1 names for 2 values"),
            ("bars([1, 2], over: [0, 1])", "`over` of bars must be a list of numbers > 0 or none"),
            (
                "boundary(mlp([64, 10]), digits())",
                "boundary needs data with 2 input features to draw on a plane; this dataset's inputs are [64]"
            ),
            ("bars([])", "`values` has no values to draw"),
            ("plot([-1, 0], log: true)", "a log scale needs positive values, and these have none"),
            ("heatmap([[]])", "`matrix` has no values to draw"),
            ("images(zeros([0, 64]))", "there are no images to draw"),
            ("heatmap(\"x\")", "`matrix` of heatmap must be a vector, a matrix or a list of equally long vectors"),
            ("save(plot([1, 2]), \"loss.jpg\")", "cannot tell the format of \"loss.jpg\" (.jpg): use .svg, .png or .pdf"),
            ("save(3, \"x.png\")", "`what` of save must be a model, a plot or a record of tensors"),
            ("latex(softmax)", "`function` of latex must be a function written in Retort"),
            ("latex(fn (x) { for i in 1..3 { x } })", "latex: a 'for' loop has no formula"),
        ]
        for (code, expected) in cases {
            let (_, error) = run(session, code)
            XCTAssertTrue(error?.contains(expected) ?? false, "\(code): \(error ?? "no error")")
        }
        guard case .number(42)? = run(session, "kept").value else { return XCTFail("the session lost `kept`") }
    }

    func testPlotsAreValuesWithASummaryAndText() throws {
        let session = Session(sink: CollectingSink())
        guard case .plot(let figure)? = run(session, "bars(softmax([1.0, 2.0, 3.0]), over: [1, 4])").value else {
            return XCTFail("bars did not return a plot")
        }
        XCTAssertEqual(figure.panels.map(\.title), ["T = 1", "T = 4"])
        XCTAssertEqual(figure.summary, "<plot 2 panels of bars>")
        let text = Value.plot(figure).displayText(width: 60, colour: false)
        XCTAssertTrue(text.contains("T = 4"), text)
        XCTAssertFalse(text.contains("\u{1B}"), "no escape codes without colour")
        XCTAssertTrue(text.split(separator: "\n").allSatisfy { $0.count <= 60 }, text)
    }

    func testSaveWritesEachFormat() throws {
        let session = Session(sink: CollectingSink())
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("retort-plot-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for ext in ["svg", "png", "pdf"] {
            let path = dir.appendingPathComponent("curve.\(ext)").path
            XCTAssertNil(run(session, "save(plot([3, 1, 2]), \"\(path)\")").error)
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            let magic: [String: [UInt8]] = [
                "svg": Array("<?xml".utf8), "png": [0x89, 0x50, 0x4E, 0x47], "pdf": Array("%PDF-".utf8),
            ]
            XCTAssertTrue(data.starts(with: magic[ext] ?? []), "\(ext) starts with \(Array(data.prefix(5)))")
        }
    }

    func testLatexOfTheHintonLoss() throws {
        let session = Session(sink: CollectingSink())
        guard case .formula(let latex)? = run(session, "latex(kd)").value else { return XCTFail("latex(kd) is not a formula") }
        XCTAssertTrue(latex.hasPrefix("\\mathrm{kd}(s, t, y) = \\alpha \\, T^{2} \\, \\mathrm{KL}"), latex)
    }

    func testTablesRenderAsHTML() throws {
        let table = Value.table(Table(columns: ["model", "accuracy"], rows: [["a<b", "97.5%"]], title: "results"))
        XCTAssertEqual(
            table.displayHTML,
            "<table>\n<caption>results</caption>\n<thead><tr><th>model</th><th>accuracy</th></tr></thead>\n<tbody>\n<tr><td>a&lt;b</td><td style=\"text-align: right\">97.5%</td></tr>\n</tbody>\n</table>"
        )
    }
}

/// The live loss plot a notebook shows while `fit` runs: its title names the run, so its legend
/// tells only the training line from the validation one (it once named the dashed line alone).
final class TrainingMonitorTests: XCTestCase {
    func testTheLiveLegendNamesTheTrainingAndTheValidationLines() {
        for (code, expected) in [
            ("let (a, b) = split(digits(), 0.8)\nfit(mlp([64, 10]), a, epochs: 2, validation: b)", ["training", "validation"]),
            ("fit(mlp([64, 10]), digits(), epochs: 2)", []),
        ] {
            let sink = CollectingSink()
            let session = Session(sink: sink)
            guard case .success = session.execute(code) else { return XCTFail("\(code) failed") }
            let monitor = TrainingMonitor()
            for event in sink.events { monitor.record(event) }
            XCTAssertEqual(monitor.figure?.legend.map(\.label), expected, code)
        }
    }
}

/// plot's axes: named by xlabel: and ylabel: (matplotlib's), whole-number positions ticked as whole
/// numbers (epochs 1 to 10 once ticked at 1.5, 2.5, ...), and a history's axes are its own.
final class PlotAxisTests: XCTestCase {
    func testVectorAxesTakeTheirNamesAndWholeNumberPositions() throws {
        let session = Session(sink: CollectingSink())
        guard
            case .success(.plot(let figure)) = session.execute(
                "plot([3, 2, 1.5], x: arange(1, 4), xlabel: \"epoch\", ylabel: \"mean loss\")")
        else { return XCTFail("plot failed") }
        let panel = try XCTUnwrap(figure.panels.first)
        XCTAssertEqual(panel.x.label, "epoch")
        XCTAssertEqual(panel.y.label, "mean loss")
        XCTAssertTrue(panel.x.wholeNumbers)
        guard case .success(.plot(let halves)) = session.execute("plot([3, 2], x: [0.5, 1])") else {
            return XCTFail("plot failed")
        }
        XCTAssertEqual(halves.panels.first?.x.label, "x")
        XCTAssertEqual(halves.panels.first?.x.wholeNumbers, false)
        _ = session.execute("let h = fit(mlp([64, 10]), digits(), epochs: 1, quiet: true)")
        guard case .failure(let diagnostics) = session.execute("plot(h, ylabel: \"loss\")") else {
            return XCTFail("a history's ylabel was taken")
        }
        XCTAssertTrue(session.render(diagnostics).contains("each panel named by its metric; ylabel: is for vectors"))
    }

    /// A node reading two layers' parameters (attention's c_attn and c_proj) names the layer that
    /// holds both, cut at a dot: it read "transformer.h.0.attn.c_", a layer no model has.
    func testAGraphNodeNamesTheLayerHoldingItsParameters() throws {
        let session = Session(sink: CollectingSink())
        guard
            case .success(.plot(let figure)) = session.execute(
                "plot(graph(gpt(vocab: 30, block: 8, layers: 1, heads: 2, width: 16), [1, 8]))"),
            let diagram = figure.diagram
        else { return XCTFail("no diagram") }
        let details = diagram.nodes.compactMap { (node: Diagram.Node) in node.detail }
        XCTAssertTrue(details.contains { $0.hasSuffix("· layer transformer.h.0.attn") }, "\(details)")
        XCTAssertFalse(
            details.contains { $0.contains("attn.c_") && !$0.contains("c_attn") && !$0.contains("c_proj") }, "\(details)")
    }
}
