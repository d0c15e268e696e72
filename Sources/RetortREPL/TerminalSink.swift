import Foundation
import RetortLang

/// Renders the language's output on a terminal or into a pipe: text as is; training progress as
/// a live line on a terminal, or one summary line per epoch elsewhere.
public final class TerminalSink: OutputSink {
    let isTerminal = isatty(STDOUT_FILENO) != 0
    var lastDraw: Double = 0
    /// A progress line is on the screen without its newline: `endLine` ends it before an error.
    var lineOpen = false

    public init() {}

    /// Text the program prints starts below an open progress line rather than on it.
    public func write(_ text: String) {
        if lineOpen { endLine(interrupted: false) }
        emit(text)
    }

    public func writeError(_ text: String) {
        if lineOpen { endLine(interrupted: false) }
        FileHandle.standardError.write(Data(text.utf8))
    }

    func emit(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    public func display(_ value: Value) { show(value) }

    public func readInput(prompt: String, password: Bool) -> String? {
        write(prompt)
        return readLine(strippingNewline: true)
    }

    /// The terminal's width in columns ($COLUMNS, else the window size, else 80).
    public var columns: Int {
        if let c = ProcessInfo.processInfo.environment["COLUMNS"].flatMap(Int.init), c > 0 { return c }
        var size = winsize()
        if isTerminal, ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
        return 80
    }

    /// Shows a value as a REPL or script shows a result: plots as text graphics fitted to the width,
    /// coloured on a terminal unless NO_COLOR is set.
    public func show(_ value: Value) {
        let colour = isTerminal && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
        let text = value.displayText(width: min(columns, 160), colour: colour)
        write(text.hasSuffix("\n") ? text : text + "\n")
    }

    /// Runs code Ctrl-C can interrupt, then ends an open progress line, or the line the terminal
    /// echoed ^C on, so that an error, a result or the next prompt starts on a line of its own.
    public func running<T>(_ work: () -> T) -> T {
        _ = Interrupts.takeDuringWork()
        let result = work()
        endLine(interrupted: Interrupts.takeDuringWork())
        return result
    }

    /// Ends an open progress line, or the line the terminal echoed ^C on (`interrupted`), so that
    /// an error or the next prompt starts on a line of its own.
    func endLine(interrupted: Bool) {
        guard lineOpen || (interrupted && isTerminal) else { return }
        emit("\n")
        lineOpen = false
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
            emit("\r\u{1B}[K" + String(line.prefix(max(columns - 1, 20))))
            lineOpen = true
        case .interrupted where lineOpen && e.batch > 0, .stopped where lineOpen && e.batch > 0:
            // The line's last figures, not the last throttled draw's: the error below names the
            // same batch (at an epoch's start the epoch's summary line stays). The caller ends the
            // line (`endLine`), after the terminal's echoed ^C.
            let line = String(
                format: "%@  epoch %d/%d  batch %d/%d  %@  %.1fs", e.task, e.epoch, e.epochs, e.batch, e.batches, loss, e.elapsed)
            emit("\r\u{1B}[K" + String(line.prefix(max(columns - 1, 20))))
        case .epoch:
            let metrics = e.metrics.filter { $0.key != "loss" }.sorted { $0.key < $1.key }
                .map { String(format: "%@ %.4f", $0.key, $0.value) }.joined(separator: "  ")
            let line = String(format: "%@  epoch %d/%d  %@  %@", e.task, e.epoch, e.epochs, loss, metrics)
            if isTerminal {
                let fitted = String(line.prefix(max(columns - 1, 20)))
                emit("\r\u{1B}[K" + (e.epoch == e.epochs ? fitted + "\n" : fitted))
                lineOpen = e.epoch != e.epochs
            } else {
                emit(line + "\n")
            }
        default:
            break
        }
    }
}
