import Foundation
import RetortTensor

/// The shuffled order a split cuts, for datasets and corpora alike: the first part takes
/// round(count × fraction) of `count` items in a seeded order, the rest go to the second.
enum SplitOrder {
    /// The two parts' positions. A part left empty is an error naming the fractions that work, as
    /// scikit-learn's train_test_split refuses one, not a dataset that fails later (or measures
    /// nothing); `items` names what is split ("examples", "lines").
    static func parts(count: Int, fraction: Double, seed: UInt64, items: String) throws -> (first: [Int], second: [Int]) {
        guard fraction > 0, fraction < 1 else {
            throw TensorError(.argument, "split", "fraction must be between 0 and 1, got \(fraction)")
        }
        var g = RandomGenerator(seed: seed)
        let order = g.permutation(count)
        let cut = Int((Double(count) * fraction).rounded())
        guard cut > 0, cut < count else {
            // The first part has one item from 0.5 / count and leaves one from just below
            // (count − 0.5) / count; both ends are written so that they work.
            let n = Double(count)
            let places = Swift.max(3, Int((-log10(0.5 / n)).rounded(.up)) + 2)
            let scale = pow(10, Double(places))
            let low = (0.5 / n * scale).rounded(.up) / scale
            let high = (((n - 0.5) / n) * scale - 1e-9).rounded(.down) / scale
            func text(_ v: Double) -> String { String(format: "%g", v) }
            throw TensorError(
                .argument, "split",
                "a fraction of \(text(fraction)) of \(count) \(items) leaves the \(cut == 0 ? "first" : "second") part empty (the first part takes round(\(count) × fraction)); "
                    + (count < 2 ? "a single one cannot be split" : "give a fraction from \(text(low)) to \(text(high))")
            )
        }
        return (Array(order[..<cut]), Array(order[cut...]))
    }
}
