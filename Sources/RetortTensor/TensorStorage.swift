import CMalloc
import Synchronization

/// Keeps freed tensor memory in the process for reuse.
///
/// Training frees and reallocates the same large buffers every step. With glibc's defaults those
/// go back to the kernel (mmap/munmap, heap trimming) and every reuse page-faults on freshly
/// zeroed pages, which cost the convolution benchmark a tenth of its time.
let mallocTuned: Bool = {
    _ = mallopt(M_MMAP_THRESHOLD, 256 << 20)
    _ = mallopt(M_TRIM_THRESHOLD, 1 << 30)
    return true
}()

/// Giving memory back to the system on demand, since the tuning above keeps it: a front end calls
/// `release()` after something large has come and gone (a 50 MB message the kernel received).
public enum HeapMemory {
    /// Returns free heap memory to the system (glibc's malloc_trim).
    public static func release() { _ = malloc_trim(0) }
}

/// The heap memory behind one or more `Tensor` values.
///
/// Tensors share storage on copy and copy it before a write when it is shared (copy-on-write),
/// so a `Tensor` behaves as a value: no one else's tensor ever changes under you.
@usableFromInline
final class TensorStorage {
    @usableFromInline let count: Int
    @usableFromInline let pointer: UnsafeMutablePointer<Float>
    /// Counts writes in place (`Tensor.withUnsafeMutableBufferPointer`, the only way to write a
    /// storage someone may hold): a copy of the values made for speed (`PackedWeights`) is good
    /// while this storage is the same object and this count has not moved.
    @usableFromInline var writes: UInt64 = 0
    /// This storage's number, never given to another in the process (an address can be: a freed
    /// storage's memory goes to the next one made).
    let serial: UInt64

    /// The next storage's `serial`; storages are made on several threads (inside parallel loops).
    static let made = Atomic<UInt64>(0)

    /// Where a storage's values start: on a cache line (64 bytes; malloc gives 16), so that a row
    /// of 16 floats of a matrix whose rows are a multiple of 16 wide is one line, not two. Retort's
    /// own GEMM ran 1.5% to 3% faster on operands so placed (a Zen 3, one thread, a C harness: 128
    /// rows through 512 -> 512 94.5 to 95.2 GFLOPS against 92.1 to 93.2 at 16 bytes past a line),
    /// as PyTorch's allocator places its tensors.
    static let alignment = 64

    @usableFromInline
    init(count: Int) {
        _ = mallocTuned
        self.count = count
        serial = Self.made.add(1, ordering: .relaxed).newValue
        // Never allocate zero bytes: a scalar or an empty tensor still gets a valid pointer.
        pointer = UnsafeMutableRawPointer.allocate(
            byteCount: max(count, 1) * MemoryLayout<Float>.stride, alignment: Self.alignment
        ).bindMemory(to: Float.self, capacity: max(count, 1))
    }

    @usableFromInline
    convenience init(count: Int, repeating value: Float) {
        self.init(count: count)
        pointer.initialize(repeating: value, count: max(count, 1))
    }

    @usableFromInline
    func copy() -> TensorStorage {
        let result = TensorStorage(count: count)
        result.pointer.initialize(from: pointer, count: max(count, 1))
        return result
    }

    deinit {
        // Allocated raw with an alignment, so freed raw.
        UnsafeMutableRawPointer(pointer).deallocate()
    }
}
