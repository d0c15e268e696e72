import Foundation

/// oneDNN's matmul primitive, one per shape and thread count, for the wide products: both the
/// output's width and the inner dimension at least `minimumWidth`, A not transposed, alpha 1 and
/// beta 0 (a linear layer's forward and input-gradient products in the 784-512-512-10 MLP).
///
/// `dnnl_sgemm` prepares its kernel on every call; a primitive is made once for its shape. Measured
/// in one process, on and off every two steps (docs/performance.md): on every product of at least
/// oneDNN's minimum size, the MLPs gained 1.0-1.2x but the distillation's student (128×64×784) lost
/// 0.89x at two threads and the gpt 0.98x; on the wide products only, the MLPs 1.06-1.37x at two
/// threads and 1.00-1.02x at one, everything else 0.99-1.02x. So only those.
///
/// Only where oneDNN runs the GEMM, outside parallel regions (`OneDNN.Matmul`), and one product at
/// a time: a thread asking while another runs one gets `dnnl_sgemm`.
public enum MatmulPrimitives {
    /// Whether wide products run on their primitive (on by default); off to compare in one process.
    nonisolated(unsafe) public static var isEnabled = true

    /// The narrowest output and inner dimension that runs on a primitive.
    public static let minimumWidth = 512

    struct Key: Hashable {
        let m, n, k: Int
        let transposeB: Bool
        let threads: Int
    }

    /// Shapes past this many keep `dnnl_sgemm` (a session trying many batch sizes would otherwise
    /// keep a primitive for each).
    static let capacity = 128

    /// The primitives by shape, nil for a shape oneDNN refused (not asked again); under `lock`.
    nonisolated(unsafe) static var primitives: [Key: OneDNN.Matmul?] = [:]
    static let lock = NSLock()

    /// `c = a @ op(b)` on the shape's primitive; false, having written nothing, for a product this
    /// does not take (see above), so the caller runs `dnnl_sgemm`.
    @usableFromInline
    static func product(
        m: Int, n: Int, k: Int, a: UnsafePointer<Float>, transposeA: Bool, b: UnsafePointer<Float>,
        transposeB: Bool, c: UnsafeMutablePointer<Float>, alpha: Float, beta: Float
    ) -> Bool {
        guard isEnabled, n >= minimumWidth, k >= minimumWidth, !transposeA, alpha == 1, beta == 0,
            !OneDNN.inParallelRegion, lock.try()
        else { return false }
        defer { lock.unlock() }
        let key = Key(m: m, n: n, k: k, transposeB: transposeB, threads: BLAS.threadCount)
        let primitive: OneDNN.Matmul?
        if let known = primitives[key] {
            primitive = known
        } else {
            guard primitives.count < capacity else { return false }
            primitive = OneDNN.Matmul(m: m, n: n, k: k, transposeB: transposeB, packing: nil)
            primitives[key] = primitive
        }
        guard let primitive else { return false }
        return primitive.run(a: a, b: b, c: c)
    }

    /// How many shapes have a primitive (for tests).
    static var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return primitives.values.filter { $0 != nil }.count
    }

    /// Drops every primitive (for tests).
    public static func removeAll() {
        lock.lock()
        defer { lock.unlock() }
        primitives.removeAll()
    }
}
