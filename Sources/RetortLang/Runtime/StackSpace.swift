import Glibc

/// How much of the running thread's stack is left, so that a call can stop with an error before the
/// stack runs out and the process dies (a crash loses the whole session).
///
/// `Interpreter.maximumCallDepth` bounds recursion, but how much stack a call takes depends on the
/// build (a debug build's frames are several times larger: 250 nested calls crashed its 8 MB main
/// thread), on what the call does (a builtin calling back into Retort adds frames), and on the
/// thread (a front end may run code on a thread with a smaller stack). This asks the thread.
enum StackSpace {
    /// Calls stop with an error when less than this is left.
    static let reserve = 256 * 1024

    /// Bytes left below the caller's frame, or nil where the system does not say.
    static func remaining() -> Int? {
        guard let low = lowestAddress() else { return nil }
        var marker: UInt8 = 0
        let here = withUnsafeMutablePointer(to: &marker) { UInt(bitPattern: $0) }
        return here > low ? Int(here - low) : 0
    }

    /// Each thread's lowest stack address, asked once (for the main thread glibc reads
    /// /proc/self/maps to answer) and kept under a thread-specific key: the address itself, or 1
    /// where the system does not say.
    private static let key: pthread_key_t? = {
        var key = pthread_key_t()
        return pthread_key_create(&key, nil) == 0 ? key : nil
    }()

    private static func lowestAddress() -> UInt? {
        guard let key else { return nil }
        if let stored = pthread_getspecific(key) {
            let low = UInt(bitPattern: stored)
            return low == 1 ? nil : low
        }
        let low = askLowestAddress()
        pthread_setspecific(key, UnsafeRawPointer(bitPattern: low ?? 1))
        return low
    }

    private static func askLowestAddress() -> UInt? {
        var attributes = pthread_attr_t()
        guard pthread_getattr_np(pthread_self(), &attributes) == 0 else { return nil }
        defer { pthread_attr_destroy(&attributes) }
        var address: UnsafeMutableRawPointer?
        var size = 0
        guard pthread_attr_getstack(&attributes, &address, &size) == 0, let address, size > 0 else { return nil }
        return UInt(bitPattern: address)
    }
}

/// glibc's, declared here: Swift's Glibc module leaves out the GNU extensions.
@_silgen_name("pthread_getattr_np")
private func pthread_getattr_np(_ thread: pthread_t, _ attributes: UnsafeMutablePointer<pthread_attr_t>) -> Int32
