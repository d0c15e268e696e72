import Foundation

/// Tick positions and their labels for an axis, at "nice" numbers (1, 2 or 5 times a power of ten).
public enum Ticks {
    /// About `target` ticks covering `lo…hi`, all inside it.
    public static func linear(_ lo: Double, _ hi: Double, target: Int = 5) -> [Double] {
        guard lo.isFinite, hi.isFinite, hi > lo else { return lo.isFinite ? [lo] : [] }
        let step = niceStep((hi - lo) / Double(max(target, 1)))
        // A span too wide for a Double (-1e308 to 1e308) has no finite step: the ends are the ticks.
        guard step.isFinite, step > 0 else { return [lo, hi] }
        // k × step computed as k × nice ÷ 10ⁿ for small steps, so 3 × 0.2 is 0.6 and not 0.6000000000000001.
        let scale = pow(10, Double(max(0, 1 - Int(Foundation.log10(step).rounded(.down)))))
        let whole = (step * scale).rounded()
        func tick(_ k: Int) -> Double { Double(k) * whole / scale }
        let (low, high) = ((lo / step - 1e-9).rounded(.up), (hi / step + 1e-9).rounded(.down))
        // About `target` steps fit between lo and hi; the bound only keeps Int(_:) away from a trap.
        guard low <= high, high - low < 1000, abs(low) < 1e15, abs(high) < 1e15 else { return [] }
        let first = Int(low), last = Int(high)
        return (first...last).map(tick)
    }

    /// Powers of ten inside `lo…hi` (both positive); 2× and 5× them too when the span is under two decades.
    public static func log(_ lo: Double, _ hi: Double) -> [Double] {
        guard lo > 0, hi > lo, hi.isFinite else { return [] }
        let first = Int(Foundation.log10(lo).rounded(.down)), last = Int(Foundation.log10(hi).rounded(.up))
        let decades = Foundation.log10(hi) - Foundation.log10(lo)
        let multiples: [Double] = decades < 2 ? [1, 2, 5] : [1]
        var ticks: [Double] = []
        for e in first...last {
            for m in multiples {
                let v = m * pow(10, Double(e))
                if v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9) { ticks.append(v) }
            }
        }
        return ticks.count >= 2 ? ticks : linear(lo, hi, target: 3)
    }

    /// The nice number nearest to `rough`: 1, 2 or 5 times a power of ten (so whole-number axes such as
    /// epochs get whole-number ticks).
    static func niceStep(_ rough: Double) -> Double {
        let power = pow(10, Foundation.log10(rough).rounded(.down))
        let fraction = rough / power
        let nice: Double = fraction < 1.5 ? 1 : fraction < 3.2 ? 2 : fraction < 7 ? 5 : 10
        return nice * power
    }

    /// Labels for a set of ticks with just enough decimals to tell neighbours apart.
    public static func labels(_ ticks: [Double]) -> [String] {
        guard ticks.count > 1 else { return ticks.map { format($0, decimals: 2) } }
        let step = zip(ticks.dropFirst(), ticks).map { abs($0 - $1) }.filter { $0 > 0 }.min() ?? 1
        let largest = ticks.map(abs).max() ?? 0
        if largest >= 1e6 || (largest > 0 && largest < 1e-3) {
            // As many mantissa digits as it takes for every label to read back as its tick (1.5e-9
            // between 1e-9 and 2e-9, not a second 2e-9), the same number on each, as matplotlib's.
            let digits =
                (0...12).first { digits in
                    ticks.allSatisfy { v in
                        Double(String(format: "%.\(digits)e", v)).map { abs($0 - v) <= step * 1e-6 } ?? false
                    }
                } ?? 12
            return ticks.map {
                $0 == 0
                    ? "0"
                    : String(format: "%.\(digits)e", $0).replacingOccurrences(of: "e+0", with: "e").replacingOccurrences(
                        of: "e-0", with: "e-"
                    ).replacingOccurrences(of: "e+", with: "e")
            }
        }
        let decimals = wholeNumber((-Foundation.log10(step)).rounded(.up) + 1e-9, in: 0...400)
        let exact = ticks.allSatisfy { v in abs(v * pow(10, Double(decimals)) - (v * pow(10, Double(decimals))).rounded()) < 1e-6
        }
        return ticks.map { format($0, decimals: exact ? decimals : decimals + 1) }
    }

    /// A log-axis label in its shortest form: 0.01, 0.5, 10, 1e-5.
    public static func logLabel(_ v: Double) -> String {
        String(format: "%g", v).replacingOccurrences(of: "e-0", with: "e-").replacingOccurrences(of: "e+0", with: "e")
            .replacingOccurrences(of: "e+", with: "e")
    }

    static func format(_ v: Double, decimals: Int) -> String {
        let s = String(format: "%.\(min(decimals, 8))f", v)
        return s == "-0" ? "0" : s.hasPrefix("-0.") && Double(s) == 0 ? String(s.dropFirst()) : s
    }
}
