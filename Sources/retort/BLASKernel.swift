import Foundation
import RetortTensor

/// Chooses OpenBLAS's fastest correct CPU kernel before any BLAS work.
///
/// Debian's OpenBLAS 0.3.21 reads `OPENBLAS_CORETYPE` once, when the library loads, and on AMD
/// CPUs with AVX-512 it picks the Haswell (AVX2) kernel. Where the CPU and kernel support AVX-512
/// we re-execute ourselves with `OPENBLAS_CORETYPE=SkylakeX`; a user's own setting always wins.
enum BLASKernel {
    static let marker = "RETORT_BLAS_SELECTED"

    static func selectFastest() {
        let env = ProcessInfo.processInfo.environment
        guard env["OPENBLAS_CORETYPE"] == nil, env[marker] == nil, CPU.hasAVX512 else { return }
        guard !BLAS.coreName.lowercased().contains("skylakex") else { return }
        setenv("OPENBLAS_CORETYPE", "SkylakeX", 1)
        setenv(marker, "1", 1)
        let arguments = CommandLine.arguments.map { strdup($0) } + [nil]
        execv("/proc/self/exe", arguments)
        // execv returns only on failure: carry on with the kernel already loaded.
        for pointer in arguments { free(pointer) }
    }

    /// Refuses a `RETORT_GEMM` that names no library, or a `RETORT_PARALLEL_THRESHOLD` that is not a
    /// whole number >= 0 (exit 64), rather than silently running with another setting.
    static func checkSettings() {
        let environment = ProcessInfo.processInfo.environment
        if let asked = environment["RETORT_GEMM"], BLAS.forcedGemmLibrary == nil {
            let known = GemmLibrary.allCases.map(\.rawValue).joined(separator: ", ")
            refuse("RETORT_GEMM=\(asked) names no GEMM library; use one of: \(known)")
        }
        if let text = Parallel.thresholdSetting.text, Parallel.thresholdSetting.value == nil {
            refuse("RETORT_PARALLEL_THRESHOLD=\(text) is not a whole number >= 0 (scalar operations; 0 turns splitting off)")
        }
    }

    private static func refuse(_ message: String) -> Never {
        FileHandle.standardError.write(Data("retort: \(message)\n".utf8))
        exit(64)
    }

    static var summary: String {
        let avx512 = CPU.hasAVX512 ? "AVX-512 available" : "no AVX-512 on this CPU"
        let chosen = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"].map { ", OPENBLAS_CORETYPE=\($0)" } ?? ""
        let gemm =
            BLAS.gemmLibrary == .oneDNN
            ? "GEMM: oneDNN \(BLAS.oneDNNVersion) (\(BLAS.gemmChoiceReason)), its matmul primitive for products at "
                + "least \(MatmulPrimitives.minimumWidth) wide and for weights used again unchanged (packed once), "
                + "Retort's own loop for products to fewer than \(BLAS.narrowOutputWidth) outputs with B transposed "
                + "(\(2 * BLAS.narrowOutputWidth) from an inner dimension of \(BLAS.narrowLoopMinimumDepthPastNarrow)), "
                + "dnnl_sgemm for the rest (a B given transposed copied untransposed first, from "
                + "\(BLAS.transposedCopyMinimumRows) rows; a weight gradient of at least "
                + "\(BLAS.weightGradientMinimumValues) values (1 MB) split by rows over the threads, one dnnl_sgemm each)"
                + (BLAS.largeProductsOnOpenBLAS
                    ? ", OpenBLAS for products of at least \(BLAS.openBLASMinimumWork) multiply-adds (in "
                        + "\(BLAS.largeProductParts) parts, one single-threaded call each, on OpenMP's pool)"
                        + (PackedWeights.usesOwnGemm
                            ? "; of those, weights used again unchanged packed once for Retort's own AVX2 GEMM" : "")
                        + (BLAS.largeProductsOnOwnGemm
                            ? "; products with neither matrix transposed, an inner dimension under "
                                + "\(BLAS.ownGemmDepthLimit) and B of at most 16 MB on Retort's own AVX2 GEMM, B "
                                + "packed on each call" : "")
                    : "")
            : "GEMM: OpenBLAS (\(BLAS.gemmChoiceReason))"
        return "BLAS: OpenBLAS, kernel \(BLAS.coreName) (\(avx512)\(chosen)), \(BLAS.threadCount) thread(s); \(gemm)"
    }
}
