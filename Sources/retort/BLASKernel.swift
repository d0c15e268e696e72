import Foundation
import RetortTensor

/// Chooses OpenBLAS's fastest correct CPU kernel before any BLAS work.
///
/// Debian's OpenBLAS 0.3.21 reads `OPENBLAS_CORETYPE` once, when the library loads, and on AMD
/// CPUs with AVX-512 it picks the Haswell (AVX2) kernel. Where the CPU and kernel support AVX-512
/// we re-execute ourselves with `OPENBLAS_CORETYPE=SkylakeX`; a user's own setting always wins.
enum BLASKernel {
    static let marker = "RETORT_BLAS_SELECTED"

    /// Whether the CPU has AVX-512F with the OS saving its registers (Linux lists the flag only then).
    static var cpuHasAVX512: Bool {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return false }
        return info.split(separator: "\n").first { $0.hasPrefix("flags") }?.split(separator: " ").contains("avx512f") ?? false
    }

    static func selectFastest() {
        let env = ProcessInfo.processInfo.environment
        guard env["OPENBLAS_CORETYPE"] == nil, env[marker] == nil, cpuHasAVX512 else { return }
        guard !BLAS.coreName.lowercased().contains("skylakex") else { return }
        setenv("OPENBLAS_CORETYPE", "SkylakeX", 1)
        setenv(marker, "1", 1)
        let arguments = CommandLine.arguments.map { strdup($0) } + [nil]
        execv("/proc/self/exe", arguments)
        // execv returns only on failure: carry on with the kernel already loaded.
        for pointer in arguments { free(pointer) }
    }

    static var summary: String {
        let avx512 = cpuHasAVX512 ? "AVX-512 available" : "no AVX-512 on this CPU"
        let chosen = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"].map { ", OPENBLAS_CORETYPE=\($0)" } ?? ""
        return "BLAS: OpenBLAS, kernel \(BLAS.coreName) (\(avx512)\(chosen)), \(BLAS.threadCount) thread(s)"
    }
}
