import Foundation

/// Linear layers' weights packed once for oneDNN's matmul primitive, for products that use the same
/// weights again: inference and evaluation, as onnxruntime packs a model's weights when it loads it.
///
/// A layer's weights are packed on their second product with the same values (so a training step,
/// whose weights change every step, never pays for packing), then used until they change. Whether
/// they changed is not guessed from their values: the packed copy is kept under the weights'
/// storage's serial number (never reused, unlike its address) with that storage's count of writes in
/// place, and any other storage, or any write since, is a miss that goes back to the plain GEMM.
/// Only where oneDNN runs the GEMM (`BLAS.gemmLibrary`), outside parallel regions, for products of
/// more than one row and at least `BLAS.oneDNNMinimumWork` multiply-adds, and not for a layer of
/// a few outputs, whose product runs on Retort's own loop (`BLAS.narrowOutputsOnOwnLoop`);
/// off with `isEnabled`. The large products `BLAS.gemm` gives OpenBLAS on CPUs without AVX-512
/// (`BLAS.largeProductsOnOpenBLAS`) are packed for Retort's own AVX2 GEMM instead (`PackedGemm`,
/// `usesOwnGemm`).
/// A packed copy takes as much memory as its weights; it is dropped when they change or are freed,
/// and all copies together stay under `byteBudget` (256 MB).
public enum PackedWeights {
    /// Whether repeated products pack their weights (on by default); off to compare in one process.
    nonisolated(unsafe) public static var isEnabled = true

    /// Whether the large products `BLAS.gemm` gives OpenBLAS (`BLAS.runsLargeOnOpenBLAS`) are
    /// packed for Retort's own GEMM (`PackedGemm`): on where the CPU has AVX2 and FMA; off leaves
    /// them to OpenBLAS unpacked.
    nonisolated(unsafe) public static var usesOwnGemm = PackedGemm.isAvailable

    struct Key: Hashable {
        let storage: UInt64
        let m: Int
        let threads: Int
    }

    /// One weights storage's packing for products of `m` rows at one thread count.
    final class Slot {
        /// The weights (weak: a slot whose weights are gone is dropped on the next miss).
        weak var storage: TensorStorage?
        var writes: UInt64
        var product: OneDNN.Matmul?
        /// Or the copy for Retort's own GEMM, for a large product OpenBLAS would run.
        var own: PackedGemm?
        /// The packed copy's size, about (its weights' size).
        var bytes = 0
        /// True once packing was tried for these values and refused (by oneDNN, or the budget): not
        /// tried again.
        var refused = false

        init(storage: TensorStorage) {
            self.storage = storage
            writes = storage.writes
        }

        /// Starts over for the storage's values now (they were written since): nothing packed yet.
        func reset(_ storage: TensorStorage) {
            writes = storage.writes
            (product, own, bytes, refused) = (nil, nil, 0, false)
        }
    }

    /// The most memory packed copies may take together (bytes): past it, weights are not packed
    /// and their products run the plain GEMM. Internal so tests can lower it.
    nonisolated(unsafe) static var byteBudget = 256 << 20

    /// Slots past this many (with their weights all alive) are all dropped.
    static let capacity = 64

    /// The slots, under `lock`; a product asking while another holds it multiplies the plain way.
    nonisolated(unsafe) static var slots: [Key: Slot] = [:]
    static let lock = NSLock()

    /// `c = x @ weightsᵀ` for `x` `m×k` and `weights` `n×k` (a linear layer's forward product).
    @usableFromInline
    static func linearProduct(
        m: Int, n: Int, k: Int, x: UnsafePointer<Float>, weights: Tensor, c: UnsafeMutablePointer<Float>
    ) {
        if !product(m: m, n: n, k: k, x: x, weights: weights, c: c) {
            weights.withUnsafeBufferPointer { pw in
                BLAS.gemm(m: m, n: n, k: k, a: x, b: pw.baseAddress!, transposeB: true, c: c)
            }
        }
    }

    /// The product on the weights' packed copy; false, having written nothing, when there is none
    /// to use (the first product with these values, another thread in the cache, a parallel region).
    static func product(
        m: Int, n: Int, k: Int, x: UnsafePointer<Float>, weights: Tensor, c: UnsafeMutablePointer<Float>
    ) -> Bool {
        let onOwnGemm = usesOwnGemm && PackedGemm.isAvailable && BLAS.runsLargeOnOpenBLAS(m: m, n: n, k: k)
        guard isEnabled, m > 1, onOwnGemm || BLAS.runsOnOneDNN(m: m, n: n, k: k),
            !BLAS.runsOnNarrowLoop(m: m, n: n, k: k, transposeA: false, transposeB: true),
            !OneDNN.inParallelRegion, lock.try()
        else { return false }
        defer { lock.unlock() }
        let storage = weights.storage
        let key = Key(storage: storage.serial, m: m, threads: BLAS.threadCount)
        guard let slot = slots[key] else {
            // The first product with these weights. Packed copies of weights that are gone are
            // dropped here, so they do not hold memory.
            if slots.values.contains(where: { $0.storage == nil }) { slots = slots.filter { $0.value.storage != nil } }
            if slots.count >= capacity { slots.removeAll() }
            slots[key] = Slot(storage: storage)
            return false
        }
        guard slot.writes == storage.writes else {
            // The first product since the weights were written (a training step's): the old copy goes.
            slot.reset(storage)
            return false
        }
        if slot.product == nil, slot.own == nil, !slot.refused {
            let held = slots.values.reduce(0) { $0 + ($1.product == nil && $1.own == nil ? 0 : $1.bytes) }
            let bytes = onOwnGemm ? PackedGemm.bytes(n: n, k: k) : n * k * MemoryLayout<Float>.size
            if held + bytes <= byteBudget {
                if onOwnGemm {
                    slot.own = PackedGemm(weights: storage.pointer, n: n, k: k)
                } else {
                    slot.product = OneDNN.Matmul(m: m, n: n, k: k, transposeB: true, packing: storage.pointer)
                }
                slot.bytes = bytes
            }
            slot.refused = slot.product == nil && slot.own == nil
        }
        if let own = slot.own {
            let profiledSince = BLAS.profile != nil ? BLAS.profileEnter() : 0
            own.product(m: m, x: x, c: c, threads: BLAS.threadCount)
            if BLAS.profile != nil {
                BLAS.profileLeave(GemmShape(m: m, n: n, k: k, transposeA: false, transposeB: true), since: profiledSince)
            }
            return true
        }
        guard let product = slot.product else { return false }
        // Profiled as a GEMM (`retort bench`'s share of the step); its stand-alone replay there is
        // the plain GEMM, which these products can outrun.
        let profiledSince = BLAS.profile != nil ? BLAS.profileEnter() : 0
        let done = product.run(a: x, b: nil, c: c)
        if BLAS.profile != nil {
            BLAS.profileLeave(
                done ? GemmShape(m: m, n: n, k: k, transposeA: false, transposeB: true) : nil, since: profiledSince)
        }
        return done
    }

    /// How many weights are held packed now (for tests).
    static var packedCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return slots.values.filter { ($0.product != nil || $0.own != nil) && $0.storage != nil }.count
    }

    /// How many weights are held packed for the own GEMM now (for tests).
    static var ownGemmCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return slots.values.filter { $0.own != nil && $0.storage != nil }.count
    }

    /// Drops every packed copy (for tests, and to give their memory back).
    public static func removeAll() {
        lock.lock()
        defer { lock.unlock() }
        slots.removeAll()
    }
}
