import ArgumentParser
import Foundation
import RetortKernel
import RetortREPL

/// `retort kernel --connection-file FILE`: Retort as a Jupyter kernel, as a front end starts it.
struct KernelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernel", abstract: "Run as a Jupyter kernel (Jupyter starts this; see `retort kernelspec install`).")

    @Option(help: "The connection file Jupyter wrote for this kernel.") var connectionFile: String
    @Option(help: "Seed for the session's random generator.") var seed: UInt64 = 0

    func run() throws {
        let connection = try ConnectionInfo(path: connectionFile)
        let language = LanguageKernel(seed: seed)
        // SIGINT (interrupt_mode "signal") and interrupt_request both set the cooperative flag.
        Interrupts.install { language.interrupt() }
        Interrupts.atPrompt = false
        let kernel = try Kernel(connection: connection, interpreter: language) { line in
            FileHandle.standardError.write(Data("retort kernel: \(line)\n".utf8))
        }
        try kernel.run()
    }
}
