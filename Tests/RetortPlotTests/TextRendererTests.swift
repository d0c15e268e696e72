import Foundation
import XCTest

@testable import RetortPlot

final class TextRendererTests: XCTestCase {
    // MARK: Helpers

    /// The lines of `text` with colour escapes removed, after checking the shape every rendering must have.
    private func lines(_ text: String, width: Int, file: StaticString = #filePath, line: UInt = #line) -> [String] {
        XCTAssertTrue(text.hasSuffix("\n"), "output ends with a newline", file: file, line: line)
        let plain = text.replacingOccurrences(of: "\u{1B}\\[[0-9;]*m", with: "", options: .regularExpression)
        let result = plain.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
        for l in result {
            XCTAssertLessThanOrEqual(l.count, width, "too wide: \(l)", file: file, line: line)
            XCTAssertFalse(l.hasSuffix(" "), "trailing space: [\(l)]", file: file, line: line)
        }
        return result
    }

    private func isBraille(_ c: Character) -> Bool {
        c.unicodeScalars.allSatisfy { (0x2801...0x28FF).contains($0.value) }
    }

    /// The words of the line under the bottom frame of the first panel: its x tick labels.
    private func xTickLabels(_ lines: [String]) -> [String] {
        guard let bottom = lines.firstIndex(where: { $0.contains("└") }), bottom + 1 < lines.count else { return [] }
        return lines[bottom + 1].split(separator: " ").map(String.init)
    }

    private var lossFigure: Figure {
        let epochs = (0...100).map(Double.init)
        return Figure(
            title: "Distillation",
            panels: [
                Panel(
                    x: Axis(label: "epoch"), y: Axis(label: "loss"),
                    marks: [
                        .line(Line(label: "train", x: epochs, y: epochs.map { 2 * exp(-$0 / 25) + 0.1 }, colour: 0)),
                        .line(
                            Line(
                                label: "validation", x: epochs, y: epochs.map { 2 * exp(-$0 / 30) + 0.3 }, colour: 1, dashed: true
                            )),
                    ])
            ])
    }

    // MARK: Lines

    func testBrailleDotsAndSegments() {
        var grid = BrailleGrid(columns: 2, rows: 1)
        grid.set(0, 0, colour: nil)
        grid.set(3, 3, colour: nil)
        XCTAssertEqual(grid.cell(column: 0, row: 0)?.character, "⠁")
        XCTAssertEqual(grid.cell(column: 1, row: 0)?.character, "⢀")
        var line = BrailleGrid(columns: 2, rows: 1), dash = 0
        line.segment(from: (0, 1.5), to: (3.9, 1.5), colour: Palette.series(2), dashed: false, dashCounter: &dash)
        XCTAssertEqual(line.cell(column: 0, row: 0)?.character, "⠒")
        XCTAssertEqual(line.cell(column: 1, row: 0)?.colour, Palette.series(2))
        // Clipped to the grid rather than drawn out of bounds.
        line.segment(from: (-10, -10), to: (10, 10), colour: nil, dashed: false, dashCounter: &dash)
        XCTAssertEqual(dash, 4 + 4)
    }

    func testTwoSeriesLinePanelHasLegendTicksAndBraille() {
        let figure = lossFigure
        let out = lines(figure.text(width: 72), width: 72)
        XCTAssertEqual(out.first?.trimmingCharacters(in: .whitespaces), "Distillation")
        // Without colour each series carries its marker along its line and in the legend, so they tell apart.
        XCTAssertTrue(out.contains { $0.contains("─•─ train") && $0.contains("╌×╌ validation") }, out.joined(separator: "\n"))
        let plotRows = out.filter { $0.contains("│") }
        XCTAssertEqual(plotRows.joined().filter { $0 == "•" }.count, PanelText.markersPerLine, out.joined(separator: "\n"))
        XCTAssertEqual(plotRows.joined().filter { $0 == "×" }.count, PanelText.markersPerLine, out.joined(separator: "\n"))
        XCTAssertTrue(out.contains { $0.hasPrefix("loss") })
        XCTAssertTrue(out.contains { $0.trimmingCharacters(in: .whitespaces) == "epoch" })
        XCTAssertEqual(xTickLabels(out), ["0", "20", "40", "60", "80", "100"])
        // Every y tick label sits right-aligned against a tick on the frame.
        let y = Scale.of(figure.panels[0]).y
        let margin = y.tickLabels.map(\.count).max()!
        for label in y.tickLabels {
            let padded = String(repeating: " ", count: margin - label.count) + label + " ┤"
            XCTAssertTrue(out.contains { $0.hasPrefix(padded) }, "no tick row for \(label)")
        }
        XCTAssertGreaterThan(out.joined().filter(isBraille).count, 60)
        XCTAssertFalse(figure.text(width: 72).contains("\u{1B}"))

        let coloured = figure.text(width: 72, colour: true)
        XCTAssertTrue(coloured.contains(Palette.series(0).ansiForeground))
        XCTAssertTrue(coloured.contains(Palette.series(1).ansiForeground))
        XCTAssertTrue(coloured.contains("\u{1B}[0m"))
        // With colour, the colours tell them apart: no markers.
        let colouredLines = lines(coloured, width: 72)
        XCTAssertTrue(colouredLines.contains { $0.contains("── train") && $0.contains("╌╌ validation") })
        XCTAssertFalse(colouredLines.joined().contains { $0 == "•" || $0 == "×" }, colouredLines.joined(separator: "\n"))
        XCTAssertEqual(colouredLines.count, out.count)
    }

    func testLineHigherInDataIsHigherOnScreenAndNaNBreaksIt() {
        let figure = Figure(panels: [Panel(marks: [.line(Line(x: [0, 1, 2, 3, 4], y: [0, 0, .nan, 10, 10], colour: 0))])])
        let out = lines(figure.text(width: 40), width: 40)
        let rows = out.enumerated().filter { $0.element.contains(where: isBraille) }.map(\.offset)
        XCTAssertEqual(rows.count, 2, "two flat pieces, nothing joining them across the gap:\n" + out.joined(separator: "\n"))
        let top = out[rows[0]], bottom = out[rows[1]]
        XCTAssertLessThan(bottom.firstIndex(where: isBraille)!, top.firstIndex(where: isBraille)!)
    }

    func testLogScaleSpacesDecadesEvenly() {
        let x = (0...60).map(Double.init)
        let panel = Panel(y: Axis(scale: .log), marks: [.line(Line(x: x, y: x.map { pow(10, -$0 / 20) }, colour: 0))])
        let out = lines(Figure(panels: [panel]).text(width: 60, height: 25), width: 60)
        let y = Scale.of(panel).y
        XCTAssertTrue(y.log)
        let rows = y.tickLabels.map { label in out.firstIndex { $0.trimmingCharacters(in: .whitespaces).hasPrefix(label + " ┤") }
        }
        XCTAssertEqual(rows.count, 4, "ticks at 1, 0.1, 0.01, 0.001: \(y.tickLabels)")
        let found = rows.compactMap { $0 }
        XCTAssertEqual(found.count, rows.count, out.joined(separator: "\n"))
        // Higher decades higher up, and equally far apart (a linear axis would crowd the small ones at the bottom).
        let gaps = zip(found, found.dropFirst()).map { $0 - $1 }
        XCTAssertTrue(gaps.allSatisfy { $0 > 0 }, "\(found)")
        XCTAssertLessThanOrEqual(gaps.max()! - gaps.min()!, 1, "\(found)")
        // The straight line in log space crosses the middle tick row near the middle of the plot.
        let middle = out[found[1]]
        let column = middle.firstIndex(where: isBraille).map { middle.distance(from: middle.startIndex, to: $0) } ?? -1
        XCTAssertEqual(Double(column), 60 * 2 / 3, accuracy: 8, middle)
    }

    // MARK: Bars

    func testBarChartWithDigitCategories() {
        let categories = (0..<10).map(String.init)
        let figure = Figure(panels: [
            Panel(
                x: Axis(label: "digit", categories: categories),
                marks: [
                    .bars(
                        Bars(
                            label: "count", x: (0..<10).map(Double.init), heights: (1...10).map { Double($0) * 10 }, width: 0.8,
                            colour: 0))
                ])
        ])
        let out = lines(figure.text(width: 72), width: 72)
        XCTAssertEqual(xTickLabels(out), categories)
        XCTAssertTrue(out.contains { $0.contains("██ count") })
        // Ten separate bars stand on the bottom row, and the tallest alone reaches the top one.
        let bottom = out.firstIndex { $0.contains("└") }!
        let lowest = out[bottom - 1], highest = out.first { $0.contains("│") && !$0.contains("┌") }!
        let inside = { (l: String) in String(l.drop { $0 != "┤" && $0 != "│" }.dropFirst().dropLast()) }
        XCTAssertEqual(inside(lowest).split(separator: " ").count, 10, lowest)
        XCTAssertEqual(inside(highest).split(separator: " ").count, 1, highest)
        XCTAssertTrue("▁▂▃▄▅▆▇█".contains(inside(highest).trimmingCharacters(in: .whitespaces).first!), highest)
        XCTAssertEqual(Set(inside(lowest).split(separator: " ").map(\.count)).count, 1, "equal bars, equal widths: \(lowest)")
    }

    func testCollidingCategoryLabelsAreSkippedNotOverlapped() {
        let names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
        let figure = Figure(panels: [
            Panel(
                x: Axis(categories: names),
                marks: [.bars(Bars(x: (0..<10).map(Double.init), heights: Array(repeating: 1, count: 10), width: 0.8, colour: 0))]
            )
        ])
        let labels = xTickLabels(lines(figure.text(width: 50), width: 50))
        XCTAssertGreaterThanOrEqual(labels.count, 3)
        XCTAssertLessThan(labels.count, 10)
        XCTAssertTrue(labels.allSatisfy(names.contains), "\(labels)")
    }

    func testGroupedBarsStayDistinguishableWithoutColour() {
        let categories = ["a", "b", "c"]
        let figure = Figure(panels: [
            Panel(
                x: Axis(categories: categories),
                marks: [
                    .bars(Bars(label: "teacher", x: [-0.2, 0.8, 1.8], heights: [3, 5, 4], width: 0.4, colour: 0)),
                    .bars(Bars(label: "student", x: [0.2, 1.2, 2.2], heights: [2, 4, 5], width: 0.4, colour: 1)),
                ])
        ])
        let plain = lines(figure.text(width: 60), width: 60).joined(separator: "\n")
        XCTAssertTrue(plain.contains("██ teacher"), plain)
        XCTAssertTrue(plain.contains("▓▓ student"), plain)
        XCTAssertTrue(plain.contains("█▓"), "grouped bars touch:\n" + plain)
        let coloured = figure.text(width: 60, colour: true)
        XCTAssertFalse(coloured.contains("▓"), "colour tells them apart instead")
        XCTAssertTrue(coloured.contains(Palette.series(1).ansiForeground + "█"))
    }

    // MARK: Layout

    func testTwoPanelsSideBySideWhenWideStackedWhenNarrow() {
        let x = (0..<50).map(Double.init)
        let figure = Figure(panels: [
            Panel(title: "loss", marks: [.line(Line(x: x, y: x.map { 1 / ($0 + 1) }, colour: 0))]),
            Panel(title: "accuracy", marks: [.line(Line(x: x, y: x.map { 1 - 1 / ($0 + 1) }, colour: 2))]),
        ])
        let wide = lines(figure.text(width: 80), width: 80)
        XCTAssertTrue(wide.contains { $0.contains("loss") && $0.contains("accuracy") })
        XCTAssertEqual(wide.filter { $0.contains("┌") }.count, 1)
        XCTAssertTrue(wide.contains { $0.filter { $0 == "┌" }.count == 2 })

        let narrow = lines(figure.text(width: 45), width: 45)
        XCTAssertFalse(narrow.contains { $0.contains("loss") && $0.contains("accuracy") })
        XCTAssertEqual(narrow.filter { $0.contains("┌") }.count, 2)
        XCTAssertLessThan(narrow.firstIndex { $0.contains("loss") }!, narrow.firstIndex { $0.contains("accuracy") }!)
    }

    func testHeightIsRespected() {
        let out = lines(lossFigure.text(width: 60, height: 16), width: 60)
        XCTAssertEqual(out.count, 16, out.joined(separator: "\n"))
    }

    // MARK: Heatmaps

    func testAnnotatedConfusionMatrixShowsItsNumbers() {
        let names = ["cat", "dog", "bird"]
        let figure = Figure(panels: [
            Panel(
                x: Axis(label: "predicted", categories: names), y: Axis(label: "true", categories: names, inverted: true),
                marks: [.heatmap(Heatmap(rows: 3, columns: 3, values: [50, 2, 3, 4, 45, 1, 0, 7, 38], annotate: true))])
        ])
        let out = lines(figure.text(width: 72), width: 72)
        func cells(_ row: String) -> [String] {
            guard let l = out.first(where: { $0.trimmingCharacters(in: .whitespaces).hasPrefix(row + " ┤") }) else { return [] }
            return l.split(separator: "┤")[1].split(separator: "│")[0].split(separator: " ").map(String.init)
        }
        XCTAssertEqual(cells("cat"), ["50", "2", "3"], out.joined(separator: "\n"))
        XCTAssertEqual(cells("dog"), ["4", "45", "1"])
        XCTAssertEqual(cells("bird"), ["0", "7", "38"])
        XCTAssertEqual(xTickLabels(out), names)
        // It keeps its own small grid instead of stretching to 72 columns.
        XCTAssertLessThan(out.map(\.count).max()!, 30)

        let coloured = figure.text(width: 72, colour: true)
        XCTAssertTrue(coloured.contains("\u{1B}[48;2;"))
        // The darkest cell gets white ink, the lightest black.
        XCTAssertTrue(
            coloured.contains(
                Colour(1, 1, 1).ansiForeground + Palette.colour(50, in: (0, 50), map: .sequential).ansiBackground + "50"))
        XCTAssertTrue(
            coloured.contains(
                Colour(0, 0, 0).ansiForeground + Palette.colour(0, in: (0, 50), map: .sequential).ansiBackground + "0"))
    }

    func testGridOfImagesIsCompactWithTitles() {
        // A ring: bright cells on the border of each 8×8 image, dark inside.
        let ring = (0..<64).map { i -> Double in
            let r = i / 8, c = i % 8
            return r == 0 || r == 7 || c == 0 || c == 7 ? 16 : 0
        }
        let figure = Figure(
            panels: (0..<4).map { k in
                Panel(
                    title: "label \(k)", x: Axis(hidden: true), y: Axis(inverted: true, hidden: true),
                    marks: [.heatmap(Heatmap(rows: 8, columns: 8, values: ring, colourMap: .grey, range: (0, 16)))])
            }, columns: 4)
        let out = lines(figure.text(width: 80), width: 80)
        XCTAssertEqual(out.count, 9, "a title line and eight image rows:\n" + out.joined(separator: "\n"))
        XCTAssertEqual(out[0].components(separatedBy: "label ").count, 5)
        XCTAssertFalse(out.joined().contains { "┌│└┤┬".contains($0) }, "hidden axes draw no frame")
        // Each image keeps its 8×8 grid at two characters per cell: a full top edge, then hollow rows.
        XCTAssertEqual(out[1].filter { $0 == "@" }.count, 4 * 16)
        XCTAssertEqual(out[4].filter { $0 == "@" }.count, 4 * 4)
        XCTAssertTrue(out[4].contains("@@            @@"), out[4])
    }

    func testScatterLegendListsOnlyTheClassesItsPointsHave() {
        let points = Points(
            x: [0, 1, 2], y: [0, 1, 2], classes: [0, 1, 7], classNames: (0...7).map { "class \($0)" })
        let out = Figure(panels: [Panel(marks: [.points(points)])]).text(width: 80)
        for k in [0, 1, 7] { XCTAssertTrue(out.contains("class \(k)"), out) }
        for k in 2...6 { XCTAssertFalse(out.contains("class \(k)"), "no point has class \(k):\n\(out)") }
    }

    func testScatterClassesOverDecisionRegions() {
        let n = 30
        let regions = (0..<n * n).map { i -> Double in (Double(i % n) + 0.5) / Double(n) > 0.5 ? 1 : 0 }
        let panel = Panel(
            x: Axis(label: "x1"), y: Axis(label: "x2"),
            marks: [
                .heatmap(Heatmap(rows: n, columns: n, values: regions, colourMap: .classes, extent: (-3, 3, -3, 3))),
                .points(
                    Points(
                        x: [-2, -1.5, -2.5, 2, 1.5, 2.5], y: [1, -1, 2, 0, -2, 2], classes: [0, 0, 0, 1, 1, 1],
                        classNames: ["negative", "positive"])),
            ])
        let out = lines(Figure(panels: [panel]).text(width: 64), width: 64)
        XCTAssertTrue(out.contains { $0.contains("• negative") && $0.contains("× positive") }, out.joined(separator: "\n"))
        XCTAssertEqual(out.joined().filter { $0 == "•" }.count, 3 + 1, "three points and the legend")
        XCTAssertEqual(out.joined().filter { $0 == "×" }.count, 3 + 1)
        // Inside the frame: class 1's region (x > 0) is dotted, class 0's is blank, each class's points on its side.
        let plotRows = out.filter { $0.contains("│") || $0.contains("┤") }.filter { !$0.contains("┌") && !$0.contains("└") }
        XCTAssertFalse(plotRows.isEmpty)
        for row in plotRows {
            let inside = Array(row.split(separator: row.contains("┤") ? "┤" : "│", maxSplits: 1)[1].dropLast())
            let half = inside.count / 2
            XCTAssertFalse(inside[..<half].contains("·"), row)
            XCTAssertFalse(inside[..<half].contains("×"), row)
            XCTAssertFalse(inside[half...].contains("•"), row)
            XCTAssertTrue(inside[(half + 1)...].allSatisfy { $0 == "·" || $0 == "×" }, row)
        }
        let coloured = Figure(panels: [panel]).text(width: 64, colour: true)
        XCTAssertTrue(coloured.contains(Palette.colour(1, in: (0, 1), map: .classes).ansiForeground + "·"))
        XCTAssertTrue(coloured.contains(Palette.series(1).ansiForeground + "×"))
    }

    func testNoTrailingSpacesOrOverflowAtAnyWidth() {
        // Data far outside fixed limits, infinities and NaNs are clipped, not crashed on.
        let wild = Panel(
            x: Axis(limits: (0, 1)), y: Axis(limits: (0, 1)),
            marks: [
                .heatmap(Heatmap(rows: 2, columns: 2, values: [0, .nan, 1, .infinity], extent: (-1e300, 1e300, 0, 1))),
                .bars(Bars(x: [1e200, 0.5, .nan], heights: [1, -1e300, 2], width: 0.1, colour: 0)),
                .line(Line(x: [-1e300, 0.5, 1e300, .infinity], y: [0.5, 1e300, -1e300, 0], colour: 1)),
                .points(Points(x: [0.5, 1e300], y: [1e300, 0.5], classes: [0, 1], classNames: ["a", "b"])),
            ])
        for width in [1, 8, 20, 33, 50, 80, 130] {
            for colour in [false, true] {
                _ = lines(lossFigure.text(width: width, colour: colour), width: width)
                _ = lines(
                    Figure(title: "wild", panels: [wild, wild]).text(width: width, height: 12, colour: colour), width: width)
            }
        }
        XCTAssertEqual(Figure(panels: []).text(), "\n")
    }
}
