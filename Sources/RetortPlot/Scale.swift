import Foundation

/// An axis resolved against its panel's data: the domain shown, where the ticks go and what they say.
/// Both renderers use it, so a terminal plot and its PNG show the same ranges and ticks.
public struct Scale: Sendable {
    public var low: Double
    public var high: Double
    public var log: Bool
    public var inverted: Bool
    public var ticks: [Double]
    public var tickLabels: [String]

    /// Where `value` falls along the axis, 0 at the low end and 1 at the high end (before inversion).
    public func fraction(_ value: Double) -> Double {
        let f: Double
        if log {
            guard value > 0 else { return .nan }
            f = (log10(value) - log10(low)) / (log10(high) - log10(low))
        } else {
            f = (value - low) / (high - low)
        }
        return inverted ? 1 - f : f
    }

    /// The data value at `fraction` along the axis: the inverse of `fraction(_:)`.
    func value(atFraction fraction: Double) -> Double {
        let t = inverted ? 1 - fraction : fraction
        if log { return pow(10, log10(low) + t * (log10(high) - log10(low))) }
        return low + t * (high - low)
    }

    /// Resolves the x and y axes of `panel`.
    public static func of(_ panel: Panel) -> (x: Scale, y: Scale) {
        let (xs, ys) = extents(panel)
        let exact = panel.marks.contains { if case .heatmap = $0 { return true } else { return false } }
        let hasBars = panel.marks.contains { if case .bars = $0 { return true } else { return false } }
        return (
            resolve(panel.x, data: xs, margin: exact || panel.x.categories != nil ? 0 : 0.03, fromZero: false),
            resolve(panel.y, data: ys, margin: exact || panel.y.categories != nil ? 0 : 0.05, fromZero: hasBars)
        )
    }

    static func resolve(_ axis: Axis, data: (Double, Double)?, margin: Double, fromZero: Bool) -> Scale {
        let isLog = axis.scale == .log
        // Limits computed from values that were all NaN (softmax of a NaN) are no limits: the data decide.
        let limits = axis.limits.flatMap { $0.0.isFinite && $0.1.isFinite ? $0 : nil }
        var (lo, hi) = limits ?? data ?? (isLog ? (1, 10) : (0, 1))
        if let categories = axis.categories, limits == nil {
            lo = min(lo, -0.5)
            hi = max(hi, Double(categories.count) - 0.5)
        }
        if isLog {
            lo = max(lo, hi > 0 ? hi * 1e-12 : 1e-12)
            if hi <= lo { hi = lo * 10 }
        } else if hi <= lo {
            let pad = lo == 0 ? 1 : abs(lo) * 0.1
            (lo, hi) = (lo - pad, hi + pad)
        }
        if limits == nil && margin > 0 {
            if isLog {
                let span = log10(hi) - log10(lo)
                lo = pow(10, log10(lo) - span * margin)
                hi = pow(10, log10(hi) + span * margin)
            } else {
                let span = hi - lo
                if !(fromZero && lo == 0) { lo -= span * margin }
                if !(fromZero && hi == 0) { hi += span * margin }
            }
        }
        var scale = Scale(low: lo, high: hi, log: isLog, inverted: axis.inverted, ticks: [], tickLabels: [])
        if let categories = axis.categories {
            let every = max(1, Int((Double(categories.count) / 12).rounded(.up)))
            scale.ticks = stride(from: 0, to: categories.count, by: every).map(Double.init)
            scale.tickLabels = scale.ticks.map { categories[Int($0)] }
        } else if axis.wholeNumbers && !isLog {
            scale.ticks = Ticks.linear(lo, hi).filter { $0 == $0.rounded() && abs($0) < 1e15 }
            scale.tickLabels = scale.ticks.map { String(Int($0)) }
        } else {
            scale.ticks = isLog ? Ticks.log(lo, hi) : Ticks.linear(lo, hi)
            scale.tickLabels = isLog ? scale.ticks.map(Ticks.logLabel) : Ticks.labels(scale.ticks)
        }
        return scale
    }

    /// The data's x and y ranges over every mark of the panel (nil when there is nothing finite).
    static func extents(_ panel: Panel) -> (x: (Double, Double)?, y: (Double, Double)?) {
        var x = Extent(), y = Extent()
        let logY = panel.y.scale == .log, logX = panel.x.scale == .log
        for mark in panel.marks {
            switch mark {
            case .line(let l):
                // A value a log axis cannot show (0 or below) is not drawn, but its place on the
                // other axis still counts, as matplotlib keeps a series' x range on a log y axis.
                for (a, b) in zip(l.x, l.y) where b.isFinite && a.isFinite {
                    if !logX || a > 0 { x.add(a) }
                    if !logY || b > 0 { y.add(b) }
                }
            case .bars(let b):
                for (a, h) in zip(b.x, b.heights) where a.isFinite && h.isFinite {
                    x.add(a - b.width / 2)
                    x.add(a + b.width / 2)
                    // On a log axis a bar stands on the power of ten below its top (counts of 3 on
                    // 1, of 1 on 0.1), so each shows its height; an empty bin (height 0) has no place
                    // there and is left out, as matplotlib's hist(log=True), where it stretched the
                    // axis down to its floor.
                    if !logY {
                        y.add(0)
                        y.add(h)
                    } else if h > 0 {
                        y.add(h)
                        y.add(pow(10, (Foundation.log10(h) - 1e-9).rounded(.down)))
                    }
                }
            case .points(let p):
                for (a, b) in zip(p.x, p.y) where a.isFinite && b.isFinite {
                    if !logX || a > 0 { x.add(a) }
                    if !logY || b > 0 { y.add(b) }
                }
            case .heatmap(let h):
                if let (x0, x1, y0, y1) = h.extent {
                    x.add(x0); x.add(x1); y.add(y0); y.add(y1)
                } else {
                    x.add(-0.5); x.add(Double(h.columns) - 0.5)
                    y.add(-0.5); y.add(Double(h.rows) - 0.5)
                }
            }
        }
        return (x.range, y.range)
    }
}

private struct Extent {
    var low = Double.infinity, high = -Double.infinity
    mutating func add(_ v: Double) {
        low = min(low, v)
        high = max(high, v)
    }
    var range: (Double, Double)? { low <= high ? (low, high) : nil }
}
