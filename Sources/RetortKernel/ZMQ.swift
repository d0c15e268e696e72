import CZMQ
import Foundation

/// Why a ZeroMQ call failed, with libzmq's own words.
public struct ZMQError: Error, CustomStringConvertible {
    public let description: String

    init(_ what: String) {
        description = "\(what): " + String(cString: zmq_strerror(zmq_errno()))
    }
}

/// A ZeroMQ context: the only file that calls libzmq.
final class ZMQContext {
    let handle: UnsafeMutableRawPointer

    init() throws {
        guard let handle = zmq_ctx_new() else { throw ZMQError("zmq_ctx_new") }
        self.handle = handle
    }

    /// zmq_ctx_term waits for every socket to close; each socket holds its context, so it runs last.
    deinit { zmq_ctx_term(handle) }
}

/// What the linked libzmq was built with.
public enum ZMQLibrary {
    /// Whether libzmq can encrypt with CURVE. It needs libsodium (or tweetnacl) at libzmq's build;
    /// Debian's libzmq5 has it, a libzmq built without either does not.
    public static var hasCurve: Bool { zmq_has("curve") != 0 }

    /// The Z85 public key that belongs to a Z85 secret key; nil when libzmq cannot derive one
    /// (no CURVE, or text that does not decode to a key).
    static func curvePublicKey(secret: String) -> String? {
        var text = [CChar](repeating: 0, count: CurveKeys.z85Length + 1)
        guard zmq_curve_public(&text, secret) == 0 else { return nil }
        return String(decoding: text.prefix(CurveKeys.z85Length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// One ZeroMQ socket, sending and receiving whole multipart messages.
final class ZMQSocket {
    enum Kind {
        case router, publisher, reply

        var raw: Int32 {
            switch self {
            case .router: return ZMQ_ROUTER
            case .publisher: return ZMQ_PUB
            case .reply: return ZMQ_REP
            }
        }
    }

    /// A message that went over `ZMQSocket.maxMessageSize` in all its frames; it was read and thrown away.
    struct MessageTooLarge: Error, CustomStringConvertible {
        let size: Int
        var description: String { "a message of more than \(size) bytes" }
    }

    /// The largest message a peer may send, checked before a single byte of it is signed or parsed.
    /// libzmq disconnects a peer whose frame announces more (ZMQ_MAXMSGSIZE), so a huge unsigned
    /// frame is never allocated; `receive` applies the same bound to the sum of a message's frames.
    /// 256 MiB is far above any request a front end sends (widget buffers included).
    static let maxMessageSize = 256 << 20

    let handle: UnsafeMutableRawPointer
    /// Kept so the context is terminated only after this socket is closed.
    private let context: ZMQContext

    /// A socket of `kind`; with `curveServer`, a CURVE server holding that key pair, which must be
    /// set before the socket binds (libzmq applies the mechanism to connections made afterwards).
    init(_ context: ZMQContext, _ kind: Kind, curveServer keys: CurveKeys? = nil) throws {
        guard let handle = zmq_socket(context.handle, kind.raw) else { throw ZMQError("zmq_socket") }
        do {
            // Linger 0: closing drops unsent messages at once, so a kernel that fails to start exits at once.
            try Self.set(handle, ZMQ_LINGER, "ZMQ_LINGER", Int32(0))
            try Self.set(handle, ZMQ_MAXMSGSIZE, "ZMQ_MAXMSGSIZE", Int64(Self.maxMessageSize))
            if let keys {
                // What ipykernel 7 sets. No ZAP handler is installed, so libzmq lets any client
                // that holds the public key finish the handshake; a client with another server key,
                // or none, is disconnected before a frame of its reaches the kernel.
                try Self.set(handle, ZMQ_CURVE_SERVER, "ZMQ_CURVE_SERVER", Int32(1))
                try Self.set(handle, ZMQ_CURVE_SECRETKEY, "ZMQ_CURVE_SECRETKEY", z85: keys.secretKey)
                try Self.set(handle, ZMQ_CURVE_PUBLICKEY, "ZMQ_CURVE_PUBLICKEY", z85: keys.publicKey)
            }
        } catch {
            zmq_close(handle)  // before `self.handle` is set, so deinit will not close it again
            throw error
        }
        self.handle = handle
        self.context = context
    }

    private static func set<Value>(_ handle: UnsafeMutableRawPointer, _ option: Int32, _ name: String, _ value: Value) throws {
        var value = value
        guard zmq_setsockopt(handle, option, &value, MemoryLayout<Value>.size) == 0 else {
            throw ZMQError("cannot set \(name)")
        }
    }

    /// Sets a CURVE key given as Z85 text: libzmq takes it with its terminating NUL (41 bytes).
    private static func set(_ handle: UnsafeMutableRawPointer, _ option: Int32, _ name: String, z85 key: String) throws {
        let status = key.withCString { zmq_setsockopt(handle, option, $0, key.utf8.count + 1) }
        guard status == 0 else { throw ZMQError("cannot set \(name)") }
    }

    deinit { zmq_close(handle) }

    /// No limit on the messages queued for a peer (ZMQ_SNDHWM 0), set before `bind`: at the
    /// default 1,000 a PUB socket drops what comes after, without a word, and a dropped idle status
    /// leaves a front end showing the cell busy for ever.
    func queueWithoutLimit() throws {
        try Self.set(handle, ZMQ_SNDHWM, "ZMQ_SNDHWM", Int32(0))
    }

    func bind(_ endpoint: String) throws {
        guard zmq_bind(handle, endpoint) == 0 else { throw ZMQError("cannot bind \(endpoint)") }
    }

    /// Sends every frame of one message.
    func send(_ frames: [[UInt8]]) throws {
        for (i, frame) in frames.enumerated() {
            let flags = i < frames.count - 1 ? ZMQ_SNDMORE : 0
            var sent: Int32
            repeat {
                sent = frame.withUnsafeBytes { zmq_send(handle, $0.baseAddress, frame.count, flags) }
            } while sent < 0 && zmq_errno() == EINTR
            guard sent >= 0 else { throw ZMQError("zmq_send") }
        }
    }

    /// Receives every frame of the next message, waiting for it. A message larger than
    /// `maxMessageSize` in all is read to its end without being kept, then thrown as `MessageTooLarge`.
    func receive() throws -> [[UInt8]] {
        var frames: [[UInt8]] = []
        var total = 0
        while true {
            var message = zmq_msg_t()
            zmq_msg_init(&message)
            defer { zmq_msg_close(&message) }
            // A signal (SIGINT is how a front end may interrupt) breaks the wait; wait again.
            while zmq_msg_recv(&message, handle, 0) < 0 {
                guard zmq_errno() == EINTR else { throw ZMQError("zmq_msg_recv") }
            }
            let size = zmq_msg_size(&message)
            total += size
            if total > Self.maxMessageSize {
                frames = []
            } else if size > 0, let data = zmq_msg_data(&message) {
                frames.append(Array(UnsafeRawBufferPointer(start: data, count: size)))
            } else {
                frames.append([])
            }
            if zmq_msg_more(&message) == 0 {
                guard total <= Self.maxMessageSize else { throw MessageTooLarge(size: Self.maxMessageSize) }
                return frames
            }
        }
    }

    /// Whether a message is waiting, without waiting for one.
    var hasMessage: Bool {
        (try? Self.poll([self], timeout: 0))?.isEmpty == false
    }

    /// Waits up to `timeout` seconds for a message; whether one is waiting. A signal ends the wait early.
    func waitForMessage(timeout: Double) throws -> Bool {
        try !Self.poll([self], timeout: timeout).isEmpty
    }

    /// Waits up to `timeout` seconds (nil: forever) for a message on any of `sockets`; returns the
    /// indices of those that have one.
    static func poll(_ sockets: [ZMQSocket], timeout: Double?) throws -> [Int] {
        var items = sockets.map { zmq_pollitem_t(socket: $0.handle, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0) }
        let milliseconds = timeout.map { Int($0 * 1000) } ?? -1
        let count = zmq_poll(&items, Int32(items.count), milliseconds)
        if count < 0 {
            // A signal (SIGINT for an interrupt) ends the wait early; that is not a failure.
            if zmq_errno() == EINTR { return [] }
            throw ZMQError("zmq_poll")
        }
        return items.indices.filter { items[$0].revents & Int16(ZMQ_POLLIN) != 0 }
    }
}
