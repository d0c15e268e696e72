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

    deinit { zmq_ctx_term(handle) }
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

    let handle: UnsafeMutableRawPointer

    init(_ context: ZMQContext, _ kind: Kind) throws {
        guard let handle = zmq_socket(context.handle, kind.raw) else { throw ZMQError("zmq_socket") }
        self.handle = handle
        var linger: Int32 = 0
        zmq_setsockopt(handle, ZMQ_LINGER, &linger, MemoryLayout<Int32>.size)
    }

    deinit { zmq_close(handle) }

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

    /// Receives every frame of the next message, waiting for it.
    func receive() throws -> [[UInt8]] {
        var frames: [[UInt8]] = []
        while true {
            var message = zmq_msg_t()
            zmq_msg_init(&message)
            defer { zmq_msg_close(&message) }
            // A signal (SIGINT is how a front end may interrupt) breaks the wait; wait again.
            while zmq_msg_recv(&message, handle, 0) < 0 {
                guard zmq_errno() == EINTR else { throw ZMQError("zmq_msg_recv") }
            }
            let size = zmq_msg_size(&message)
            if size > 0, let data = zmq_msg_data(&message) {
                frames.append(Array(UnsafeRawBufferPointer(start: data, count: size)))
            } else {
                frames.append([])
            }
            if zmq_msg_more(&message) == 0 { return frames }
        }
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
