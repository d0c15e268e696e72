import Foundation
import RetortLang
import RetortTensor

/// The interactive session: read a line (more while the parser says the input is incomplete),
/// run it, show the value or the diagnostic, keep every binding.
public final class REPL {
    let session: Session
    let sink: TerminalSink
    let readline: Readline?
    let colour: Bool

    public init(seed: UInt64 = 0) {
        sink = TerminalSink()
        session = Session(sink: sink, seed: seed)
        let interactive = isatty(STDIN_FILENO) != 0
        colour = isatty(STDOUT_FILENO) != 0 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
        if interactive {
            readline = Readline(historyPath: REPL.historyPath)
            Readline.session = session
        } else {
            readline = nil
        }
    }

    /// `$XDG_STATE_HOME/retort/history`, else `~/.local/state/retort/history`.
    static var historyPath: String {
        let env = ProcessInfo.processInfo.environment
        let state = env["XDG_STATE_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? (NSHomeDirectory() + "/.local/state")
        return state + "/retort/history"
    }

    func paint(_ text: String, _ code: String) -> String { colour ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text }

    /// Runs until end of input or `:quit`; returns the exit status.
    public func run(banner: String) -> Int32 {
        let session = self.session
        Interrupts.install { session.interrupt() }
        if readline != nil { sink.write(banner + "\n") }
        var buffer = ""
        while true {
            let prompt = buffer.isEmpty ? paint("retort> ", "1;32") : paint("   ...> ", "2")
            Interrupts.atPrompt = true
            let line: String?
            if let readline {
                line = readline.readLine(prompt: prompt)
            } else {
                line = Swift.readLine(strippingNewline: true)
            }
            Interrupts.atPrompt = false
            guard let line else {
                if readline != nil, !buffer.isEmpty {
                    // Ctrl-D in the middle of an entry drops the entry, not the session (everything
                    // trained in it would go): IPython ignores it there too.
                    sink.write("\n")
                    FileHandle.standardError.write(
                        Data("the unfinished entry is dropped; Ctrl-D at an empty retort> prompt quits\n".utf8))
                    buffer = ""
                    continue
                }
                if readline != nil { sink.write("\n") }
                // Piped input that ends inside an entry: run it, so its error says what is missing.
                if readline == nil, !buffer.isEmpty { execute(buffer) }
                break
            }
            if readline != nil, line.isEmpty, Interrupts.clearedLine {
                Interrupts.clearedLine = false
                buffer = ""
                continue
            }
            if buffer.isEmpty && Session.isCommand(line) {
                readline?.addHistory(line)
                if !command(line.trimmingCharacters(in: .whitespaces)) { break }
                continue
            }
            if buffer.isEmpty && line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            buffer += buffer.isEmpty ? line : "\n" + line
            if session.isComplete(buffer) == .incomplete { continue }
            readline?.addHistory(buffer)
            execute(buffer)
            buffer = ""
        }
        return 0
    }

    func execute(_ code: String, name: String? = nil) { show(sink.running { session.execute(code, name: name) }) }

    /// Shows a value, nothing, or the diagnostics on standard error.
    func show(_ outcome: Session.Outcome) {
        switch outcome {
        case .success(let value?):
            if case .none = value { return }
            sink.show(value)
        case .success(nil):
            break
        case .failure(let diagnostics):
            FileHandle.standardError.write(Data(session.render(diagnostics, colour: colour).utf8))
        }
    }

    /// Handles a `:command` (shared with the notebook kernel: `Session.runCommand`); false means quit.
    func command(_ line: String) -> Bool {
        // `:load` and `:time` run code Ctrl-C can stop, as a line of code does.
        switch sink.running({ session.runCommand(line) }) {
        case .quit:
            return false
        case .refused(let message):
            FileHandle.standardError.write(Data("\(message)\n".utf8))
        case .done(let outcome?):
            show(outcome)
        case .done(nil):
            if line.trimmingCharacters(in: .whitespaces) == ":help" || line.trimmingCharacters(in: .whitespaces) == ":h" {
                sink.write("Tab completes; Ctrl-C stops training; Ctrl-D quits.\n")
            }
        }
        return true
    }
}
