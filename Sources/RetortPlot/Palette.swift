import Foundation

/// A colour with components in 0…1.
public struct Colour: Sendable, Equatable {
    public var red: Double, green: Double, blue: Double

    public init(_ red: Double, _ green: Double, _ blue: Double) {
        self.red = red
        self.green = green
        self.blue = blue
    }

    init(hex: UInt32) {
        self.init(Double((hex >> 16) & 0xff) / 255, Double((hex >> 8) & 0xff) / 255, Double(hex & 0xff) / 255)
    }

    /// This colour mixed toward white by `amount` (0 keeps it, 1 is white).
    public func lightened(_ amount: Double) -> Colour {
        Colour(red + (1 - red) * amount, green + (1 - green) * amount, blue + (1 - blue) * amount)
    }

    /// Perceived brightness, to pick black or white text over a cell.
    public var luminance: Double { 0.2126 * red + 0.7152 * green + 0.0722 * blue }

    /// The ANSI escape that sets this as the 24-bit foreground colour.
    public var ansiForeground: String { "\u{1B}[38;2;\(rgbText)m" }

    /// The ANSI escape that sets this as the 24-bit background colour.
    public var ansiBackground: String { "\u{1B}[48;2;\(rgbText)m" }

    /// The components as 0…255, `r;g;b`, as the escapes write them.
    private var rgbText: String { [red, green, blue].map { String(wholeNumber($0 * 255, in: 0...255)) }.joined(separator: ";") }

    /// The components as 0…255 in one 0xRRGGBB word, as cairo's RGB24 images store a pixel.
    var rgb24: UInt32 {
        [red, green, blue].reduce(UInt32(0)) { $0 << 8 | UInt32(wholeNumber($1 * 255, in: 0...255)) }
    }

    static func mix(_ a: Colour, _ b: Colour, _ t: Double) -> Colour {
        Colour(a.red + (b.red - a.red) * t, a.green + (b.green - a.green) * t, a.blue + (b.blue - a.blue) * t)
    }
}

/// The colours plots use: Okabe and Ito's colour-blind-safe set for series and classes, and smooth
/// maps for heatmaps. Light backgrounds with dark ink, so a figure reads in light and dark notebook themes.
public enum Palette {
    /// Series colours in the order they are assigned (Okabe–Ito, yellow last, then two extra for ten classes).
    public static let series: [Colour] = [
        0x0072B2, 0xD55E00, 0x009E73, 0xCC79A7, 0xE69F00, 0x56B4E9, 0x000000, 0xF0E442, 0x882255, 0x999999,
    ].map { Colour(hex: $0) }

    public static let background = Colour(1, 1, 1)
    public static let ink = Colour(hex: 0x222222)
    public static let grid = Colour(hex: 0xE5E5E5)
    public static let axis = Colour(hex: 0x666666)

    public static func series(_ index: Int) -> Colour { series[((index % series.count) + series.count) % series.count] }

    /// The colour for `value` within `range` under `map`.
    public static func colour(_ value: Double, in range: (Double, Double), map: Heatmap.ColourMap) -> Colour {
        switch map {
        case .classes:
            return value.isFinite ? series(wholeNumber(value.rounded(), in: Int.min...Int.max)).lightened(0.65) : background
        case .grey, .sequential:
            guard value.isFinite else { return background }
            let t = min(1, max(0, (value - range.0) / (range.1 - range.0)))
            if map == .grey { return Colour(1 - t, 1 - t, 1 - t) }
            return sequential(t)
        }
    }

    /// White through light blue to dark blue, like ColorBrewer's Blues.
    static func sequential(_ t: Double) -> Colour {
        let stops: [Colour] = [0xF7FBFF, 0xC6DBEF, 0x6BAED6, 0x2171B5, 0x08306B].map { Colour(hex: $0) }
        let scaled = t * Double(stops.count - 1)
        let i = wholeNumber(scaled, in: 0...stops.count - 2)
        return Colour.mix(stops[i], stops[i + 1], scaled - Double(i))
    }
}
