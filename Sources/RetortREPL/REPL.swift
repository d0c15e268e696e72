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

    static let commands: [(name: String, usage: String, summary: String)] = [
        (":help", ":help [name]", "this overview, or a builtin's doc entry"),
        (":type", ":type expr", "the type (and shape) of an expression's value"),
        (":vars", ":vars", "your bindings with their types and shapes"),
        (":load", ":load file.rt", "run a file in this session"),
        (":reset", ":reset", "forget your bindings (builtins and the prelude stay)"),
        (":time", ":time expr", "run an expression and say how long it took"),
        (":quit", ":quit", "leave (Ctrl-D works too)"),
    ]

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
                if readline != nil { sink.write("\n") }
                break
            }
            if readline != nil, line.isEmpty, Interrupts.clearedLine {
                Interrupts.clearedLine = false
                buffer = ""
                continue
            }
            if buffer.isEmpty && line.trimmingCharacters(in: .whitespaces).hasPrefix(":") {
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

    func execute(_ code: String, name: String? = nil) {
        switch session.execute(code, name: name) {
        case .success(let value?):
            if case .none = value { return }
            sink.show(value)
        case .success(nil):
            break
        case .failure(let diagnostics):
            FileHandle.standardError.write(Data(session.render(diagnostics, colour: colour).utf8))
        }
    }

    /// Handles a `:command`; false means quit.
    func command(_ line: String) -> Bool {
        let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
        let argument = parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : ""
        switch parts[0] {
        case ":quit", ":q", ":exit":
            return false
        case ":help", ":h":
            if argument.isEmpty {
                sink.write("Type Retort code; its value is shown. Commands:\n")
                for c in REPL.commands {
                    sink.write("  \(c.usage.padding(toLength: 16, withPad: " ", startingAt: 0)) \(c.summary)\n")
                }
                sink.write("help() lists the builtins; Tab completes; Ctrl-C stops training; Ctrl-D quits.\n")
            } else {
                execute("help(\"\(argument.replacingOccurrences(of: "\"", with: ""))\")", name: "<:help>")
            }
        case ":type":
            guard !argument.isEmpty else { return usage(":type") }
            if case .success(let value?) = session.execute(argument, name: "<:type>") {
                var text = value.typeName
                if case .tensor(let t) = value { text += " \(formatShape(t.shape))" }
                sink.write(text + "\n")
            } else {
                execute(argument, name: "<:type>")
            }
        case ":vars":
            let bindings = session.interpreter.userBindings
            if bindings.isEmpty { sink.write("no bindings yet\n") }
            for (name, value) in bindings {
                var type = value.typeName
                switch value {
                case .tensor(let t): type += " \(formatShape(t.shape))"
                case .model(let m): type += " (\(m.network.parameterCount) parameters)"
                case .dataset(let d): type += " (\(d.count) examples)"
                default: break
                }
                sink.write("  \(name.padding(toLength: 16, withPad: " ", startingAt: 0)) \(type)\n")
            }
        case ":load":
            guard !argument.isEmpty else { return usage(":load") }
            switch Session.readSource(argument) {
            case .success(let code): execute(code, name: argument)
            case .failure(let error): FileHandle.standardError.write(Data("\(error.message)\n".utf8))
            }
        case ":reset":
            session.interpreter.reset()
            sink.write("bindings cleared\n")
        case ":time":
            guard !argument.isEmpty else { return usage(":time") }
            let started = Date()
            execute(argument, name: "<:time>")
            sink.write(String(format: "%.3f s\n", Date().timeIntervalSince(started)))
        default:
            let names = REPL.commands.map(\.name).joined(separator: ", ")
            FileHandle.standardError.write(Data("unknown command '\(parts[0])'; commands are \(names)\n".utf8))
        }
        return true
    }

    func usage(_ name: String) -> Bool {
        let usage = REPL.commands.first { $0.name == name }?.usage ?? name
        FileHandle.standardError.write(Data("usage: \(usage)\n".utf8))
        return true
    }
}
