import XCTest

@testable import RetortPlot

/// Long lines are reduced per pixel column before drawing, keeping what the eye sees.
final class LineSimplificationTests: XCTestCase {
    func testALongLineKeepsEachColumnsFirstLowestHighestAndLastPoint() {
        // 20,000 points over 500 pixel columns, a spike in column 100.
        var points = (0..<20000).map { i in (Double(i) / 40, sin(Double(i) / 7)) }
        points[4020].1 = 9
        points[4030].1 = -9
        let simple = FigureRenderer.simplified(points)
        XCTAssertLessThanOrEqual(simple.count, 4 * 500)
        XCTAssertGreaterThanOrEqual(simple.count, 2 * 500)
        XCTAssertTrue(simple.contains { $0.1 == 9 } && simple.contains { $0.1 == -9 }, "extremes survive")
        XCTAssertEqual(simple.first?.0, points.first?.0)
        XCTAssertEqual(simple.last?.0, points.last?.0)
        XCTAssertTrue(zip(simple, simple.dropFirst()).allSatisfy { $0.0 <= $1.0 }, "order kept")
    }

    func testShortLinesAndLinesThatTurnBackAreLeftAlone() {
        let short = (0..<100).map { (Double($0), Double($0 % 7)) }
        XCTAssertEqual(FigureRenderer.simplified(short).count, 100)
        let circle = (0..<5000).map { i in (cos(Double(i) / 100) * 300, sin(Double(i) / 100) * 300) }
        XCTAssertEqual(FigureRenderer.simplified(circle).count, 5000)
    }
}
