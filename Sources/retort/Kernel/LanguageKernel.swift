import Foundation
import RetortKernel
import RetortLang
import RetortPlot

/// Retort as the kernel's interpreter: runs cells in one session and turns values into MIME bundles.
final class LanguageKernel: KernelInterpreter {
    private let sink = NotebookSink()
    private let session: Session

    init(seed: UInt64) {
        session = Session(sink: sink, seed: seed)
    }

    var languageInfo: JSONObject {
        [
            "name": "retort", "version": RetortVersion.current, "mimetype": "text/x-retort", "file_extension": ".rt",
            // The closest lexers on offer (README, "The Jupyter kernel"): Julia's has `#` comments,
            // `let`, `for`, `in`, `if`, `else` as keywords and `from` as a plain name; Python's draws
            // `from:` in `distill(s, from: t)` as a keyword and leaves `let` plain.
            "pygments_lexer": "julia", "codemirror_mode": "julia",
        ]
    }

    var implementationVersion: String { RetortVersion.current }

    var banner: String {
        "Retort \(RetortVersion.current): models and distillation losses. \(BLASKernel.summary)\nhelp() lists the builtins."
    }

    /// The papers and reference behind the prelude's losses.
    var helpLinks: [(text: String, url: String)] {
        [
            ("Hinton et al., Distilling the Knowledge in a Neural Network", "https://arxiv.org/abs/1503.02531"),
            ("PyTorch KLDivLoss (the numerical reference)", "https://pytorch.org/docs/stable/generated/torch.nn.KLDivLoss.html"),
            ("Jupyter messaging protocol", "https://jupyter-client.readthedocs.io/en/stable/messaging.html"),
        ]
    }

    func execute(_ code: String, output: ExecutionOutput) -> ExecutionResult {
        sink.output = output
        defer { sink.finish() }
        // Tracebacks name the cell as the notebook numbers it (In [5] is `<cell 5>`), however many
        // commands and silent requests ran before; a silent request has a number of its own.
        let name: String
        if let count = output.executionCount {
            name = "<cell \(count)>"
        } else {
            silentCount += 1
            name = "<silent \(silentCount)>"
        }
        let lines = code.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.contains(where: { Session.isCommand($0) }) else { return result(session.execute(code, name: name)) }
        return executeWithCommands(lines, name: name, cell: code)
    }

    private var silentCount = 0

    func evaluate(_ expression: String) -> ExecutionResult { execute(expression, output: DiscardedOutput()) }

    /// A cell with `:command` lines (IPython's line magics are the model): the code between them
    /// runs in order, each command where it stands; `:time` alone on a line times the rest of the
    /// cell, as `%%time` does. The cell's value is its last code's, as usual.
    private func executeWithCommands(_ lines: [Substring], name: String, cell: String) -> ExecutionResult {
        var chunkStart = 0
        var last: ExecutionResult = .ok(nil)
        // Code keeps its line numbers: the lines before it are blank in what is run.
        func code(_ range: Range<Int>) -> String {
            String(repeating: "\n", count: range.lowerBound) + lines[range].joined(separator: "\n")
        }
        func runChunk(upTo end: Int) -> ExecutionResult? {
            defer { chunkStart = end + 1 }
            guard chunkStart < end, lines[chunkStart..<end].contains(where: { !$0.allSatisfy(\.isWhitespace) }) else {
                return nil
            }
            last = result(session.execute(code(chunkStart..<end), name: name, cell: cell))
            if case .error = last { return last }
            return nil
        }
        for (i, line) in lines.enumerated() where Session.isCommand(line) {
            // A line inside an unfinished expression is not a command: `[1,\n:x]` stays code.
            let pending = lines[chunkStart..<i].joined(separator: "\n")
            guard pending.allSatisfy(\.isWhitespace) || session.isComplete(pending) != .incomplete else { continue }
            if let failed = runChunk(upTo: i) { return failed }
            let text = line.trimmingCharacters(in: .whitespaces)
            if text == ":time" {
                chunkStart = lines.count
                return result(session.timed { session.execute(code((i + 1)..<lines.count), name: name, cell: cell) })
            }
            switch session.runCommand(text) {
            case .quit:
                return commandError(
                    "\(text) leaves the terminal REPL; a notebook's kernel is stopped or restarted from the Kernel menu")
            case .refused(let message):
                return commandError(message)
            case .done(let outcome?):
                last = result(outcome)
                if case .error = last { return last }
            case .done(nil):
                last = .ok(nil)
            }
        }
        if let failed = runChunk(upTo: lines.count) { return failed }
        return last
    }

    private func commandError(_ message: String) -> ExecutionResult {
        .error(name: "CommandError", value: message, traceback: ["CommandError: \(message)"])
    }

    /// A session outcome as the kernel's result: the value's bundle, or the error with its traceback.
    private func result(_ outcome: Session.Outcome) -> ExecutionResult {
        switch outcome {
        case .success(let value):
            guard let value else { return .ok(nil) }
            if case .none = value { return .ok(nil) }
            return .ok(Self.bundle(value))
        case .failure(var diagnostics):
            // input() reads a missing answer as a front end that cannot ask; the wait was interrupted.
            if sink.inputInterrupted, diagnostics.first?.kind == .runtime {
                diagnostics[0].kind = .interrupted
                diagnostics[0].message = "interrupted while waiting for input"
            }
            let first = diagnostics.first
            let traceback = session.render(diagnostics, colour: true).split(separator: "\n", omittingEmptySubsequences: false)
                .map(String.init)
            return .error(
                name: first?.kind == .interrupted ? "Interrupted" : first?.title ?? "Error", value: first?.message ?? "",
                traceback: traceback.last == "" ? Array(traceback.dropLast()) : traceback)
        }
    }

    func complete(_ code: String, cursor: Int) -> (matches: [String], start: Int, end: Int) {
        let found = session.completions(code, cursor: min(max(cursor, 0), code.unicodeScalars.count))
        return (found.matches, found.start, found.end)
    }

    func inspect(_ code: String, cursor: Int, detailLevel: Int) -> MimeBundle? {
        session.documentation(in: code, cursor: cursor).map { MimeBundle(data: ["text/plain": $0]) }
    }

    /// As the parser decides, with `:command` and `!shell` lines counted as complete, as they run
    /// (IPython's reply for `%magic` and `!cmd`).
    func isComplete(_ code: String) -> Completeness {
        let lines = code.split(separator: "\n", omittingEmptySubsequences: false)
        let codeOnly = lines.map { Session.isCommand($0) ? "" : String($0) }.joined(separator: "\n")
        switch session.isComplete(codeOnly) {
        case .complete: return .complete
        case .incomplete: return .incomplete(indent: "  ")
        case .invalid: return .invalid
        }
    }

    func interrupt() { session.interrupt() }

    /// A value in every form a notebook can use: text always, plots as PNG (2×) and SVG, tables
    /// as HTML, formulas as LaTeX.
    static func bundle(_ value: Value) -> MimeBundle {
        switch value {
        case .plot(let figure): return bundle(figure, text: figure.summary)
        case .formula(let latex): return MimeBundle(data: ["text/plain": latex, "text/latex": "$$\(latex)$$"])
        default:
            var data: JSONObject = ["text/plain": value.displayText]
            if let html = value.displayHTML { data["text/html"] = html }
            return MimeBundle(data: data)
        }
    }

    /// A figure as PNG at twice its CSS size (shown at that size) and SVG; text alone if cairo fails.
    static func bundle(_ figure: Figure, text: String) -> MimeBundle {
        var data: JSONObject = ["text/plain": text]
        var metadata: JSONObject = [:]
        if let png = try? figure.png(scale: 2) {
            data["image/png"] = Data(png).base64EncodedString()
            metadata["image/png"] = ["width": Int(figure.width), "height": Int(figure.height)]
        }
        if let svg = try? figure.svg() { data["image/svg+xml"] = svg }
        return MimeBundle(data: data, metadata: metadata)
    }
}

/// The language's output sink in a notebook: text as streams, displays as MIME bundles, and
/// training as one live display that is updated in place a few times a second.
final class NotebookSink: OutputSink {
    var output: ExecutionOutput?
    private var monitor = TrainingMonitor()
    private var displayID: String?
    private var lastUpdate = Date.distantPast
    /// Whether this cell's input() was abandoned on an interrupt, so the cell ends `Interrupted`.
    private(set) var inputInterrupted = false
    static let updateInterval = 0.25

    func write(_ text: String) { output?.stream("stdout", text) }
    func writeError(_ text: String) { output?.stream("stderr", text) }
    func display(_ value: Value) { output?.display(LanguageKernel.bundle(value), id: nil, update: false) }
    func clearOutput(wait: Bool) { output?.clearOutput(wait: wait) }
    func page(_ text: String) { output?.page(text) }
    func readInput(prompt: String, password: Bool) -> String? {
        switch output?.input(prompt: prompt, password: password) {
        case .line(let line)?: return line
        case .interrupted?:
            inputInterrupted = true
            return nil
        case .unavailable?, nil: return nil
        }
    }

    func progress(_ event: ProgressEvent) {
        monitor.record(event)
        switch event.phase {
        case .started:
            let id = UUID().uuidString.lowercased()
            displayID = id
            output?.display(MimeBundle(data: ["text/plain": monitor.progressLine]), id: id, update: false)
            lastUpdate = Date()
        case .batch, .epoch:
            guard Date().timeIntervalSince(lastUpdate) >= Self.updateInterval else { return }
            update()
        case .finished, .interrupted, .stopped:
            update()
        }
    }

    /// Replaces the live display with the curve so far and where training is.
    private func update() {
        guard let displayID else { return }
        lastUpdate = Date()
        let line = monitor.progressLine
        if var figure = monitor.figure {
            figure.title = line
            output?.display(LanguageKernel.bundle(figure, text: line), id: displayID, update: true)
        } else {
            output?.display(MimeBundle(data: ["text/plain": line]), id: displayID, update: true)
        }
    }

    /// Ends the cell: the next training run gets a display of its own.
    func finish() {
        output = nil
        inputInterrupted = false
        displayID = nil
        monitor = TrainingMonitor()
    }
}

/// Where a user expression's output goes: nowhere (ipykernel shows none of it either).
private final class DiscardedOutput: ExecutionOutput {
    var executionCount: Int? { nil }
    func stream(_ name: String, _ text: String) {}
    func display(_ bundle: MimeBundle, id: String?, update: Bool) {}
    func clearOutput(wait: Bool) {}
    func page(_ text: String) {}
    func input(prompt: String, password: Bool) -> InputAnswer { .unavailable }
}
