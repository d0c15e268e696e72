import XCTest

@testable import RetortPlot

/// A model's graph drawn as boxes and arrows: nodes sit a layer below what they read, and an
/// arrow that skips layers (a residual connection) goes round the boxes between.
final class DiagramTests: XCTestCase {
    /// x → a → b → add, with add also reading a: the residual shape.
    private let residual = Diagram(
        nodes: ["x", "a", "b", "add"].map { Diagram.Node(label: $0, detail: "[1, 4]") },
        edges: [(0, 1), (1, 2), (2, 3), (1, 3)])

    func testLayersFollowTheLongestPath() {
        XCTAssertEqual(residual.layers, [0, 1, 2, 3])
        let branches = Diagram(nodes: ["x", "left", "right", "join"].map { Diagram.Node(label: $0) }, edges: [(0, 1), (0, 2), (1, 3), (2, 3)])
        XCTAssertEqual(branches.layers, [0, 1, 1, 2])
    }

    func testASkipArrowGoesRoundTheSide() {
        let calls = Figure(diagram: residual, title: "residual").drawingCalls().split(separator: "\n")
        // Three straight arrows of two points and one routed round of four, each with an arrowhead.
        let lines = calls.filter { $0.hasPrefix("line ") }
        XCTAssertEqual(lines.count, 8)
        XCTAssertEqual(lines.filter { $0.split(separator: " ").count == 6 }.count, 1, "one path of four points: \(lines)")
        XCTAssertEqual(calls.filter { $0.hasPrefix("frame ") }.count, 4)
        XCTAssertTrue(calls.contains { $0.hasPrefix("text \"add\"") })
    }

    func testTextNamesWhatEachNodeReads() {
        let text = Figure(diagram: residual).text(width: 80)
        XCTAssertEqual(text.split(separator: "\n").last, "      add [1, 4]  ← b, a")
        XCTAssertTrue(Figure(diagram: residual).summary.contains("diagram of 4 nodes"))
    }
}
