import Foundation

/// A rectangle in canvas units (CSS pixels), origin top left.
public struct Rect: Sendable, Equatable {
    public var x: Double, y: Double, width: Double, height: Double

    public init(x: Double, y: Double, width: Double, height: Double) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
    }

    var maxX: Double { x + width }
    var maxY: Double { y + height }
    func contains(_ px: Double, _ py: Double) -> Bool { px >= x && px <= maxX && py >= y && py <= maxY }
}

public enum TextAnchor: Sendable { case start, middle, end }

/// The drawing calls a figure is made of. Cairo implements them for SVG, PNG and PDF; a recorder
/// implements them for tests, so layout can be checked without a graphics library.
protocol Canvas: AnyObject {
    /// Advance width of `text` at `size` points.
    func textWidth(_ text: String, size: Double, bold: Bool) -> Double
    func fill(_ rect: Rect, _ colour: Colour, alpha: Double)
    func strokeRect(_ rect: Rect, _ colour: Colour, width: Double)
    /// A connected line through `points`.
    func polyline(_ points: [(Double, Double)], _ colour: Colour, width: Double, dashed: Bool)
    func circle(x: Double, y: Double, radius: Double, _ colour: Colour, alpha: Double)
    /// Text whose baseline's `anchor` point sits at (x, y), optionally turned a quarter anticlockwise.
    func text(
        _ text: String, x: Double, y: Double, size: Double, bold: Bool, _ colour: Colour, anchor: TextAnchor, vertical: Bool)
    /// A grid of colours scaled to `rect` without smoothing (large heatmaps).
    func image(_ pixels: [Colour], rows: Int, columns: Int, in rect: Rect)
    /// Restricts drawing to `rect` until `unclip()`.
    func clip(_ rect: Rect)
    func unclip()
}

/// A canvas that writes each call as a line of text, with coordinates rounded to whole pixels and
/// text measured at a fixed 0.55 em per character: what the layout golden tests compare.
final class RecordingCanvas: Canvas {
    private(set) var lines: [String] = []

    func textWidth(_ text: String, size: Double, bold: Bool) -> Double { Double(text.count) * size * 0.55 }

    func fill(_ rect: Rect, _ colour: Colour, alpha: Double) {
        lines.append("fill \(describe(rect)) \(hex(colour))\(alpha < 1 ? " alpha \(alpha)" : "")")
    }

    func strokeRect(_ rect: Rect, _ colour: Colour, width: Double) {
        lines.append("frame \(describe(rect)) \(hex(colour))")
    }

    func polyline(_ points: [(Double, Double)], _ colour: Colour, width: Double, dashed: Bool) {
        let shown =
            points.count <= 4
            ? points.map { "\(r($0.0)),\(r($0.1))" }.joined(separator: " ")
            : "\(points.count) points from \(r(points[0].0)),\(r(points[0].1)) to \(r(points[points.count - 1].0)),\(r(points[points.count - 1].1))"
        lines.append("line \(shown) \(hex(colour))\(dashed ? " dashed" : "")")
    }

    func circle(x: Double, y: Double, radius: Double, _ colour: Colour, alpha: Double) {
        lines.append("dot \(r(x)),\(r(y)) \(hex(colour))")
    }

    func text(
        _ text: String, x: Double, y: Double, size: Double, bold: Bool, _ colour: Colour, anchor: TextAnchor, vertical: Bool
    ) {
        lines.append("text \"\(text)\" at \(r(x)),\(r(y)) \(anchor)\(vertical ? " vertical" : "")\(bold ? " bold" : "")")
    }

    func image(_ pixels: [Colour], rows: Int, columns: Int, in rect: Rect) {
        lines.append("image \(rows)x\(columns) in \(describe(rect))")
    }

    func clip(_ rect: Rect) { lines.append("clip \(describe(rect))") }
    func unclip() { lines.append("unclip") }

    private func r(_ v: Double) -> String { v.isFinite && abs(v) < 1e15 ? String(Int(v.rounded())) : "\(v)" }
    private func describe(_ rect: Rect) -> String { "\(r(rect.x)),\(r(rect.y)) \(r(rect.width))x\(r(rect.height))" }
    private func hex(_ c: Colour) -> String {
        "#" + [c.red, c.green, c.blue].map { String(format: "%02x", wholeNumber(($0 * 255).rounded(), in: 0...255)) }.joined()
    }
}
