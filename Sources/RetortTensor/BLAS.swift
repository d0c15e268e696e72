import CBLAS
import Foundation

/// One GEMM's geometry, as profiled.
public struct GemmShape: Hashable, Sendable {
    public let m, n, k: Int
    public let transposeA, transposeB: Bool

    @inlinable
    public init(m: Int, n: Int, k: Int, transposeA: Bool, transposeB: Bool) {
        (self.m, self.n, self.k, self.transposeA, self.transposeB) = (m, n, k, transposeA, transposeB)
    }
}

/// Time and work spent in GEMM while profiling is on, with the shapes seen (for the benchmark's
/// "sgemm inside training versus alone" figure).
public struct GemmProfile: Sendable {
    public var calls = 0
    public var flops: Double = 0
    /// Wall time during which at least one GEMM ran: GEMMs on several threads at once count once.
    public var seconds: Double = 0
    public var shapes: [GemmShape: Int] = [:]
    /// Each shape's calls' own time, summed: calls overlapping on several threads (a convolution's
    /// chunks) each count theirs, so these can add up to more than `seconds`.
    public var shapeSeconds: [GemmShape: Double] = [:]
    public init() {}
    public var gigaflopsPerSecond: Double { seconds > 0 ? flops / seconds / 1e9 : 0 }
}

/// The library that runs Retort's single-precision GEMM (`BLAS.gemm` with more than one row).
public enum GemmLibrary: String, Sendable, CaseIterable {
    case openBLAS = "openblas"
    case oneDNN = "onednn"

    public var displayName: String { self == .openBLAS ? "OpenBLAS" : "oneDNN" }
}

/// The one place Retort calls BLAS: single-precision matrix products and BLAS configuration.
///
/// Products with more than one row go to the GEMM library chosen by `gemmLibrary` (with oneDNN, the
/// wide ones to a matmul primitive made once per shape: `MatmulPrimitives`, and those to a few
/// outputs to Retort's own loop: `narrowOutputsOnOwnLoop`); single rows
/// (matrix-vector) and `axpy` always go to OpenBLAS.
public enum BLAS {
    /// Which library runs GEMM. The default is the one measured fastest on this kind of CPU
    /// (`bench/gemm-candidates`, `bench/gemm-shapes`, whole workloads): oneDNN where the CPU has
    /// AVX-512 or AVX2 with FMA (with `largeProductsOnOpenBLAS` on the latter), OpenBLAS on older
    /// CPUs, where oneDNN has not been measured; `RETORT_GEMM=openblas|onednn` overrides it.
    nonisolated(unsafe) public static var gemmLibrary: GemmLibrary = defaultGemmLibrary

    /// Why `gemmLibrary` is what it is, for `retort info`.
    public static var gemmChoiceReason: String {
        if let forced = forcedGemmLibrary {
            return "RETORT_GEMM=\(forced.asked)"
        }
        if CPU.hasAVX512 { return "measured fastest with AVX-512; RETORT_GEMM=openblas chooses OpenBLAS" }
        return CPU.hasAVX2FMA
            ? "measured fastest with AVX2 but for large products; RETORT_GEMM=openblas chooses OpenBLAS"
            : "no AVX2: oneDNN not measured on such CPUs; RETORT_GEMM=onednn chooses it"
    }

    /// The library `RETORT_GEMM` names, with the text as given; nil when it is unset or names none
    /// (the command line refuses the latter before any work).
    public static var forcedGemmLibrary: (asked: String, library: GemmLibrary)? {
        guard let asked = ProcessInfo.processInfo.environment["RETORT_GEMM"],
            let library = GemmLibrary(rawValue: asked.lowercased())
        else { return nil }
        return (asked, library)
    }

    static var defaultGemmLibrary: GemmLibrary {
        forcedGemmLibrary?.library ?? (CPU.hasAVX512 || CPU.hasAVX2FMA ? .oneDNN : .openBLAS)
    }

    /// Products of fewer multiply-adds stay with OpenBLAS even when oneDNN is chosen: oneDNN's call
    /// costs about half a microsecond more, and below this size it ran 0.15× to 0.93× OpenBLAS's speed
    /// while above it 1.05× to 2.7× (`bench/gemm-shapes`, on the bench's and the GPT's shapes;
    /// docs/performance.md, "Which GEMM").
    public static let oneDNNMinimumWork = 1 << 18

    /// Whether a product with B transposed to fewer than `narrowOutputWidth` outputs (or twice that,
    /// see `narrowLoopMinimumDepthPastNarrow`), of at least
    /// `oneDNNMinimumWork` multiply-adds, runs on Retort's own loop (`retort_narrow_product`, its rows
    /// split over `Parallel`'s threads) where oneDNN is chosen (on by default); off to compare in one
    /// process. Such products are a linear layer's forward to a few classes (64×10×1568 in
    /// cnn-28x28) and a convolution's weight gradient for a few taps (16×9×7056, its one-channel first
    /// layer), each output one long dot product. `dnnl_sgemm` ran them at 22-40 GFLOPS even alone,
    /// the loop at 87-97; cnn-28x28 trained 1.10x faster at one thread (runs in turn). Smaller
    /// products stay with OpenBLAS, whose small-matrix kernel ran 32×10×512 at 91 GFLOPS to the loop's 78.
    nonisolated(unsafe) public static var narrowOutputsOnOwnLoop = true

    /// The output width under which `narrowOutputsOnOwnLoop` applies.
    public static let narrowOutputWidth = 16

    /// Outputs under twice `narrowOutputWidth` run on the loop too when the inner dimension is at
    /// least this long: cnn-cifar's first convolution's weight gradient, 32×27×2048, ran on
    /// `dnnl_sgemm` at 24 GFLOPS inside training and 25 alone. Short inner dimensions stay (the gpt's
    /// output layer 1024×27×64, where the loop's sums are too short to pay).
    public static let narrowLoopMinimumDepthPastNarrow = 512

    /// Whether products of at least `openBLASMinimumWork` multiply-adds go to OpenBLAS where oneDNN
    /// is chosen (`largeProductOnOpenBLAS`): on CPUs without AVX-512 (on by default there). On a
    /// Zen 3 with AVX2, oneDNN's GEMM ran the large products slower than OpenBLAS's (the bench's
    /// 128×784×512, 128×512×512 and 512×512×512 rows at 0.72x, 0.77x and 0.82x at one thread, the
    /// b512 MLP 0.82x), the smaller ones faster, and its OpenMP pool gave Retort's own loops the
    /// second core (docs/performance.md, "On a Zen 3 with AVX2").
    nonisolated(unsafe) public static var largeProductsOnOpenBLAS = !CPU.hasAVX512

    /// Whether those of the large products (`largeProductsOnOpenBLAS`) with neither matrix
    /// transposed, `alpha` 1 and `beta` 0 (the sgemm rows, a layer's input gradient) run on
    /// Retort's own AVX2 GEMM instead, B packed on each call (`PackedGemm.product`): on where the
    /// CPU has AVX2 and FMA; off leaves them to OpenBLAS. On a Zen 3 at one thread (a C harness,
    /// packing included): 128×512×512 90.9 GFLOPS against OpenBLAS's 85.9 in the two parts it
    /// runs in, 512×512×512 96.4 against 90.2, 128×784×512 90.0 against 89.0. Other bits than
    /// OpenBLAS's, the same at one thread and at two. Only for inner dimensions under
    /// `ownGemmDepthLimit` and a B of at most `transposedCopyMaximumValues` values (its packed copy
    /// lives for the call).
    nonisolated(unsafe) public static var largeProductsOnOwnGemm = PackedGemm.isAvailable

    /// `largeProductsOnOwnGemm` leaves products with an inner dimension of at least this many to
    /// OpenBLAS: at 1024 the own GEMM ran 0.94x to 1.0x of OpenBLAS's speed (the harness's
    /// 512×1024×512 and 1024×1024×1024; the bench's sgemm/1024x1024x1024 0.984x and 1.004x at one
    /// thread, 0.920x at two, `retort bench --ab own-plain`).
    public static let ownGemmDepthLimit = 1024

    /// The fewest multiply-adds `largeProductsOnOpenBLAS` sends to OpenBLAS: the bench's 128×512×512
    /// (2^25) and up, not the gpt's largest (1024×64×256, 2^24) nor the b32 MLP's (32×784×512).
    nonisolated(unsafe) public static var openBLASMinimumWork = 1 << 25

    /// Whether `gemm` hands a product of more than one row to oneDNN (or to Retort's own loop).
    @inlinable
    static func runsOnOneDNN(m: Int, n: Int, k: Int) -> Bool {
        gemmLibrary == .oneDNN && m * n * k >= oneDNNMinimumWork && !runsLargeOnOpenBLAS(m: m, n: n, k: k)
    }

    /// Whether `gemm` gives this product to OpenBLAS by `largeProductsOnOpenBLAS` (where oneDNN is
    /// otherwise chosen).
    @inlinable
    static func runsLargeOnOpenBLAS(m: Int, n: Int, k: Int) -> Bool {
        gemmLibrary == .oneDNN && largeProductsOnOpenBLAS && m * n * k >= openBLASMinimumWork
    }

    /// oneDNN's version ("2.6.3").
    public static var oneDNNVersion: String { OneDNN.version }

    /// When set, every `gemm` adds its time and flops here; nil (the default) costs one branch.
    nonisolated(unsafe) public static var profile: GemmProfile?

    /// `C = alpha * op(A) @ op(B) + beta * C` on row-major matrices, where op transposes when asked.
    ///
    /// `a` is `m×k` (or `k×m` when `transposeA`), `b` is `k×n` (or `n×k`), `c` is `m×n`.
    @inlinable
    public static func gemm(
        m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, transposeA: Bool = false,
        b: UnsafePointer<Float>, transposeB: Bool = false,
        c: UnsafeMutablePointer<Float>, alpha: Float = 1, beta: Float = 0
    ) {
        guard m > 0, n > 0 else { return }
        guard k > 0 else {
            // An empty inner dimension contributes nothing; BLAS would reject lda = 0.
            if beta == 0 {
                c.update(repeating: 0, count: m * n)
            } else if beta != 1 {
                for i in 0..<(m * n) { c[i] *= beta }
            }
            return
        }
        let profiledSince = profile != nil ? profileEnter() : 0
        if m == 1 {
            // One row (a single example): a matrix-vector product, which OpenBLAS's sgemm does not
            // route to its gemv kernel (1×784×512 ran at 5.7 GFLOPS through sgemm).
            cblas_sgemv(
                CblasRowMajor, transposeB ? CblasNoTrans : CblasTrans, blasint(transposeB ? n : k),
                blasint(transposeB ? k : n), alpha, b, blasint(transposeB ? k : n), a, 1, beta, c, 1)
        } else if runsOnNarrowLoop(m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB) {
            narrowProduct(m: m, n: n, k: k, x: a, weights: b, c: c, alpha: alpha, beta: beta)
        } else if runsLargeOnOpenBLAS(m: m, n: n, k: k) {
            if largeProductsOnOwnGemm && !transposeA && !transposeB && alpha == 1 && beta == 0
                && k < ownGemmDepthLimit && k * n <= transposedCopyMaximumValues
            {
                largeProductOnOwnGemm(m: m, n: n, k: k, a: a, b: b, c: c)
            } else {
                largeProductOnOpenBLAS(
                    m: m, n: n, k: k, a: a, transposeA: transposeA, b: b, transposeB: transposeB, c: c, alpha: alpha,
                    beta: beta)
            }
        } else if runsOnOneDNN(m: m, n: n, k: k),
            weightGradientByRows(
                m: m, n: n, k: k, a: a, transposeA: transposeA, b: b, transposeB: transposeB, c: c, alpha: alpha,
                beta: beta)
                || MatmulPrimitives.product(
                    m: m, n: n, k: k, a: a, transposeA: transposeA, b: b, transposeB: transposeB, c: c, alpha: alpha,
                    beta: beta)
                || sgemmOnOneDNN(
                    m: m, n: n, k: k, a: a, transposeA: transposeA, b: b, transposeB: transposeB, c: c, alpha: alpha,
                    beta: beta)
        {
            // done by oneDNN: a weight gradient's rows per thread, the shape's matmul primitive (wide
            // products), else its sgemm
        } else {
            openBLASProduct(
                m: m, n: n, k: k, a: a, lda: transposeA ? m : k, transposeA: transposeA, b: b,
                ldb: transposeB ? k : n, transposeB: transposeB, c: c, ldc: n, alpha: alpha, beta: beta)
        }
        if profile != nil {
            profileLeave(
                GemmShape(m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB), since: profiledSince)
        }
    }

    /// OpenBLAS's `cblas_sgemm` on row-major matrices whose rows lie `lda`, `ldb` and `ldc` values
    /// apart (parts of larger ones).
    @usableFromInline
    static func openBLASProduct(
        m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, transposeA: Bool, b: UnsafePointer<Float>,
        ldb: Int, transposeB: Bool, c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float
    ) {
        cblas_sgemm(
            CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
            blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
    }

    /// Whether a product on `dnnl_sgemm` with B transposed and at least `transposedCopyMinimumRows`
    /// rows multiplies a transposed copy of B instead (on by default); off to compare in one process.
    /// `dnnl_sgemm` ran such products (a linear layer's forward, x @ Wᵀ) slower than with B as it is,
    /// by more than the copy costs: copy and product together 1.17x as fast as the transposed product
    /// for the distillation's student (128×64×784), 1.03-1.09x for the gpt's layers (1024×192×64,
    /// 1024×64×256, ...); with fewer rows the copy weighs more (the CNN's 32×144×392, 0.96x), so not
    /// those. Results differ from the transposed product's in the last bits.
    nonisolated(unsafe) public static var copiesTransposedB = true

    /// The fewest rows for which `copiesTransposedB` copies B.
    public static let transposedCopyMinimumRows = 128

    /// The most values of B that `copiesTransposedB` copies (16 MB), of the weights that
    /// `spacesNarrowWeights` copies, and of the B that `largeProductsOnOwnGemm` packs, so no such
    /// copy ever holds much memory; past it the product runs on B as it is (on OpenBLAS for the last).
    public static let transposedCopyMaximumValues = 1 << 22

    /// `dnnl_sgemm`, on a transposed copy of B where `copiesTransposedB` says so.
    @usableFromInline
    static func sgemmOnOneDNN(
        m: Int, n: Int, k: Int, a: UnsafePointer<Float>, transposeA: Bool, b: UnsafePointer<Float>, transposeB: Bool,
        c: UnsafeMutablePointer<Float>, alpha: Float, beta: Float
    ) -> Bool {
        guard copiesTransposedB, transposeB, m >= transposedCopyMinimumRows, n * k <= transposedCopyMaximumValues
        else {
            return OneDNN.gemm(
                m: m, n: n, k: k, a: a, transposeA: transposeA, b: b, transposeB: transposeB, c: c, alpha: alpha,
                beta: beta)
        }
        let copy = UnsafeMutablePointer<Float>.allocate(capacity: n * k)
        defer { copy.deallocate() }
        // B (n×k) to k×n: the transpose inference uses to put an image's channels last.
        ImageKernels.toChannelsLast(b, channels: n, area: k, into: copy)
        return OneDNN.gemm(
            m: m, n: n, k: k, a: a, transposeA: transposeA, b: copy, transposeB: false, c: c, alpha: alpha, beta: beta)
    }

    /// Whether `gemm` runs this product on Retort's own loop (`narrowOutputsOnOwnLoop`); `PackedWeights`
    /// leaves such products to it, so a model's output has the same bits on its first call and after.
    @usableFromInline
    static func runsOnNarrowLoop(m: Int, n: Int, k: Int, transposeA: Bool, transposeB: Bool) -> Bool {
        gemmLibrary == .oneDNN && narrowOutputsOnOwnLoop && transposeB && !transposeA
            && (n < narrowOutputWidth || (n < 2 * narrowOutputWidth && k >= narrowLoopMinimumDepthPastNarrow))
            && m > 1 && m * n * k >= oneDNNMinimumWork
    }

    /// Whether `narrowProduct` copies the weights' rows a little further apart when the inner
    /// dimension is a multiple of `narrowWeightsSpacedMultiple` (on by default); off to compare in
    /// one process. Rows a multiple of 4 KB apart fall on the same sets of the L1 cache, which holds
    /// 8 lines per set, and the loop reads up to 15 of them at once: alone (a C harness, 32×27
    /// products), the loop ran at 25 GFLOPS with k = 2048 or 3072 (rows 8 or 12 KB apart) and 51 with
    /// 1024, against 94-98 with 32 more values a row (2080, 3104). cnn-cifar's first convolution's
    /// weight gradient is 32×27×2048: the copy made its training 1.055x as fast at one thread and
    /// 1.052x at two (`--ab spaced-weights`). Rows 2 KB apart (k = 512: 80 GFLOPS against 97) are left
    /// where they are: with the copy, the MLPs' 10-wide output layers gained nothing (0.999x). The
    /// copy (the n rows, 32 values further apart) changes no bits.
    nonisolated(unsafe) public static var spacesNarrowWeights = true

    /// The inner dimensions whose multiples `spacesNarrowWeights` copies: rows 4 KB apart or a
    /// multiple of that.
    public static let narrowWeightsSpacedMultiple = 1024

    /// `c = alpha * x @ weightsᵀ + beta * c` for a few rows of weights, on Retort's own loop, its
    /// rows split over `Parallel`'s threads (each row the same bits however they are split), on a
    /// copy of the weights with their rows further apart where `spacesNarrowWeights` says so.
    @usableFromInline
    static func narrowProduct(
        m: Int, n: Int, k: Int, x: UnsafePointer<Float>, weights: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>,
        alpha: Float, beta: Float
    ) {
        let spacing = k + 32  // two cache lines more a row: 15 rows then spread over 30 lines' sets
        let spaced =
            spacesNarrowWeights && k % narrowWeightsSpacedMultiple == 0 && n * spacing <= transposedCopyMaximumValues
            ? UnsafeMutablePointer<Float>.allocate(capacity: n * spacing) : nil
        defer { spaced?.deallocate() }
        if let spaced {
            for row in 0..<n { (spaced + row * spacing).update(from: weights + row * k, count: k) }
        }
        let (w, stride) = spaced.map { (UnsafePointer($0), spacing) } ?? (weights, k)
        Parallel.forEach(m, cost: m * n * k) { rows in
            VectorMath.narrowProduct(
                rows: rows, n: n, k: k, x: x, weights: w, weightStride: stride, c: c, alpha: alpha, beta: beta)
        }
    }

    /// GEMMs running now while profiling (a convolution's chunks run theirs on several threads at
    /// once), and since when one has been running; both under `profileLock`.
    nonisolated(unsafe) static var profileRunning = 0
    nonisolated(unsafe) static var profileSince: UInt64 = 0
    static let profileLock = NSLock()

    /// Returns when this call began, for `profileLeave`.
    @usableFromInline
    static func profileEnter() -> UInt64 {
        let now = DispatchTime.now().uptimeNanoseconds
        profileLock.lock()
        defer { profileLock.unlock() }
        if profileRunning == 0 { profileSince = now }
        profileRunning += 1
        return now
    }

    /// Counts the call (none when `shape` is nil: a product that did not run after all) and its own
    /// time since `since` under its shape; the total time is counted when the last GEMM running
    /// ends, so GEMMs overlapping on several threads add their wall time once.
    @usableFromInline
    static func profileLeave(_ shape: GemmShape?, since: UInt64) {
        let now = DispatchTime.now().uptimeNanoseconds
        profileLock.lock()
        defer { profileLock.unlock() }
        profileRunning -= 1
        if profileRunning == 0 { profile?.seconds += Double(now - profileSince) / 1e9 }
        guard let shape else { return }
        profile?.shapeSeconds[shape, default: 0] += Double(now - since) / 1e9
        profile?.calls += 1
        profile?.flops += 2 * Double(shape.m) * Double(shape.n) * Double(shape.k)
        profile?.shapes[shape, default: 0] += 1
    }

    /// `y += alpha * x` over `count` elements.
    @inlinable
    public static func axpy(count: Int, alpha: Float, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        cblas_saxpy(blasint(count), alpha, x, 1, y, 1)
    }

    /// The number of threads the GEMM libraries use (OpenBLAS's and oneDNN's OpenMP, set together).
    /// The threads the work runs on now: those asked for, or one while another process keeps a
    /// core busy (`Contention`). Setting it asks for that many.
    public static var threadCount: Int {
        get { Int(openblas_get_num_threads()) }
        set {
            Contention.requested = newValue
            Contention.reset()
            setRunningThreads(newValue)
        }
    }

    /// Runs the work on `count` threads without changing how many were asked for.
    static func setRunningThreads(_ count: Int) {
        openblas_set_num_threads(Int32(count))
        OneDNN.threadCount = count
    }

    /// The CPU kernel OpenBLAS chose (for example `Haswell` or `SkylakeX`).
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// OpenBLAS's build configuration line.
    public static var configuration: String {
        guard let config = openblas_get_config() else { return "unknown" }
        return String(cString: config)
    }
}
