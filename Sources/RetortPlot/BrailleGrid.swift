/// A canvas of braille characters for lines and scatters: each character cell holds 2×4 dots, so a
/// terminal plot has twice the horizontal and four times the vertical resolution of its text grid.
struct BrailleGrid {
    let columns: Int
    let rows: Int
    private var bits: [UInt8]
    private var colours: [Colour?]

    init(columns: Int, rows: Int) {
        self.columns = max(columns, 0)
        self.rows = max(rows, 0)
        bits = Array(repeating: 0, count: self.columns * self.rows)
        colours = Array(repeating: nil, count: self.columns * self.rows)
    }

    var dotWidth: Int { columns * 2 }
    var dotHeight: Int { rows * 4 }

    /// The bit of the braille pattern for the dot at (x, y) within its cell (Unicode's dot numbering).
    private static let dotBits: [[UInt8]] = [[0x01, 0x02, 0x04, 0x40], [0x08, 0x10, 0x20, 0x80]]

    /// Sets one dot, counted from the top-left; the cell takes `colour`, so where series overlap the last one shows.
    mutating func set(_ x: Int, _ y: Int, colour: Colour?) {
        guard x >= 0, y >= 0, x < dotWidth, y < dotHeight else { return }
        let cell = (y / 4) * columns + x / 2
        bits[cell] |= Self.dotBits[x % 2][y % 4]
        colours[cell] = colour
    }

    /// Sets the dot under a point given in continuous dot space (0…dotWidth, 0…dotHeight).
    mutating func plot(_ x: Double, _ y: Double, colour: Colour?) {
        guard x.isFinite, y.isFinite, x >= 0, y >= 0, x <= Double(dotWidth), y <= Double(dotHeight) else { return }
        set(min(Int(x), dotWidth - 1), min(Int(y), dotHeight - 1), colour: colour)
    }

    /// The braille character and colour of a cell, nil when it has no dots.
    func cell(column: Int, row: Int) -> (character: Character, colour: Colour?)? {
        let i = row * columns + column
        guard bits[i] != 0 else { return nil }
        return (Character(Unicode.Scalar(0x2800 + UInt32(bits[i]))!), colours[i])
    }

    /// Draws a straight segment between two points in continuous dot space, clipped to the grid.
    /// `dashCounter` carries the dash phase from one segment to the next so a dashed polyline stays even.
    mutating func segment(
        from a: (Double, Double), to b: (Double, Double), colour: Colour?, dashed: Bool, dashCounter: inout Int
    ) {
        // An end at infinity (a value far off a fixed axis) clips to NaN: such a segment is not drawn.
        guard dotWidth > 0, dotHeight > 0, let (p, q) = clip(a, b),
            p.0.isFinite, p.1.isFinite, q.0.isFinite, q.1.isFinite
        else { return }
        var x0 = wholeNumber(p.0, in: 0...dotWidth - 1), y0 = wholeNumber(p.1, in: 0...dotHeight - 1)
        let x1 = wholeNumber(q.0, in: 0...dotWidth - 1), y1 = wholeNumber(q.1, in: 0...dotHeight - 1)
        // Bresenham over dots: step along the longer axis, carry the error along the shorter.
        let dx = abs(x1 - x0), dy = -abs(y1 - y0)
        let sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1
        var error = dx + dy
        while true {
            if !dashed || (dashCounter / 3) % 2 == 0 { set(x0, y0, colour: colour) }
            dashCounter += 1
            if x0 == x1 && y0 == y1 { break }
            let e2 = 2 * error
            if e2 >= dy {
                error += dy
                x0 += sx
            }
            if e2 <= dx {
                error += dx
                y0 += sy
            }
        }
    }

    /// The part of a segment inside the grid (Liang–Barsky), nil when it misses it entirely.
    private func clip(_ a: (Double, Double), _ b: (Double, Double)) -> ((Double, Double), (Double, Double))? {
        let dx = b.0 - a.0, dy = b.1 - a.1
        var t0 = 0.0, t1 = 1.0
        for (p, q) in [(-dx, a.0), (dx, Double(dotWidth) - a.0), (-dy, a.1), (dy, Double(dotHeight) - a.1)] {
            if p == 0 {
                if q < 0 { return nil }
            } else {
                let t = q / p
                if p < 0 { t0 = max(t0, t) } else { t1 = min(t1, t) }
                if t0 > t1 { return nil }
            }
        }
        return ((a.0 + t0 * dx, a.1 + t0 * dy), (a.0 + t1 * dx, a.1 + t1 * dy))
    }
}
