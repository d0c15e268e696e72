import ArgumentParser
import Foundation
import RetortLang
import RetortREPL

/// `retort run FILE` and `retort run -e EXPR`: runs Retort code top to bottom, showing each
/// top-level expression's value as the REPL would.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a Retort script, or one expression with -e.",
        discussion: """
            Exit status: 0 on success, 65 for a syntax error (nothing ran), 70 for a runtime error,
            130 when interrupted, 66 when the file cannot be read.
            """)

    @Argument(help: "The script to run (.rt).") var file: String?
    @Option(
        name: .shortAndLong, parsing: .unconditional,
        help: "Evaluate this code instead of a file (it may start with a dash: -e '-2^2').")
    var expression: String?
    @Option(help: "Seed for the session's random generator.") var seed: UInt64 = 0

    static let syntaxError: Int32 = 65
    static let noInput: Int32 = 66
    static let runtimeError: Int32 = 70
    static let interrupted: Int32 = 130

    func validate() throws {
        if (file == nil) == (expression == nil) { throw ValidationError("give a script file or -e CODE, not both or neither") }
    }

    func run() throws {
        let code: String
        let name: String
        if let expression {
            code = expression
            name = "<-e>"
        } else {
            let path = file ?? ""
            switch Session.readSource(path) {
            case .success(let text): code = text
            case .failure(let error):
                FileHandle.standardError.write(Data("retort: \(error.message)\n".utf8))
                throw ExitCode(Run.noInput)
            }
            name = path
        }
        let sink = TerminalSink()
        let session = Session(sink: sink, seed: seed)
        let colour = isatty(STDERR_FILENO) != 0 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
        Interrupts.install { session.interrupt() }
        Interrupts.atPrompt = false
        let outcome = sink.running { session.execute(code, name: name) { value in sink.show(value) } }
        if case .failure(let diagnostics) = outcome {
            FileHandle.standardError.write(Data(session.render(diagnostics, colour: colour).utf8))
            if diagnostics.contains(where: \.isSyntax) { throw ExitCode(Run.syntaxError) }
            if diagnostics.contains(where: { $0.kind == .interrupted }) { throw ExitCode(Run.interrupted) }
            throw ExitCode(Run.runtimeError)
        }
    }
}
