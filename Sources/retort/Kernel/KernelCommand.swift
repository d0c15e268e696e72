import ArgumentParser
import Foundation
import RetortKernel
import RetortREPL
import RetortTensor

/// `retort kernel --connection-file FILE`: Retort as a Jupyter kernel, as a front end starts it.
struct KernelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernel", abstract: "Run as a Jupyter kernel (Jupyter starts this; see `retort kernelspec install`).")

    @Option(help: "The connection file Jupyter wrote for this kernel.") var connectionFile: String
    @Option(help: "Seed for the session's random generator.") var seed: UInt64 = 0

    func run() throws {
        let connection = try ConnectionInfo(path: connectionFile)
        let language = LanguageKernel(seed: seed)
        let kernel = try Kernel(connection: connection, interpreter: language) { line in
            FileHandle.standardError.write(Data("retort kernel: \(line)\n".utf8))
        }
        // Tensor memory is kept for reuse (TensorStorage's malloc tuning); a large message's is given back.
        kernel.afterLargeMessage = { HeapMemory.release() }
        // SIGINT (interrupt_mode "signal") does what interrupt_request does: it stops the running
        // cell at its next check, and a wait for input at once.
        Interrupts.install { kernel.interrupt() }
        Interrupts.atPrompt = false
        try kernel.run()
    }
}
