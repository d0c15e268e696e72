import Foundation
import RetortTensor
import XCTest

@testable import RetortPlot

/// Figures whose numbers are NaN, infinite, huge or sized past memory: every renderer draws what it can
/// or throws an error naming the size, and none ends the process.
final class DegenerateFigureTests: XCTestCase {
    /// Renders `figure` every way a front end does.
    private func renderEveryWay(_ figure: Figure, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(figure.text(width: 60).hasSuffix("\n"), file: file, line: line)
        XCTAssertTrue(figure.text(width: 60, height: 12, colour: true).hasSuffix("\n"), file: file, line: line)
        XCTAssertNoThrow(try figure.png(scale: 1), file: file, line: line)
        XCTAssertNoThrow(try figure.svg(), file: file, line: line)
    }

    func testWholeNumbersFromNaNInfinityAndHugeValuesAreClamped() {
        XCTAssertEqual(wholeNumber(.nan, in: 0...9), 0)
        XCTAssertEqual(wholeNumber(.infinity, in: 0...9), 9)
        XCTAssertEqual(wholeNumber(-.infinity, in: 0...9), 0)
        XCTAssertEqual(wholeNumber(3.7, in: 0...9), 3)
        XCTAssertEqual(wholeNumber(1e300, in: Int.min...Int.max), Int.max)
        XCTAssertEqual(wholeNumber(-1e300, in: Int.min...Int.max), Int.min)
        XCTAssertEqual(wholeNumber(Double(Int.max), in: Int.min...Int.max), Int.max)
    }

    /// `bars(v, over: [1])` with a NaN among the values: softmax makes every value NaN, so the axis
    /// limits are NaN too, and the terminal renderer's baseline once trapped converting that to Int.
    func testBarsOnAnAxisWithNaNLimitsAreSkipped() {
        let bars = Bars(x: [0, 1, 2], heights: [.nan, .nan, .nan], width: 0.8, colour: 0)
        let figure = Figure(panels: [
            Panel(x: Axis(categories: ["0", "1", "2"]), y: Axis(limits: (0, .nan)), marks: [.bars(bars)])
        ]).notingSkipped()
        renderEveryWay(figure)
        XCTAssertTrue(figure.text(width: 60).contains("3 values NaN or infinite, not drawn"))
    }

    func testValuesFarOffAFixedAxisAndSpansTooWideForADouble() {
        renderEveryWay(
            Figure(panels: [
                Panel(y: Axis(limits: (0, 1)), marks: [.line(Line(x: [0, 1, 2], y: [0, 1e308, -1e308], colour: 0))])
            ]))
        renderEveryWay(Figure(panels: [Panel(marks: [.line(Line(x: [0, 1], y: [-1.7e308, 1.7e308], colour: 0))])]))
        // The margin around ±1.7e308 makes the axis infinite, and zero's place on it (the bars' base) NaN.
        let bars = Bars(x: [0, 1], heights: [-1.7e308, 1.7e308], width: 0.8, colour: 0)
        renderEveryWay(Figure(panels: [Panel(x: Axis(categories: ["a", "b"]), marks: [.bars(bars)])]))
        renderEveryWay(
            Figure(panels: [Panel(y: Axis(scale: .log), marks: [.line(Line(x: [0, 1], y: [1e-300, 1e308], colour: 0))])]))
        XCTAssertEqual(Ticks.linear(-1.7e308, 1.7e308), [-1.7e308, 1.7e308])
        XCTAssertEqual(Ticks.log(1e-300, .infinity), [])
        XCTAssertEqual(Ticks.labels([0, .infinity]).count, 2)
    }

    func testColourComponentsOutsideZeroToOneAreClamped() {
        let odd = Colour(.nan, 2, -1)
        XCTAssertEqual(odd.ansiForeground, "\u{1B}[38;2;0;255;0m")
        XCTAssertEqual(odd.ansiBackground, "\u{1B}[48;2;0;255;0m")
        XCTAssertEqual(odd.rgb24, 0x00FF00)
        // Class indices past Int's range in a region map still get a palette colour.
        let regions = Heatmap(rows: 2, columns: 2, values: [1e300, -1e300, .infinity, 3], colourMap: .classes)
        renderEveryWay(Figure(panels: [Panel(marks: [.heatmap(regions)])]))
    }

    func testAPictureLargerThanTheBudgetIsAnErrorNamingItsSize() {
        let panel = Panel(marks: [.line(Line(x: [0, 1], y: [0, 1], colour: 0))])
        XCTAssertThrowsError(try Figure(panels: [panel], width: 1e9, height: 1e9).png(scale: 2)) { error in
            XCTAssertEqual(
                "\(error)", "png: a PNG of 2000000000 × 2000000000 pixels needs more bytes than memory can address")
        }
        XCTAssertThrowsError(try Figure(panels: [panel], width: 1e6, height: 1e6).png(scale: 2)) { error in
            XCTAssertTrue("\(error)".hasPrefix("png: a PNG of 2000000 × 2000000 pixels needs 14.6 TiB, more than"), "\(error)")
        }
        XCTAssertThrowsError(try Figure(panels: [panel], width: .nan, height: 100).svg()) { error in
            XCTAssertTrue("\(error)".contains("sizes must be finite and positive"), "\(error)")
        }
        // 10⁹ cells of a heatmap would be 24 GB of colours before cairo saw one.
        let huge = Heatmap(rows: 1, columns: 1, values: [0])
        var wide = huge
        wide.rows = 100_000
        wide.columns = 10_000
        XCTAssertThrowsError(try Figure(panels: [Panel(marks: [.heatmap(wide)])]).png()) { error in
            XCTAssertTrue("\(error)".hasPrefix("heatmap: drawing a heatmap of 100000 × 10000 cells needs 22.4 GiB"), "\(error)")
        }
    }

    func testTextIsAtMostTheLargestTerminalWide() {
        let figure = Figure(panels: [Panel(marks: [.line(Line(x: [0, 1], y: [0, 1], colour: 0))])])
        let widest = figure.text(width: Int.max, height: 40).split(separator: "\n").map(\.count).max() ?? 0
        XCTAssertLessThanOrEqual(widest, Figure.maximumTextSize)
    }

    /// A title or axis label longer than the figure is cut with an ellipsis in the SVG and PNG, as
    /// the terminal cuts it: it ran off both edges of the picture, cut mid-word.
    func testLongTitlesAndLabelsAreCutToFit() throws {
        let long = String(repeating: "distillation ", count: 20) + "END"
        let line = Line(x: [0, 1, 2], y: [1, 2, 3], colour: 0)
        let figure = Figure(
            title: long, panels: [Panel(x: Axis(label: long), y: Axis(label: long), marks: [.line(line)])], width: 640,
            height: 360)
        let texts = figure.drawingCalls().split(separator: "\n").filter { $0.hasPrefix("text \"distillation") }
        XCTAssertEqual(texts.count, 3, "the title and both labels: \(texts)")
        for text in texts {
            XCTAssertFalse(text.contains("END"), "drawn whole: \(text)")
            XCTAssertTrue(text.contains("…\""), "not ended with an ellipsis: \(text)")
        }
        XCTAssertNoThrow(try figure.png(scale: 1))
    }
}
