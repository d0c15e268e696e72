import ArgumentParser
import Foundation
import RetortKernel
import RetortPlot

/// `retort kernelspec install`: tells Jupyter how to start Retort.
struct KernelspecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernelspec", abstract: "Install Retort's Jupyter kernelspec.",
        subcommands: [Install.self, Write.self])

    struct Install: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Install the kernelspec so `jupyter kernelspec list` shows retort (default: for this user).",
            discussion: """
                --user writes to $JUPYTER_DATA_DIR/kernels/retort, else ~/.local/share/jupyter/kernels/retort.
                --prefix DIR writes to DIR/share/jupyter/kernels/retort (a venv's or conda env's prefix).
                The kernelspec starts this binary by its absolute path.
                """)

        @Flag(help: "Install for the current user (the default).") var user = false
        @Option(help: "Install under this prefix instead: PREFIX/share/jupyter/kernels/retort.") var prefix: String?

        func validate() throws {
            if user && prefix != nil { throw ValidationError("give --user or --prefix, not both") }
        }

        func run() throws {
            let base: URL
            if let prefix {
                base = URL(fileURLWithPath: prefix).appendingPathComponent("share/jupyter")
            } else if let data = ProcessInfo.processInfo.environment["JUPYTER_DATA_DIR"], !data.isEmpty {
                base = URL(fileURLWithPath: data)
            } else {
                base = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".local/share/jupyter")
            }
            let directory = base.appendingPathComponent("kernels/retort")
            try Kernelspec.write(to: directory, executable: try Kernelspec.executablePath())
            print("Installed the retort kernelspec in \(directory.path)")
        }
    }

    struct Write: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write kernel.json and the logos into a folder, starting `retort` from PATH (the repository's kernelspec/)."
        )

        @Argument(help: "The folder to write.") var directory: String

        func run() throws {
            try Kernelspec.write(to: URL(fileURLWithPath: directory), executable: "retort")
        }
    }
}

enum Kernelspec {
    /// kernel.json for a kernel started as `executable kernel --connection-file FILE`.
    static func json(executable: String) throws -> Data {
        let spec: [String: Any] = [
            "argv": [executable, "kernel", "--connection-file", "{connection_file}"], "display_name": "Retort",
            "language": "retort", "interrupt_mode": "message", "metadata": metadata(curve: ZMQLibrary.hasCurve),
        ]
        return try JSONSerialization.data(withJSONObject: spec, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
    }

    /// Claims CurveZMQ only when this binary's libzmq has it. jupyter_client reads the claim:
    /// `transport_encryption="auto"` writes keys only for a kernel that makes it, and "required"
    /// refuses, before launching, a kernel that does not. So without CURVE, "auto" runs unencrypted,
    /// as for any kernel that cannot encrypt, and "required" fails in the manager with its reason.
    static func metadata(curve: Bool) -> [String: Any] {
        curve ? ["supported_encryption": ["curve"]] : [:]
    }

    static func write(to directory: URL, executable: String) throws {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try (json(executable: executable) + Data("\n".utf8)).write(to: directory.appendingPathComponent("kernel.json"))
            try Data(try Logo.png(size: 32)).write(to: directory.appendingPathComponent("logo-32x32.png"))
            try Data(try Logo.png(size: 64)).write(to: directory.appendingPathComponent("logo-64x64.png"))
            try Data(try Logo.svg().utf8).write(to: directory.appendingPathComponent("logo-svg.svg"))
        } catch let error as PlotError {
            throw ValidationError("cannot draw the logo: \(error)")
        } catch {
            let reason = (error as NSError).localizedFailureReason ?? error.localizedDescription
            throw ValidationError("cannot write the kernelspec in \(directory.path): \(reason)")
        }
    }

    /// This binary's absolute path, so Jupyter starts the same build that installed the spec.
    static func executablePath() throws -> String {
        let path = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        return URL(fileURLWithPath: path).standardizedFileURL.path
    }
}
