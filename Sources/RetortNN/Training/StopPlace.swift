/// Where a training run stopped, as its error, its history and the live display say it. Plain
/// numbers until a run stops: the trainer notes it for every batch, and only formats it then.
public struct StopPlace: CustomStringConvertible, Sendable {
    public enum Moment: Sendable {
        /// After this many completed batches of the epoch.
        case after(completed: Int)
        /// In this batch (from 1), which did not finish: its update was not made.
        case during(batch: Int)
        /// After the epoch's batches, in its validation or its checkpoint.
        case endOfEpoch
    }

    public var moment: Moment
    public var epoch: Int
    public var epochs: Int
    public var batches: Int

    public init(_ moment: Moment, epoch: Int, of epochs: Int, batches: Int) {
        (self.moment, self.epoch, self.epochs, self.batches) = (moment, epoch, epochs, batches)
    }

    /// The batches of the epoch that completed: the live display's last count.
    public var completed: Int {
        switch moment {
        case .after(let completed): return completed
        case .during(let batch): return batch - 1
        case .endOfEpoch: return batches
        }
    }

    /// Each phrase begins with its preposition ("in epoch 3 of 10, after batch 5 of 29"). At an
    /// epoch's start that is the end of the one before ("after batch 0 of 29" said nothing), and
    /// before the run's first batch nothing trained.
    public var description: String {
        switch moment {
        case .after(let completed) where completed > 0:
            return "in epoch \(epoch) of \(epochs), after batch \(completed) of \(batches)"
        case .after:
            return epoch > 1 ? "after epoch \(epoch - 1) of \(epochs)" : "before the first batch of epoch 1 of \(epochs)"
        case .during(let batch):
            return "in epoch \(epoch) of \(epochs), at batch \(batch) of \(batches)"
        case .endOfEpoch:
            return "at the end of epoch \(epoch) of \(epochs), after its batches"
        }
    }
}
