import RetortTensor

/// A number training reports per epoch besides the loss, computed from each batch's outputs and
/// labels. The metric is the task's: classification accuracy for `[N, C]` outputs and `[N]` labels,
/// token accuracy for a sequence model's `[N, T, V]` outputs and `[N, T]` labels (positions labelled
/// −1 are not counted), none for a task it does not fit (a regression).
public struct Accuracy: Sendable {
    public private(set) var correct = 0
    public private(set) var counted = 0

    public init() {}

    /// Whether outputs of this shape and labels of that shape make a task accuracy measures: at
    /// least two class scores per label (one score has no top class; it was counted as class 0).
    public static func applies(output: [Int], labels: [Int]) -> Bool {
        output.count == labels.count + 1 && Array(output.dropLast()) == labels && (output.last ?? 0) > 1
    }

    /// Refuses outputs and labels that make no classification, naming both shapes: `accuracy` and
    /// the confusion matrix once counted such a model 0% (or every example as class 0) without a word.
    public static func check(output: [Int], labels: [Int], op: String) throws {
        guard !applies(output: output, labels: labels) else { return }
        if output.last == 1 && (labels == output || labels == Array(output.dropLast())) {
            throw TensorError(
                .shape, op,
                "outputs \(formatShape(output)) give one score per example, so no top class: for a binary classifier with "
                    + "one logit, mean((predict(m, x) > 0) == y) is its accuracy (or give it two outputs)")
        }
        throw TensorError(
            .shape, op,
            "outputs \(formatShape(output)) and labels \(formatShape(labels)) make no classification: the outputs need the "
                + "labels' shape and one more axis of class scores ([N, C] for [N], [N, T, V] for [N, T])")
    }

    /// Adds one batch: the top-scoring class along the last axis against each label (−1: ignored).
    /// A NaN score is the top, as torch.argmax takes it.
    public mutating func add(output: Tensor, labels: Tensor) {
        guard Self.applies(output: output.shape, labels: labels.shape) else { return }
        let classes = output.shape[output.rank - 1]
        output.withUnsafeBufferPointer { o in
            labels.withUnsafeBufferPointer { y in
                for row in 0..<y.count where y[row] >= 0 {
                    var best = 0
                    for c in 1..<classes where !o[row * classes + best].isNaN {
                        let v = o[row * classes + c]
                        if v > o[row * classes + best] || v.isNaN { best = c }
                    }
                    counted += 1
                    if Float(best) == y[row] { correct += 1 }
                }
            }
        }
    }

    /// The fraction correct, or nil when nothing was counted.
    public var value: Double? { counted > 0 ? Double(correct) / Double(counted) : nil }
}
