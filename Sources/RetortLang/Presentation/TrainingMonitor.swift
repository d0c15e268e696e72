import Foundation
import RetortNN
import RetortPlot

/// Follows the progress events of training runs and draws them as they grow: what a notebook's
/// live loss plot shows while `fit` or `distill` runs.
public final class TrainingMonitor {
    private var histories: [History] = []
    private var current: History?
    public private(set) var last: ProgressEvent?

    public init() {}

    /// Takes one event; a `started` event begins a new run, an `epoch` event adds a point.
    public func record(_ event: ProgressEvent) {
        last = event
        switch event.phase {
        case .started:
            let run = History(name: event.task)
            histories.append(run)
            current = run
        case .epoch:
            let ordered = event.metrics.sorted { a, b in
                let rank = { (name: String) in name == "loss" ? 0 : name.hasPrefix("val_") ? 2 : name.contains("accuracy") ? 1 : 0
                }
                return (rank(a.key), a.key) < (rank(b.key), b.key)
            }
            current?.append(epoch: event.epoch, metrics: ordered.map { ($0.key, $0.value) })
        default:
            break
        }
    }

    /// The curves of the current run so far, or nil before its first epoch ends.
    public var figure: Figure? {
        guard let current, !current.epochs.isEmpty else { return nil }
        var figure = Plots.history([current], log: false, title: current.name)
        // The title names the run; with validation curves the legend tells the solid training
        // line from the dashed validation one (it named only the dashed one).
        let validation = figure.legend.filter { $0.symbol == .dashedLine }
        figure.legend = validation.isEmpty ? [] : [LegendEntry(label: "training", colour: 0, symbol: .line)] + validation
        return figure
    }

    /// One line saying where training is: epoch, batch, loss, elapsed and remaining time.
    public var progressLine: String {
        guard let e = last else { return "" }
        let done = Double(max(e.epoch - 1, 0)) + Double(e.batch) / Double(max(e.batches, 1))
        let eta = done > 0 ? e.elapsed / done * (Double(e.epochs) - done) : 0
        let loss = e.loss.isNaN ? "" : String(format: "  loss %.4f", e.loss)
        switch e.phase {
        case .started: return "\(e.task): starting, \(e.epochs) epochs"
        case .finished: return String(format: "%@: %d epochs in %.1fs%@", e.task, e.epochs, e.elapsed, loss)
        case .interrupted: return "\(e.task): interrupted \(e.place ?? "")"
        case .stopped: return "\(e.task): stopped \(e.place ?? "")"
        case .batch, .epoch:
            return String(
                format: "%@: epoch %d/%d  batch %d/%d%@  %.1fs  eta %.1fs", e.task, e.epoch, e.epochs, e.batch, e.batches, loss,
                e.elapsed, eta)
        }
    }
}
