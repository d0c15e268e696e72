import Foundation
import RetortTensor

/// The `:commands` every front end shares (IPython's magics are the model): the REPL runs them at
/// its prompt, the notebook kernel on a line of their own in a cell. Text goes to the session's
/// sink; code a command runs (`:time expr`) comes back as an outcome the front end shows as usual.
extension Session {
    public struct Command: Sendable {
        public let name: String
        public let usage: String
        public let summary: String
    }

    public static let commands: [Command] = [
        Command(name: ":help", usage: ":help [name]", summary: "this overview, or a builtin's doc entry"),
        Command(name: ":type", usage: ":type expr", summary: "the type (and shape) of an expression's value"),
        Command(name: ":vars", usage: ":vars", summary: "your bindings with their types and shapes"),
        Command(name: ":load", usage: ":load file.rt", summary: "run a file in this session"),
        Command(name: ":reset", usage: ":reset", summary: "forget your bindings (builtins and the prelude stay)"),
        Command(
            name: ":time", usage: ":time expr",
            summary: "run an expression and say how long it took (alone on a cell's first line: the rest of the cell)"),
        Command(
            name: "!", usage: "!command",
            summary: "run a shell command in the session's folder and show its output (a failing one is an error)"),
        Command(name: ":quit", usage: ":quit", summary: "leave (Ctrl-D works too)"),
    ]

    /// What running a command came to.
    public enum CommandOutcome {
        /// Done; the outcome of any code it ran (nil when it ran none).
        case done(Outcome?)
        /// `:quit`: the front end decides what leaving means.
        case quit
        /// A command name the session does not know, or one used wrongly: the message says which.
        case refused(String)
    }

    /// Whether a line is a command: `:` then a letter, or `!` then anything but `=` (`!= 3` continues
    /// the line before), after any indentation.
    public static func isCommand(_ line: some StringProtocol) -> Bool {
        let text = line.drop { $0 == " " || $0 == "\t" }
        guard let first = text.first, let next = text.dropFirst().first else { return false }
        switch first {
        case ":": return next.isLetter
        case "!": return next != "=" && !text.dropFirst().allSatisfy(\.isWhitespace)
        default: return false
        }
    }

    /// Runs one command line (`:vars`, `:time fit(m, data)`, …).
    public func runCommand(_ line: String) -> CommandOutcome {
        let text = line.trimmingCharacters(in: .whitespaces)
        let parts = text.split(separator: " ", maxSplits: 1).map(String.init)
        let name = parts.first ?? text
        let argument = parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : ""
        let sink = interpreter.sink
        if text.hasPrefix("!") { return .done(shell(String(text.dropFirst()).trimmingCharacters(in: .whitespaces))) }
        func usage() -> CommandOutcome {
            .refused("usage: " + (Self.commands.first { $0.name == name }?.usage ?? name))
        }
        switch name {
        case ":quit", ":q", ":exit":
            return .quit
        case ":help", ":h":
            if argument.isEmpty {
                var lines = ["Type Retort code; its value is shown. Commands:"]
                for c in Self.commands {
                    lines.append("  \(c.usage.padding(toLength: 16, withPad: " ", startingAt: 0)) \(c.summary)")
                }
                lines.append("help() lists the builtins.")
                sink.write(lines.joined(separator: "\n") + "\n")
                return .done(nil)
            }
            return .done(execute("help(\"\(argument.replacingOccurrences(of: "\"", with: ""))\")", name: "<:help>"))
        case ":type":
            guard !argument.isEmpty else { return usage() }
            let outcome = execute(argument, name: "<:type>")
            guard case .success(let value?) = outcome else { return .done(outcome) }
            var type = value.typeName
            if case .tensor(let t) = value { type += " \(formatShape(t.shape))" }
            sink.write(type + "\n")
            return .done(nil)
        case ":vars":
            let bindings = interpreter.userBindings
            if bindings.isEmpty { sink.write("no bindings yet\n") }
            var lines: [String] = []
            for (name, value) in bindings {
                var type = value.typeName
                switch value {
                case .tensor(let t): type += " \(formatShape(t.shape))"
                case .model(let m): type += " (\(m.countText))"
                case .dataset(let d): type += " (\(d.count) examples)"
                default: break
                }
                lines.append("  \(name.padding(toLength: 16, withPad: " ", startingAt: 0)) \(type)")
            }
            if !lines.isEmpty { sink.write(lines.joined(separator: "\n") + "\n") }
            return .done(nil)
        case ":load":
            guard !argument.isEmpty else { return usage() }
            // As a shell would read it: quotes around the path dropped, ~ as the home folder
            // (`:load "my run.rt"` looked for a file named with its quotes).
            var path = argument
            if path.count >= 2, let first = path.first, first == path.last, first == "\"" || first == "'" {
                path = String(path.dropFirst().dropLast())
            }
            if path == "~" || path.hasPrefix("~/") { path = NSString(string: path).expandingTildeInPath }
            switch Session.readSource(path) {
            case .success(let code): return .done(execute(code, name: path))
            case .failure(let error): return .refused(error.message)
            }
        case ":reset":
            interpreter.reset()
            sink.write("bindings cleared\n")
            return .done(nil)
        case ":time":
            guard !argument.isEmpty else { return usage() }
            return .done(timed { execute(argument, name: "<:time>") })
        default:
            let names = Self.commands.map(\.name).joined(separator: ", ")
            return .refused("unknown command '\(name)'; commands are \(names)")
        }
    }

    /// Runs a `!command`; a failure comes back as an error naming the command and how it ended.
    private func shell(_ command: String) -> Outcome {
        let sink = interpreter.sink
        let ending = ShellCommand(command: command).run(
            write: { sink.write($0) }, writeError: { sink.writeError($0) }, interrupt: interpreter.interrupt)
        func failure(_ kind: Diagnostic.Kind, _ message: String) -> Outcome {
            .failure([Diagnostic(kind, message, at: nil, source: "!\(command)")])
        }
        switch ending {
        case .exited(0): return .success(value: nil)
        case .exited(let status): return failure(.runtime, "the command `\(command)` exited with status \(status)")
        case .signalled(let signal): return failure(.runtime, "the command `\(command)` was stopped by signal \(signal)")
        case .interrupted: return failure(.interrupted, "interrupted the command `\(command)`")
        case .couldNotStart(let reason): return failure(.runtime, "could not start `\(command)`: \(reason)")
        }
    }

    /// Runs `body` and writes how long it took, as `:time` does.
    public func timed(_ body: () -> Outcome) -> Outcome {
        let started = DispatchTime.now().uptimeNanoseconds
        let outcome = body()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        interpreter.sink.write("time: \(Self.duration(seconds))\n")
        return outcome
    }

    /// A duration in the unit that shows it, as IPython's %time: `4.1 µs`, `12.3 ms`, `1.234 s`
    /// (fast code once read `0.000 s`).
    static func duration(_ seconds: Double) -> String {
        if seconds < 1e-3 { return String(format: "%.1f µs", seconds * 1e6) }
        if seconds < 1 { return String(format: "%.1f ms", seconds * 1e3) }
        return String(format: "%.3f s", seconds)
    }
}
