import XCTest

@testable import RetortPlot

/// Labels and numbers where many share little room: a confusion matrix of 27 classes turns its
/// column names upright (they ran into one another side by side), and the numbers of a 20×20
/// annotated heatmap shrink to fit their cells (they ran together).
final class CrowdedLabelTests: XCTestCase {
    /// Records each text drawn with its size, measuring as `RecordingCanvas` does (0.55 em a character).
    final class TextSpy: Canvas {
        struct Drawn {
            let text: String, x: Double, y: Double, size: Double, anchor: TextAnchor, vertical: Bool
        }
        var texts: [Drawn] = []
        func textWidth(_ text: String, size: Double, bold: Bool) -> Double { Double(text.count) * size * 0.55 }
        func fill(_ rect: Rect, _ colour: Colour, alpha: Double) {}
        func strokeRect(_ rect: Rect, _ colour: Colour, width: Double) {}
        func polyline(_ points: [(Double, Double)], _ colour: Colour, width: Double, dashed: Bool) {}
        func circle(x: Double, y: Double, radius: Double, _ colour: Colour, alpha: Double) {}
        func text(
            _ text: String, x: Double, y: Double, size: Double, bold: Bool, _ colour: Colour, anchor: TextAnchor,
            vertical: Bool
        ) {
            texts.append(Drawn(text: text, x: x, y: y, size: size, anchor: anchor, vertical: vertical))
        }
        func image(_ pixels: [Colour], rows: Int, columns: Int, in rect: Rect) {}
        func clip(_ rect: Rect) {}
        func unclip() {}
    }

    private func drawn(_ figure: Figure) -> [TextSpy.Drawn] {
        let spy = TextSpy()
        FigureRenderer(figure: figure, canvas: spy).draw()
        return spy.texts
    }

    private func confusion(_ names: [String], width: Double = 640) -> Figure {
        let n = names.count
        let counts = (0..<(n * n)).map { Double($0 % n == $0 / n ? 20 : $0 % 3) }
        return Figure(
            panels: [
                Panel(
                    title: "student", x: Axis(label: "predicted", categories: names),
                    y: Axis(label: "true", categories: names, inverted: true),
                    marks: [.heatmap(Heatmap(rows: n, columns: n, values: counts))], legend: false)
            ], width: width, height: 640)
    }

    func testManyColumnNamesStandUprightWithoutOverlapAndStayOnTheFigure() {
        let names = (0..<27).map { "class \($0)" }
        let figure = confusion(names)
        let texts = drawn(figure)
        let columns = texts.filter { names.contains($0.text) && $0.vertical }
        XCTAssertEqual(columns.count, 27, "every column name, upright: \(texts.filter { names.contains($0.text) })")
        let xs = columns.map(\.x).sorted()
        for (a, b) in zip(xs, xs.dropFirst()) {
            XCTAssertGreaterThanOrEqual(b - a, columns[0].size, "upright names a line apart at least")
        }
        for label in columns {
            // Anchored at its end under the axis, the name runs down from there and ends on the figure.
            XCTAssertEqual(label.anchor, .end)
            XCTAssertLessThanOrEqual(label.y + Double(label.text.count) * label.size * 0.55, figure.height)
        }
        // The axis label goes below the upright names, not across them.
        let axisLabel = texts.first { $0.text == "predicted" }
        let lowest = columns.map { $0.y + Double($0.text.count) * $0.size * 0.55 }.max() ?? 0
        XCTAssertGreaterThan(axisLabel?.y ?? 0, lowest)
        // Row names stay as they are.
        XCTAssertEqual(texts.filter { names.contains($0.text) && !$0.vertical }.count, 27)
    }

    /// Long names on a square matrix: the upright names' room narrows it, and every name is drawn
    /// only while each keeps a line's width; else every few, still a line apart at least.
    func testUprightNamesOnANarrowedMatrixStayALineApart() {
        let names = (0..<36).map { "a rather long class name \($0)" }
        let texts = drawn(confusion(names, width: 1200))
        let columns = texts.filter { names.contains($0.text) && $0.vertical }
        XCTAssertFalse(columns.isEmpty)
        XCTAssertLessThan(columns.count, names.count, "every name would stand closer than a line apart")
        let xs = columns.map(\.x).sorted()
        for (a, b) in zip(xs, xs.dropFirst()) { XCTAssertGreaterThanOrEqual(b - a, columns[0].size * 1.2 - 1e-9) }
    }

    func testFewColumnNamesStayLevel() {
        let names = ["cat", "dog", "fox"]
        let columns = drawn(confusion(names)).filter { names.contains($0.text) }
        XCTAssertEqual(columns.count, 6)
        XCTAssertTrue(columns.allSatisfy { !$0.vertical })
    }

    func testAnnotatedNumbersFitTheirCells() {
        let n = 20
        let values = (0..<(n * n)).map { Double($0 + 1) / 997 }
        let figure = Figure(
            panels: [
                Panel(
                    title: nil, x: Axis(categories: (0..<n).map(String.init)),
                    y: Axis(categories: (0..<n).map(String.init), inverted: true),
                    marks: [.heatmap(Heatmap(rows: n, columns: n, values: values, annotate: true))], legend: false)
            ], width: 640, height: 480)
        let numbers = drawn(figure).filter { $0.text.contains(".") }
        XCTAssertEqual(numbers.count, n * n)
        // Cells sit this far apart: each number is narrower than that, with room on either side.
        let row = numbers.filter { abs($0.y - numbers[0].y) < 0.01 }.map(\.x).sorted()
        let cell = (row.last! - row.first!) / Double(row.count - 1)
        for number in numbers {
            XCTAssertLessThanOrEqual(Double(number.text.count) * number.size * 0.55, cell * 0.86, number.text)
        }
    }
}
