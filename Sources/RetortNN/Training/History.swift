/// What training recorded, one entry per epoch: the loss and any other metrics.
public final class History {
    public var name: String
    public var epochs: [Int] = []
    public var series: [(name: String, values: [Double])] = [("loss", [])]
    /// Set when training stopped early (an interrupt, or an error once the run had changed the
    /// model), saying where (`StopPlace`).
    public var stoppedAt: String?

    public init(name: String) { self.name = name }

    /// Adds one epoch's metrics; a metric first seen now is NaN for the epochs before.
    public func append(epoch: Int, metrics: [(String, Double)]) {
        epochs.append(epoch)
        for (name, value) in metrics {
            if let i = series.firstIndex(where: { $0.name == name }) {
                series[i].values.append(value)
            } else {
                series.append((name, Array(repeating: .nan, count: epochs.count - 1) + [value]))
            }
        }
    }

    public func values(_ name: String) -> [Double]? { series.first { $0.name == name }?.values }
}

/// One moment of a training run, for a progress display.
public struct TrainingEvent: Sendable {
    /// `interrupted`: the run's interrupt check stopped it; `stopped`: an error did (in the loss,
    /// validation or a checkpoint, an interrupt inside a loss function among them).
    public enum Phase: Sendable { case started, batch, epoch, finished, interrupted, stopped }
    public var phase: Phase
    public var task: String
    public var epoch: Int
    public var epochs: Int
    public var batch: Int
    public var batches: Int
    public var loss: Double
    public var metrics: [String: Double]
    public var elapsed: Double
    /// Where an interrupted or stopped run stopped (`StopPlace`), as its error says it.
    public var place: String?

    public init(
        phase: Phase, task: String, epoch: Int, epochs: Int, batch: Int, batches: Int, loss: Double, metrics: [String: Double],
        elapsed: Double, place: String? = nil
    ) {
        (self.phase, self.task, self.epoch, self.epochs) = (phase, task, epoch, epochs)
        (self.batch, self.batches, self.loss, self.metrics, self.elapsed) = (batch, batches, loss, metrics, elapsed)
        self.place = place
    }
}
