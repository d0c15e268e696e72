import RetortNN
import RetortTensor

/// What a front end (REPL, script runner, Jupyter kernel) talks to: run code, ask whether input is
/// complete, render diagnostics. It holds the interpreter across cells.
public final class Session {
    public let interpreter: Interpreter
    public private(set) var executionCount = 0

    public init(sink: OutputSink, seed: UInt64 = 0) {
        interpreter = Interpreter(sink: sink, seed: seed)
    }

    public enum Outcome {
        /// The program ran; `value` is the value of its final expression statement, if any.
        case success(value: Value?)
        /// It did not: every syntax error found, or the one runtime error that stopped it.
        case failure([Diagnostic])
    }

    public enum Completeness: Equatable {
        case complete
        /// More input could complete it (an open bracket, block, string or trailing operator).
        case incomplete
        case invalid
    }

    /// Parses and runs `code`. A syntax error runs nothing; a runtime error stops at that
    /// statement. Either way every earlier binding is kept.
    ///
    /// - Parameters:
    ///   - name: what errors and tracebacks call the code (`<cell 3>`); by default the session's count.
    ///   - cell: the whole text `code` is a part of, with `code`'s other lines blank (a notebook
    ///     cell run around its `:commands`); tracebacks show its lines, so a function defined in one
    ///     part and failing later shows its own line whichever part ran last.
    public func execute(
        _ code: String, name: String? = nil, cell: String? = nil, displayEach: ((Value) -> Void)? = nil
    ) -> Outcome {
        // An interrupt from before this cell (Ctrl-C at the prompt, a request while idle) is spent;
        // one that comes while it is parsed or runs stops it.
        interpreter.interrupt.clear()
        executionCount += 1
        let source = Source(name: name ?? "<cell \(executionCount)>", text: code)
        interpreter.sources[source.name] = cell.map { Source(name: source.name, text: $0) } ?? source
        var parser = Parser(source)
        let program = parser.parseProgram()
        if !parser.diagnostics.isEmpty { return .failure(parser.diagnostics) }
        do {
            if let displayEach {
                return .success(value: try interpreter.runEach(program, display: displayEach))
            }
            return .success(value: try interpreter.run(program))
        } catch let d as Diagnostic {
            return .failure([d])
        } catch {
            return .failure([Diagnostic(.runtime, "\(error)", at: nil, source: source.name)])
        }
    }

    /// Whether `code` is complete, decided by the parser: input that ends where more was
    /// expected is incomplete; any other error makes it invalid.
    public func isComplete(_ code: String) -> Completeness {
        var parser = Parser(Source(name: "<input>", text: code))
        _ = parser.parseProgram()
        if parser.diagnostics.isEmpty { return .complete }
        return parser.diagnostics.contains { $0.kind == .unexpectedEndOfInput } ? .incomplete : .invalid
    }

    /// Diagnostics as text with source lines and carets.
    public func render(_ diagnostics: [Diagnostic], colour: Bool = false) -> String {
        let renderer = DiagnosticRenderer(colour: colour)
        return diagnostics.map {
            renderer.render($0, source: interpreter.sources[$0.sourceName]) { [interpreter] in interpreter.sources[$0] }
        }.joined()
    }

    /// The doc entry of a builtin or the source of a function the name is bound to, or nil.
    public func documentation(of name: String) -> String? {
        switch interpreter.lookup(name) {
        case .function(.builtin(let b))?: return b.documentation
        case .function(.closure(let c))?: return c.declaration.sourceText
        case let value?: return "\(name): \(value.typeName)\n\(value.displayText)"
        case nil: return nil
        }
    }

    /// The text of a source file, or why it cannot be had (no such file, a device or pipe, too
    /// large, not UTF-8 and where): what `retort run FILE` and the REPL's `:load` read.
    public static func readSource(_ path: String) -> Result<String, SourceFileError> {
        do {
            return .success(try FileReading.text(path))
        } catch let e as TensorError {
            return .failure(SourceFileError(message: e.message))
        } catch {
            return .failure(SourceFileError(message: "cannot read '\(path)': \(error)"))
        }
    }

    public struct SourceFileError: Error { public let message: String }

    /// Binds a name in the session's global scope (for front ends and tests).
    public func define(_ name: String, _ value: Value) { interpreter.globals.define(name, value) }

    /// Asks running work to stop at its next check (between loop iterations and batches).
    public func interrupt() { interpreter.interrupt.request() }
}

extension Interpreter {
    /// Runs a program as a script: every top-level expression statement with a value is shown.
    func runEach(_ program: Program, display: (Value) -> Void) throws -> Value? {
        source = program.source
        currentSourceName = program.source.name
        frames.removeAll()
        sources[program.source.name] = program.source
        var last: Value?
        for statement in program.statements {
            last = nil
            try checkInterrupt(statement.range, "before this statement")
            do {
                if let value = try execute(statement, globals) {
                    last = value
                    if case .none = value {} else { display(value) }
                }
            } catch Jump.breakLoop(let r), Jump.continueLoop(let r) {
                throw diagnostic(.syntax, "'break' and 'continue' belong inside a loop", at: r)
            } catch Jump.returnValue(_, let r) {
                throw diagnostic(.syntax, "'return' belongs inside a function", at: r)
            }
        }
        return last
    }
}
