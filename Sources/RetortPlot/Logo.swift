/// Retort's logo, a retort (the distillation vessel) with a drop falling from its spout, drawn by
/// cairo at any size: the kernelspec's logo-32x32.png, logo-64x64.png and logo-svg.svg.
public enum Logo {
    public static func png(size: Int) throws -> [UInt8] {
        try cairoDraw(.png, width: Double(size), height: Double(size), scale: 1, draw: draw(size: Double(size)))
    }

    public static func svg(size: Int = 64) throws -> String {
        String(
            decoding: try cairoDraw(.svg, width: Double(size), height: Double(size), scale: 1, draw: draw(size: Double(size))),
            as: UTF8.self)
    }

    private static func draw(size: Double) -> (Canvas) -> Void {
        { canvas in
            let u = size / 64
            let glass = Palette.series(0), drop = Palette.series(1)
            // The neck rises from the bulb to the right and bends down into the spout.
            canvas.polyline([(26 * u, 30 * u), (44 * u, 14 * u), (56 * u, 30 * u)], glass, width: 7 * u, dashed: false)
            canvas.circle(x: 24 * u, y: 40 * u, radius: 17 * u, glass, alpha: 1)
            canvas.circle(x: 24 * u, y: 40 * u, radius: 11 * u, glass.lightened(0.55), alpha: 1)
            canvas.circle(x: 56 * u, y: 44 * u, radius: 5 * u, drop, alpha: 1)
            canvas.circle(x: 56 * u, y: 56 * u, radius: 3 * u, drop, alpha: 1)
        }
    }
}
