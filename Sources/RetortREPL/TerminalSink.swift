import Foundation
import RetortLang

/// Renders the language's output on a terminal or into a pipe: text as is; training progress as
/// a live line on a terminal, or one summary line per epoch elsewhere.
public final class TerminalSink: OutputSink {
    let isTerminal = isatty(STDOUT_FILENO) != 0
    var lastDraw: Double = 0

    public init() {}

    public func write(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    public func progress(_ e: ProgressEvent) {
        let loss = e.loss.isNaN ? "" : String(format: "loss %.4f", e.loss)
        switch e.phase {
        case .batch where isTerminal:
            // At most ten redraws a second: drawing is slower than a small model's batch.
            guard e.elapsed - lastDraw > 0.1 || e.batch == e.batches else { return }
            lastDraw = e.elapsed
            let done = Double(e.epoch - 1) + Double(e.batch) / Double(max(e.batches, 1))
            let eta = done > 0 ? e.elapsed / done * (Double(e.epochs) - done) : 0
            let line = String(
                format: "%@  epoch %d/%d  batch %d/%d  %@  %.1fs  eta %.1fs", e.task, e.epoch, e.epochs, e.batch, e.batches, loss,
                e.elapsed, eta)
            write("\r\u{1B}[K" + line)
        case .epoch:
            let metrics = e.metrics.filter { $0.key != "loss" }.sorted { $0.key < $1.key }
                .map { String(format: "%@ %.4f", $0.key, $0.value) }.joined(separator: "  ")
            let line = String(format: "%@  epoch %d/%d  %@  %@", e.task, e.epoch, e.epochs, loss, metrics)
            if isTerminal {
                write("\r\u{1B}[K" + (e.epoch == e.epochs ? line + "\n" : line))
            } else {
                write(line + "\n")
            }
        case .interrupted where isTerminal:
            write("\n")
        default:
            break
        }
    }
}
