import Foundation
import XCTest

@testable import RetortPlot

/// Each kind of figure drawn three ways: the layout's drawing calls against a golden file, SVG
/// structure, and a PNG read back for its size and content (and written out to be looked at).
final class FigureRenderingTests: XCTestCase {
    /// Where the PNGs go for a person to open: $RETORT_PLOT_DIR, else a folder under the temp dir.
    static let pictures: URL = {
        let dir =
            ProcessInfo.processInfo.environment["RETORT_PLOT_DIR"].map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("retort-plots")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }()

    /// Compares `actual` with `Golden/FILE`; `RETORT_UPDATE_GOLDEN=1` rewrites the file instead (read
    /// the diff before committing it).
    func assertGolden(_ actual: String, file: String, _ name: String) throws {
        if ProcessInfo.processInfo.environment["RETORT_UPDATE_GOLDEN"] == "1" {
            let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden/\(file)")
            try actual.write(to: source, atomically: true, encoding: .utf8)
            return
        }
        guard let url = Bundle.module.url(forResource: "Golden/\(file)", withExtension: nil) else {
            return XCTFail("no golden file \(file) for \(name); run with RETORT_UPDATE_GOLDEN=1")
        }
        let expected = try String(contentsOf: url, encoding: .utf8)
        guard actual != expected else { return }
        let a = actual.split(separator: "\n", omittingEmptySubsequences: false)
        let e = expected.split(separator: "\n", omittingEmptySubsequences: false)
        let first = Array(zip(a, e)).firstIndex { $0 != $1 } ?? min(a.count, e.count)
        XCTFail(
            "\(name): \(file) differs from line \(first + 1): got \(first < a.count ? String(a[first]) : "<end>"), expected \(first < e.count ? String(e[first]) : "<end>")"
        )
    }

    func testLayoutMatchesGolden() throws {
        for (name, figure) in SampleFigures.all { try assertGolden(figure.drawingCalls(), file: "\(name).calls", name) }
    }

    /// The SVG's structure (size, marks by colour and width, glyphs) against `Golden/NAME.svg.txt`.
    func testSVGStructureMatchesGolden() throws {
        for (name, figure) in SampleFigures.all {
            guard let structure = SVGStructure.describe(try figure.svg()) else {
                XCTFail("\(name): the SVG does not parse as XML")
                continue
            }
            try assertGolden(structure, file: "\(name).svg.txt", name)
        }
    }

    func testSVGHasTheSizeMarksAndColoursOfTheFigure() throws {
        for (name, figure) in SampleFigures.all {
            let svg = try figure.svg()
            XCTAssertTrue(svg.contains("width=\"\(Int(figure.width))px\""), name)
            XCTAssertTrue(svg.contains("height=\"\(Int(figure.height))px\""), name)
            // Text is drawn as glyphs placed by <use>: at least one per printed character.
            let printed = figure.drawingCalls().split(separator: "\n").filter { $0.hasPrefix("text ") }
                .map { line -> Int in
                    let quoted = line.split(separator: "\"", maxSplits: 2, omittingEmptySubsequences: false)
                    return quoted.count > 1 ? quoted[1].filter { $0 != " " }.count : 0
                }.reduce(0, +)
            XCTAssertGreaterThan(printed, 0, name)
            XCTAssertGreaterThanOrEqual(svg.components(separatedBy: "<use ").count - 1, printed, "\(name): glyphs")
            XCTAssertTrue(svg.hasSuffix("</svg>\n"), name)
        }
        // Each series colour appears as a stroke or fill.
        let lines = try SampleFigures.lines.svg()
        XCTAssertTrue(lines.contains("stroke:rgb(0%,44.705882%,69.803922%)"), "first series colour (#0072B2)")
        XCTAssertTrue(lines.contains("stroke:rgb(83.529412%,36.862745%,0%)"), "second series colour (#D55E00)")
        XCTAssertTrue(lines.contains("stroke-dasharray"), "the validation curve is dashed")
    }

    func testPNGIsTwiceTheSizeAndHasContent() throws {
        for (name, figure) in SampleFigures.all {
            let png = try figure.png(scale: 2)
            XCTAssertEqual(Array(png.prefix(4)), [0x89, 0x50, 0x4E, 0x47], "\(name): PNG signature")
            guard let read = inspectPNG(png) else { XCTFail("\(name): the PNG does not read back"); continue }
            XCTAssertEqual(read.width, Int(figure.width * 2), name)
            XCTAssertEqual(read.height, Int(figure.height * 2), name)
            // Ink, background, series colours and antialiased edges: many colours, not a blank page.
            XCTAssertGreaterThan(read.colours, 20, name)
            try Data(png).write(to: Self.pictures.appendingPathComponent("\(name).png"))
        }
    }

    func testPDFAndSaveByExtension() throws {
        let pdf = try SampleFigures.confusion.pdf()
        XCTAssertEqual(String(decoding: pdf.prefix(5), as: UTF8.self), "%PDF-")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("retort-save-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for format in ImageFormat.allCases {
            let path = dir.appendingPathComponent("plot.\(format.rawValue)").path
            try SampleFigures.bars.save(to: path)
            XCTAssertGreaterThan((try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0, 500, path)
        }
        XCTAssertThrowsError(try SampleFigures.bars.save(to: dir.appendingPathComponent("plot.jpg").path)) { error in
            XCTAssertTrue("\(error)".contains("use .svg, .png or .pdf"), "\(error)")
        }
        XCTAssertThrowsError(try SampleFigures.bars.save(to: "/nonexistent-dir/plot.png")) { error in
            XCTAssertTrue("\(error)".contains("cannot write \"/nonexistent-dir/plot.png\""), "\(error)")
        }
    }

    func testNiceTicks() {
        XCTAssertEqual(Ticks.linear(0, 1), [0, 0.2, 0.4, 0.6, 0.8, 1])
        XCTAssertEqual(Ticks.labels(Ticks.linear(0, 1)), ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"])
        XCTAssertEqual(Ticks.linear(1, 40), [10, 20, 30, 40])
        XCTAssertEqual(Ticks.labels([10, 20, 30, 40]), ["10", "20", "30", "40"])
        XCTAssertEqual(Ticks.linear(-3, 3), [-3, -2, -1, 0, 1, 2, 3])
        XCTAssertEqual(Ticks.log(0.05, 2.3), [0.05, 0.1, 0.2, 0.5, 1, 2])
        XCTAssertEqual(Ticks.log(1e-4, 10), [1e-4, 1e-3, 1e-2, 0.1, 1, 10])
        XCTAssertEqual(Ticks.labels([0, 0.25, 0.5]), ["0.00", "0.25", "0.50"])
        XCTAssertEqual(Ticks.labels([0, 2_000_000, 4_000_000]), ["0", "2e6", "4e6"])
    }

    func testScalesFitTheData() {
        let (x, y) = Scale.of(SampleFigures.lines.panels[0])
        XCTAssertTrue(y.log)
        XCTAssertLessThan(y.low, 2.3 * exp(-5) + 0.03)
        XCTAssertGreaterThan(y.high, 2.3 * exp(-1.0 / 6) + 0.03)
        XCTAssertLessThan(x.low, 1)
        XCTAssertGreaterThan(x.high, 30)
        // Bars rise from zero; categories sit at whole numbers with their names as ticks.
        let (bx, by) = Scale.of(SampleFigures.bars.panels[0])
        XCTAssertEqual(by.low, 0)
        XCTAssertEqual(bx.tickLabels, (0..<10).map(String.init))
        // Matrices span their cells exactly, row 0 at the top.
        let (_, cy) = Scale.of(SampleFigures.confusion.panels[0])
        XCTAssertEqual(cy.low, -0.5)
        XCTAssertEqual(cy.high, 2.5)
        XCTAssertEqual(cy.fraction(0), 5.0 / 6, accuracy: 1e-9)
    }
}
