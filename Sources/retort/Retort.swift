import ArgumentParser
import RetortNN
import RetortREPL
import RetortTensor

/// The `retort` command: one executable, a subcommand per front end.
@main
struct Retort: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retort",
        abstract: "Neural-network models and knowledge-distillation losses, over Retort's own tensor core.",
        subcommands: [REPLCommand.self, Run.self, KernelCommand.self, KernelspecCommand.self, Bench.self, Info.self, Fuzz.self],
        defaultSubcommand: REPLCommand.self)

    static func main() {
        BLASKernel.selectFastest()
        BLASKernel.checkSettings()
        // `retort FILE.rt` is `retort run FILE.rt`.
        var arguments = Array(CommandLine.arguments.dropFirst())
        if let first = arguments.first, first.hasSuffix(".rt") { arguments.insert("run", at: 0) }
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
        } catch {
            exit(withError: error)
        }
    }
}

/// `retort info`: the version, the BLAS kernel in use and its thread count, and how far apart the
/// first two CPUs are.
struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version and the BLAS configuration in use.")

    @Flag(help: "Print only the nanoseconds a cache line takes between the first two CPUs (for scripts; nothing with one CPU).")
    var coreLatency = false

    func run() throws {
        let distance = CPU.coreDistance()
        if coreLatency {
            if let distance { print(String(format: "%.1f", distance.nanoseconds)) }
            return
        }
        print("retort \(RetortVersion.current)")
        print(BLASKernel.summary)
        let pool = BLAS.gemmLibrary == .oneDNN ? "OpenMP's pool, shared with the GEMM" : "Dispatch threads, as many as BLAS's"
        print("int8: Retort's own kernel, \(Int8Kernel.path) path, rows split over \(pool)")
        print("cores: " + (distance?.summary ?? "\(CPU.allowed().count) CPU(s) to run on, no pair to measure"))
    }
}

enum RetortVersion {
    static let current = "0.1.0"
}

/// `retort` with no subcommand: the interactive session.
struct REPLCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repl", abstract: "Start the interactive session (the default).")

    @Option(help: "Seed for the session's random generator.") var seed: UInt64 = 0

    func run() throws {
        let banner = """
            Retort \(RetortVersion.current): models and distillation losses. \(BLASKernel.summary)
            :help for commands, help() for builtins, Tab completes, Ctrl-D quits.
            """
        let status = REPL(seed: seed).run(banner: banner)
        if status != 0 { throw ExitCode(status) }
    }
}
