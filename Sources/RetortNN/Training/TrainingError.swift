import RetortTensor

/// Why a training run stopped: each says where, and what the model keeps.
public enum TrainingError: Error, CustomStringConvertible {
    /// The user asked to stop at `place` (`StopPlace`); `holds` says what the model holds then.
    case interrupted(place: String, holds: Holds)
    /// The loss became NaN or infinite at this batch; `weightsFinite` says whether the weights still are.
    case nonFiniteLoss(value: Float, epoch: Int, epochs: Int, batch: Int, batches: Int, weightsFinite: Bool)
    /// The loss is not one number.
    case lossNotScalar(shape: [Int])
    /// The loss depends on no trainable parameter (`frozen`: because the model's are frozen).
    case nothingToTrain(frozen: Bool)
    /// The data holds NaN or infinity.
    case nonFiniteData(what: String, count: Int, firstExample: Int)

    /// What a model holds when its run stops before the end.
    public enum Holds: Sendable {
        /// No batch has trained and nothing was restored: the weights it had.
        case unchanged
        /// A resumed run, before its first batch: the checkpoint's weights, after this epoch.
        case checkpoint(epoch: Int)
        /// The weights the last completed batch of this run made.
        case lastBatch

        /// Whether the run changed the model (a batch trained, or a checkpoint restored).
        public var changedTheModel: Bool {
            if case .unchanged = self { return false }
            return true
        }

        /// What `name` holds, for the error or its note.
        public func said(of name: String) -> String {
            switch self {
            case .unchanged: return "\(name) is unchanged"
            case .checkpoint(let epoch): return "\(name) holds the checkpoint's weights (after epoch \(epoch))"
            case .lastBatch: return "\(name) keeps the weights of the last completed batch"
            }
        }
    }

    /// The run's interrupt check stopped it (not an error in the loss or the data).
    public var isInterrupt: Bool {
        if case .interrupted = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .interrupted(let place, _): return "interrupted \(place)"
        case .nonFiniteLoss(let value, let epoch, let epochs, let batch, let batches, _):
            return
                "the loss is \(value.isNaN ? "NaN" : value > 0 ? "infinite" : "-infinite") at epoch \(epoch) of \(epochs), batch \(batch) of \(batches)"
        case .lossNotScalar(let shape): return "the loss must be one number, got a tensor of shape \(formatShape(shape))"
        case .nothingToTrain: return "the loss does not depend on any trainable parameter"
        case .nonFiniteData(let what, let count, let first):
            return
                "\(what) holds \(count) value\(count == 1 ? "" : "s") that \(count == 1 ? "is" : "are") NaN or infinite (the first in example \(first))"
        }
    }
}
