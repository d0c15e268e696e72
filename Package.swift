// swift-tools-version:6.0
// Retort: a small language for neural-network models and knowledge-distillation losses.
import PackageDescription

let package = Package(
    name: "Retort",
    products: [
        .executable(name: "retort", targets: ["retort"]),
        .library(name: "RetortTensor", targets: ["RetortTensor"]),
        .library(name: "RetortGraph", targets: ["RetortGraph"]),
        .library(name: "RetortNN", targets: ["RetortNN"]),
        .library(name: "RetortLang", targets: ["RetortLang"]),
        .library(name: "RetortPlot", targets: ["RetortPlot"]),
        .library(name: "RetortKernel", targets: ["RetortKernel"]),
        .library(name: "RetortExport", targets: ["RetortExport"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
    ],
    targets: [
        // C libraries from Debian, each wrapped by one system-library target.
        .systemLibrary(
            name: "CBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        // oneDNN for its sgemm (Debian ships no pkg-config file for it; it links libgomp).
        .systemLibrary(name: "CDNNL", providers: [.apt(["libdnnl-dev"])]),
        .systemLibrary(
            name: "CZMQ", pkgConfig: "libzmq",
            providers: [.apt(["libzmq3-dev"])]),
        .systemLibrary(
            name: "CReadline", pkgConfig: "readline",
            providers: [.apt(["libreadline-dev"])]),
        .systemLibrary(
            name: "CCairo", pkgConfig: "cairo",
            providers: [.apt(["libcairo2-dev"])]),
        // glibc's malloc tuning (mallopt), part of libc itself.
        .systemLibrary(name: "CMalloc"),
        .systemLibrary(
            name: "CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]),

        // Data compiled into the binary: the UCI digits set (see Sources/CRetortData/README.md).
        .target(name: "CRetortData", exclude: ["README.md"]),
        // Our own int8 GEMM (AVX2 with a scalar fallback, chosen at run time); see Int8Kernel.swift.
        .target(name: "CRetortKernels"),
        // Our elementwise math (erf, exp, GELU) written to vectorise, with an AVX2+FMA path.
        .target(name: "CRetortMath"),
        // Our image loops (unfolding for a convolution, folding back, 2×2 max pooling), in C so they vectorise.
        .target(name: "CRetortImage"),
        // Our float GEMM on weights packed once (AVX2 and FMA), for the large products of CPUs without
        // AVX-512; see PackedGemm.swift.
        .target(name: "CRetortGemm"),
        // How far apart the CPUs are (a cache line's crossing time), for `retort info` and the bench.
        .target(name: "CRetortCPU"),

        // Tensor core: dense Float32 tensors, kernels over BLAS, reverse-mode autodiff.
        .target(
            name: "RetortTensor",
            dependencies: [
                "CBLAS", "CDNNL", "CMalloc", "CRetortMath", "CRetortImage", "CRetortCPU", "CRetortGemm",
            ],
            swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]),
        // The model graph: a traced forward pass (named primitives, parameters by state-dict name),
        // which exporters, channel pruning and `graph(m)` walk.
        .target(name: "RetortGraph", dependencies: ["RetortTensor"]),
        // Layers, losses, optimizers, schedules, training and data built on the tensor core.
        .target(
            name: "RetortNN", dependencies: ["RetortTensor", "RetortGraph", "CZlib", "CRetortData", "CRetortKernels"]),
        // Plots: one figure description, drawn by cairo (SVG, PNG, PDF) or as terminal text.
        // RetortTensor for its memory budget, which a canvas's pixels and a heatmap's colours go through.
        .target(name: "RetortPlot", dependencies: ["CCairo", "RetortTensor"]),
        // The Retort language: lexer, parser, interpreter, builtins and prelude. It never prints.
        .target(name: "RetortLang", dependencies: ["RetortTensor", "RetortGraph", "RetortNN", "RetortPlot", "RetortExport"]),
        // The Jupyter protocol over ZeroMQ; it drives an interpreter interface and knows no language.
        .target(
            name: "RetortKernel",
            dependencies: ["CZMQ", .product(name: "Crypto", package: "swift-crypto")]),
        // Export to other formats: ONNX files translated from a model's traced graph, written as
        // protobuf by our own small writer.
        .target(name: "RetortExport", dependencies: ["RetortTensor", "RetortGraph", "RetortNN"]),
        // The terminal front end: readline, history, completion, progress line.
        .target(name: "RetortREPL", dependencies: ["RetortLang", "CReadline"]),
        .executableTarget(
            name: "retort",
            dependencies: [
                "RetortTensor", "RetortNN", "RetortLang", "RetortExport", "RetortREPL", "RetortPlot", "RetortKernel",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        .testTarget(
            name: "RetortTensorTests", dependencies: ["RetortTensor"],
            resources: [.copy("Fixtures")]),
        .testTarget(name: "RetortNNTests", dependencies: ["RetortNN", "RetortGraph"], resources: [.copy("Fixtures")]),
        .testTarget(name: "RetortPlotTests", dependencies: ["RetortPlot", "RetortTensor"], resources: [.copy("Golden")]),
        .testTarget(
            name: "RetortLangTests", dependencies: ["RetortLang"],
            resources: [.copy("Fixtures"), .copy("Golden")]),
        .testTarget(name: "RetortExportTests", dependencies: ["RetortExport", "RetortTensor", "RetortGraph", "RetortNN"]),
    ],
    swiftLanguageModes: [.v5]
)
