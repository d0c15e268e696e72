import Foundation

/// The signatures of the messages served lately, so that a signed message sent again (a replay) is
/// refused, as jupyter_client's Session refuses a repeated digest. Memory is bounded: past
/// `capacity` signatures the oldest is forgotten. Shared by the shell, control and stdin threads.
final class SignatureHistory {
    /// jupyter_client's `digest_history_size`; 2^16 signatures of 32 bytes, kept twice: 4 MiB at most.
    static let capacity = 1 << 16

    /// A signature's 32 bytes, held inline so that the history allocates nothing per message.
    private struct Digest: Hashable {
        var a: UInt64, b: UInt64, c: UInt64, d: UInt64

        init?(_ bytes: [UInt8]) {
            guard bytes.count == 32 else { return nil }
            func word(_ i: Int) -> UInt64 { bytes[i..<i + 8].reduce(0) { $0 << 8 | UInt64($1) } }
            (a, b, c, d) = (word(0), word(8), word(16), word(24))
        }
    }

    private let capacity: Int
    private var seen = Set<Digest>()
    /// The signatures in `seen`, oldest first from `oldest`, as a ring.
    private var order: [Digest] = []
    private var oldest = 0
    private let lock = NSLock()

    init(capacity: Int = SignatureHistory.capacity) {
        self.capacity = capacity
    }

    /// Records a checked signature (64 hex digits); false when it was recorded before.
    func insert(hex signature: [UInt8]) -> Bool {
        guard let bytes = Signer.bytes(fromHex: signature), let digest = Digest(bytes) else { return false }
        lock.lock()
        defer { lock.unlock() }
        guard seen.insert(digest).inserted else { return false }
        if order.count < capacity {
            order.append(digest)
        } else {
            seen.remove(order[oldest])
            order[oldest] = digest
            oldest = (oldest + 1) % capacity
        }
        return true
    }
}
