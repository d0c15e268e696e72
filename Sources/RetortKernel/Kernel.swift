import Foundation
import Synchronization

/// A Jupyter kernel over ZeroMQ: shell and control requests, IOPub publishing, stdin and the
/// heartbeat, speaking messaging protocol 5.3 to any front end. It drives a `KernelInterpreter`
/// and knows nothing of the language behind it.
public final class Kernel {
    static let protocolVersion = "5.3"
    /// What the messaging spec sends on control. The control thread serves these alone: anything
    /// else would run beside the shell thread's cell and share its interpreter.
    static let controlRequests: Set = ["interrupt_request", "shutdown_request", "kernel_info_request", "debug_request"]
    /// What the spec sends on shell, for telling a misplaced request from an unknown one.
    static let shellRequests: Set = [
        "execute_request", "complete_request", "inspect_request", "is_complete_request", "history_request",
        "comm_info_request", "comm_open", "comm_msg", "comm_close",
    ]

    let interpreter: KernelInterpreter
    let signer: Signer
    /// Signatures already served on any channel, so a replayed message is dropped.
    private let signatures = SignatureHistory()
    let session = UUID().uuidString.lowercased()
    let shell: ZMQSocket
    let control: ZMQSocket
    let stdin: ZMQSocket
    private let iopub: ZMQSocket
    private let heartbeat: ZMQSocket
    /// IOPub is written from the shell thread and the control thread.
    private let iopubLock = NSLock()
    /// How many interrupts have come (interrupt_request, or `interrupt()` from a signal's watcher),
    /// so that a wait for input can tell that one came while it waited.
    let interrupts = Atomic<Int>(0)
    var executionCount = 0
    var history = ExecutionHistory()
    /// The shell requests that were queued when a cell failed, taken before its reply: served
    /// before the next read, except execute requests, which are answered `aborted`.
    var queuedAtError: [Message] = []
    /// Where diagnostics about the protocol go (dropped messages, unknown types).
    let log: (String) -> Void
    /// Called once a message of more than `largeMessage` bytes has been received and let go, so the
    /// front end can give its memory back (the process's allocator may be tuned to keep it).
    public var afterLargeMessage: (() -> Void)?
    static let largeMessage = 16 << 20
    private var sawLargeMessage = false
    private let largeLock = NSLock()

    /// Binds every channel, each a CURVE server when the connection file holds keys; throws at the
    /// first that cannot be bound, having closed those opened.
    public init(connection: ConnectionInfo, interpreter: KernelInterpreter, log: @escaping (String) -> Void) throws {
        self.interpreter = interpreter
        self.log = log
        signer = Signer(key: connection.key)
        if let keys = connection.curve { try Self.checkServable(keys, from: connection.path) }
        let context = try ZMQContext()
        shell = try ZMQSocket(context, .router, curveServer: connection.curve)
        control = try ZMQSocket(context, .router, curveServer: connection.curve)
        stdin = try ZMQSocket(context, .router, curveServer: connection.curve)
        iopub = try ZMQSocket(context, .publisher, curveServer: connection.curve)
        try iopub.queueWithoutLimit()
        heartbeat = try ZMQSocket(context, .reply, curveServer: connection.curve)
        try shell.bind(connection.endpoint(connection.shellPort))
        try control.bind(connection.endpoint(connection.controlPort))
        try stdin.bind(connection.endpoint(connection.stdinPort))
        try iopub.bind(connection.endpoint(connection.iopubPort))
        try heartbeat.bind(connection.endpoint(connection.heartbeatPort))
    }

    /// Refuses keys the kernel could not serve with, before anything is bound: without this, the
    /// front end would see a kernel that started and never answered.
    static func checkServable(_ keys: CurveKeys, from path: String) throws {
        guard ZMQLibrary.hasCurve else {
            throw KernelError(
                "the connection file \(path) asks for CurveZMQ transport encryption, but the libzmq this kernel"
                    + " uses was built without CURVE (zmq_has(\"curve\") is false): install a libzmq built with"
                    + " libsodium, or start the kernel without transport_encryption")
        }
        guard ZMQLibrary.curvePublicKey(secret: keys.secretKey) == keys.publicKey else {
            throw KernelError(
                "the connection file \(path) has a curve_publickey that is not the public key of its"
                    + " curve_secretkey: clients would use it and every handshake would fail")
        }
    }

    /// Serves until a shutdown request: heartbeat and control on their own threads, so they answer
    /// while a cell runs; shell requests on the calling thread.
    public func run() throws -> Never {
        let beat = Thread { [heartbeat] in
            while true {
                do {
                    let ping = try heartbeat.receive()
                    try? heartbeat.send(ping)
                } catch is ZMQSocket.MessageTooLarge {
                    // A REP socket must answer before it reads again; an empty echo keeps it beating.
                    try? heartbeat.send([[]])
                } catch {
                    return
                }
            }
        }
        beat.name = "heartbeat"
        beat.start()
        let controlThread = Thread { [self] in
            while true {
                if let frames = receive(on: control, name: "control") { handleControl(frames) }
                releaseAfterLargeMessage()
            }
        }
        controlThread.name = "control"
        controlThread.start()
        watchParent()
        publish("status", ["execution_state": "starting"], parent: Message.noParent)
        while true {
            if !queuedAtError.isEmpty {
                let request = queuedAtError.removeFirst()
                if request.type == "execute_request" { abort(request) } else { serve(request, on: shell) }
            } else if let frames = receive(on: shell, name: "shell") {
                handle(frames, on: shell)
            }
            releaseAfterLargeMessage()
        }
    }

    /// Runs `afterLargeMessage` when a large message came since the last call (its frames are gone by now).
    func releaseAfterLargeMessage() {
        largeLock.lock()
        let due = sawLargeMessage
        sawLargeMessage = false
        largeLock.unlock()
        if due { afterLargeMessage?() }
    }

    // MARK: - Sending

    /// Publishes a message on IOPub, under the topic of its type.
    func publish(_ type: String, _ content: JSONObject, parent: [UInt8], metadata: JSONObject = [:]) {
        let message = Message(
            identities: [Array("kernel.\(session).\(type)".utf8)], header: Message.header(type: type, session: session),
            parentHeader: parent, metadata: metadata, content: content)
        iopubLock.lock()
        defer { iopubLock.unlock() }
        do {
            try iopub.send(message.frames(signer: signer))
        } catch {
            log("cannot publish \(type): \(error)")
        }
    }

    /// Sends the reply to `request` on `socket`, back to whoever sent it.
    func reply(_ request: Message, _ content: JSONObject, on socket: ZMQSocket, metadata: JSONObject = [:]) {
        let base = request.type.isEmpty ? "error" : request.type
        let type = base.hasSuffix("_request") ? String(base.dropLast(8)) + "_reply" : base + "_reply"
        let message = Message(
            identities: request.identities, header: Message.header(type: type, session: session),
            parentHeader: request.headerJSON,
            metadata: metadata, content: content)
        do {
            try socket.send(message.frames(signer: signer))
        } catch {
            log("cannot send \(type): \(error)")
        }
    }

    // MARK: - Receiving

    /// The frames of the next message on `socket`, or nil (logged) when it was too large or the read failed.
    func receive(on socket: ZMQSocket, name: String) -> [[UInt8]]? {
        do {
            let frames = try socket.receive()
            if frames.reduce(0, { $0 + $1.count }) > Self.largeMessage { noteLargeMessage() }
            return frames
        } catch {
            if error is ZMQSocket.MessageTooLarge { noteLargeMessage() }
            log("dropped a message on \(name): \(error)")
            return nil
        }
    }

    private func noteLargeMessage() {
        largeLock.lock()
        sawLargeMessage = true
        largeLock.unlock()
    }

    /// Parses a message, checking its signature, then that this signature was not served before.
    func check(_ frames: [[UInt8]]) throws -> Message {
        let message = try Message(frames: frames, signer: signer)
        if signer.isSigning, !signatures.insert(hex: message.signature) { throw Message.Rejection.replayed }
        return message
    }

    /// Checks a message's signature and form, then serves it; a message that fails is dropped.
    func handle(_ frames: [[UInt8]], on socket: ZMQSocket) {
        do {
            serve(try check(frames), on: socket)
        } catch {
            log("dropped a message: \(error)")
        }
    }

    /// A control message: one of `controlRequests` is served; anything else is answered with an
    /// error reply on control and never reaches the interpreter.
    func handleControl(_ frames: [[UInt8]]) {
        let request: Message
        do {
            request = try check(frames)
        } catch {
            log("dropped a message on control: \(error)")
            return
        }
        guard Self.controlRequests.contains(request.type) else {
            let known = Self.shellRequests.contains(request.type)
            let why =
                request.type.isEmpty
                ? "a message without a msg_type is not a request"
                : known
                    ? "\(request.type) is not served on the control channel; send it on shell"
                    : "\(request.type) is not a message type this kernel serves"
            log("refused a message on the control channel: \(why)")
            reply(
                request, ["status": "error", "ename": "UnsupportedRequest", "evalue": why, "traceback": [String]()], on: control)
            return
        }
        serve(request, on: control)
    }

    /// Answers one checked request, between `busy` and `idle` statuses.
    func serve(_ request: Message, on socket: ZMQSocket) {
        publish("status", ["execution_state": "busy"], parent: request.headerJSON)
        defer { publish("status", ["execution_state": "idle"], parent: request.headerJSON) }
        switch request.type {
        case "kernel_info_request": reply(request, kernelInfo, on: socket)
        case "execute_request": execute(request)
        case "complete_request": complete(request, on: socket)
        case "inspect_request": inspect(request, on: socket)
        case "is_complete_request": isComplete(request, on: socket)
        case "history_request": reply(request, ["status": "ok", "history": history.answer(request.content)], on: socket)
        case "comm_info_request": reply(request, ["status": "ok", "comms": JSONObject()], on: socket)
        case "comm_open":
            // No comm targets are registered: say so and close it, as ipykernel does, so a widget
            // front end does not wait on a comm that will never answer.
            let id = request.content["comm_id"] as? String ?? ""
            let target = request.content["target_name"] as? String ?? ""
            publish(
                "stream", ["name": "stderr", "text": "No such comm target registered: \(target)\n"], parent: request.headerJSON)
            publish("comm_close", ["comm_id": id, "data": JSONObject()], parent: request.headerJSON)
        case "comm_msg", "comm_close":
            break  // no comm is ever open
        case "interrupt_request":
            interrupt()
            reply(request, ["status": "ok"], on: socket)
        case "debug_request":
            // kernel_info says "debugger": false; a Debug Adapter Protocol response that declines.
            reply(
                request,
                [
                    "type": "response", "request_seq": request.content["seq"] as? Int ?? 0, "success": false,
                    "command": request.content["command"] as? String ?? "", "message": "this kernel has no debugger",
                ], on: socket)
        case "shutdown_request":
            let restart = request.content["restart"] as? Bool ?? false
            reply(request, ["status": "ok", "restart": restart], on: socket)
            publish("status", ["execution_state": "idle"], parent: request.headerJSON)
            interpreter.interrupt()
            // Give ZeroMQ's I/O thread a moment to deliver the reply before the process ends.
            usleep(200_000)
            exit(0)
        default:
            log("ignored a message of unknown type \(request.type)")
        }
    }

    /// Ends the kernel when the process that started it is gone, as ipykernel's parent poller does:
    /// otherwise a front end killed without a shutdown request (a crashed test, a kill -9) leaves the
    /// kernel running under init, holding its ports, its memory and the parent's output pipe.
    /// The parent is `JPY_PARENT_PID` when the front end gives it, else the process that started
    /// this one; checked every second.
    func watchParent() {
        let given = ProcessInfo.processInfo.environment["JPY_PARENT_PID"].flatMap { Int32($0) }
        let parent = given ?? getppid()
        guard parent > 1 else { return }
        let watcher = Thread {
            while true {
                sleep(1)
                // Orphaned: reparented (to init or a subreaper), or the given parent no longer exists.
                let gone = given == nil ? getppid() != parent : (kill(parent, 0) != 0 && errno == ESRCH)
                if gone {
                    self.log("the process that started the kernel (\(parent)) is gone: exiting")
                    exit(0)
                }
            }
        }
        watcher.name = "parent watcher"
        watcher.start()
    }

    /// Stops the running cell: the interpreter at its next check, a wait for input at once. Safe
    /// from any thread; the front end calls it on SIGINT (interrupt_mode "signal").
    public func interrupt() {
        interrupts.add(1, ordering: .sequentiallyConsistent)
        interpreter.interrupt()
    }

    var kernelInfo: JSONObject {
        [
            "status": "ok", "protocol_version": Self.protocolVersion, "implementation": "retort",
            "implementation_version": interpreter.implementationVersion, "language_info": interpreter.languageInfo,
            "banner": interpreter.banner, "debugger": false,
            "help_links": interpreter.helpLinks.map { ["text": $0.text, "url": $0.url] },
        ]
    }
}
