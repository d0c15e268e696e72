import CRetortData
import Foundation
import RetortTensor

/// Labelled examples: inputs `x` with the batch first, and labels `y` with the batch first: class
/// indices `[N]` for classification, next-token ids `[N, T]` for a sequence model (−1 where a
/// position has no label), targets of any shape for a regression.
public struct Dataset {
    public var x: Tensor
    public var y: Tensor
    public var classes: Int
    public var name: String
    /// The label of each class index when the source named them (a CSV's string labels), else nil.
    public var classNames: [String]?

    public init(x: Tensor, y: Tensor, classes: Int, name: String, classNames: [String]? = nil) throws {
        guard x.rank >= 1, y.rank >= 1, y.shape[0] == x.shape[0] else {
            throw TensorError(
                .shape,
                "dataset", "inputs \(formatShape(x.shape)) and labels \(formatShape(y.shape)) disagree on the number of examples")
        }
        if let classNames, classNames.count != classes {
            throw TensorError(.argument, "dataset", "\(classNames.count) class names given for \(classes) classes")
        }
        self.x = x
        self.y = y
        self.classes = classes
        self.name = name
        self.classNames = classNames
    }

    public var count: Int { x.shape[0] }

    /// The examples at the given positions, in that order.
    public func subset(_ indices: [Int]) -> Dataset {
        var part = self
        part.x = x.rows(indices)
        part.y = y.rows(indices)
        return part
    }

    /// A shuffled split into a first part holding `fraction` of the examples and the rest.
    public func split(_ fraction: Double, seed: UInt64) throws -> (Dataset, Dataset) {
        let parts = try SplitOrder.parts(count: count, fraction: fraction, seed: seed, items: "examples")
        return (subset(parts.first), subset(parts.second))
    }

    /// Per-feature mean and standard deviation over the examples (for standardising other sets alike),
    /// summed in Double: a constant feature then has a deviation of exactly 0 (float32 sums left
    /// one of 0.1s at 2.4e-7). A feature counts as constant, and is only centred (its scale 1), when
    /// its deviation is 0 or within float32's rounding of its mean (10 ulps of 1 times |mean|), as
    /// scikit-learn's StandardScaler judges it relative to the mean: a feature in small units (a
    /// deviation of 1e-8 about 0) is scaled like any other, not left at its tiny size.
    public func featureStatistics() throws -> (mean: Tensor, std: Tensor) {
        let n = count
        let shape = Array(x.shape.dropFirst())
        let features = shape.reduce(1, *)
        var mean = [Double](repeating: 0, count: features)
        var variance = [Double](repeating: 0, count: features)
        x.withUnsafeBufferPointer { p in
            for i in 0..<n {
                for f in 0..<features { mean[f] += Double(p[i * features + f]) }
            }
            for f in 0..<features { mean[f] /= Double(Swift.max(n, 1)) }
            for i in 0..<n {
                for f in 0..<features {
                    let d = Double(p[i * features + f]) - mean[f]
                    variance[f] += d * d
                }
            }
        }
        let std = zip(variance, mean).map { v, m -> Float in
            let d = (v / Double(Swift.max(n, 1))).squareRoot()
            return d == 0 || d <= 10 * Double(Float.ulpOfOne) * Swift.abs(m) ? 1 : Float(d)
        }
        return (try Tensor(shape: shape, scalars: mean.map { Float($0) }), try Tensor(shape: shape, scalars: std))
    }

    /// Inputs shifted and scaled by the given statistics.
    public func standardized(mean: Tensor, std: Tensor) throws -> Dataset {
        var copy = self
        copy.x = try (x - mean) / std
        return copy
    }

    /// Mini-batches of `size` examples, shuffled with `generator` when given; the last may be smaller.
    public func batches(_ size: Int, generator: inout RandomGenerator?) -> [(x: Tensor, y: Tensor)] {
        let order = generator != nil ? generator!.permutation(count) : Array(0..<count)
        return stride(from: 0, to: count, by: Swift.max(size, 1)).map { start in
            let part = subset(Array(order[start..<Swift.min(start + size, count)]))
            return (part.x, part.y)
        }
    }
}

extension Dataset {
    /// The UCI optical-digits set compiled into Retort: 1,797 images of 8×8 pixels (0..16) as
    /// `[1797, 64]` inputs and labels 0..9 (E. Alpaydin and C. Kaynak, CC BY 4.0).
    public static func digits() throws -> Dataset {
        let compressed = Data(bytes: retort_digits_csv_gz(), count: Int(retort_digits_csv_gz_length()))
        let csv = try Gzip.decompress(compressed, source: "digits.csv.gz")
        return try parseLabelledCSV(csv, features: 64, classes: 10, name: "digits", source: "digits.csv.gz")
    }

    /// Rows of `features` numbers followed by an integer class label, comma-separated, no header.
    public static func parseLabelledCSV(_ data: Data, features: Int, classes: Int, name: String, source: String) throws -> Dataset
    {
        var xs: [Float] = []
        var ys: [Float] = []
        var lineNumber = 0
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            if line.allSatisfy(\.isWhitespace) { continue }
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            guard fields.count == features + 1 else {
                throw TensorError(.file, "csv", "\(source):\(lineNumber): expected \(features + 1) fields, found \(fields.count)")
            }
            for (column, field) in fields.enumerated() {
                guard let value = Float(field.trimmingCharacters(in: .whitespaces)) else {
                    throw TensorError(.file, "csv", "\(source):\(lineNumber):\(column + 1): '\(field)' is not a number")
                }
                if column < features {
                    xs.append(value)
                } else {
                    guard value == value.rounded(), value >= 0, Int(value) < classes else {
                        throw TensorError(
                            .file, "csv", "\(source):\(lineNumber): label \(field) is not a class in 0..<\(classes)")
                    }
                    ys.append(value)
                }
            }
        }
        return try Dataset(x: Tensor(shape: [ys.count, features], scalars: xs), y: Tensor(ys), classes: classes, name: name)
    }
}
