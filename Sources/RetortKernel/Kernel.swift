import Foundation

/// A Jupyter kernel over ZeroMQ: shell and control requests, IOPub publishing, stdin and the
/// heartbeat, speaking messaging protocol 5.3 to any front end. It drives a `KernelInterpreter`
/// and knows nothing of the language behind it.
public final class Kernel {
    static let protocolVersion = "5.3"

    let interpreter: KernelInterpreter
    let signer: Signer
    let session = UUID().uuidString.lowercased()
    private let context: ZMQContext
    let shell: ZMQSocket
    let control: ZMQSocket
    let stdin: ZMQSocket
    private let iopub: ZMQSocket
    private let heartbeat: ZMQSocket
    /// IOPub is written from the shell thread and the control thread.
    private let iopubLock = NSLock()
    var executionCount = 0
    var history = ExecutionHistory()
    /// Where diagnostics about the protocol go (dropped messages, unknown types).
    let log: (String) -> Void

    public init(connection: ConnectionInfo, interpreter: KernelInterpreter, log: @escaping (String) -> Void) throws {
        self.interpreter = interpreter
        self.log = log
        signer = Signer(key: connection.key)
        context = try ZMQContext()
        shell = try ZMQSocket(context, .router)
        control = try ZMQSocket(context, .router)
        stdin = try ZMQSocket(context, .router)
        iopub = try ZMQSocket(context, .publisher)
        heartbeat = try ZMQSocket(context, .reply)
        try shell.bind(connection.endpoint(connection.shellPort))
        try control.bind(connection.endpoint(connection.controlPort))
        try stdin.bind(connection.endpoint(connection.stdinPort))
        try iopub.bind(connection.endpoint(connection.iopubPort))
        try heartbeat.bind(connection.endpoint(connection.heartbeatPort))
    }

    /// Serves until a shutdown request: heartbeat and control on their own threads, so they answer
    /// while a cell runs; shell requests on the calling thread.
    public func run() throws -> Never {
        let beat = Thread { [heartbeat] in
            while let ping = try? heartbeat.receive() { try? heartbeat.send(ping) }
        }
        beat.name = "heartbeat"
        beat.start()
        let controlThread = Thread { [self] in
            while true {
                guard let frames = try? control.receive() else { continue }
                handle(frames, on: control)
            }
        }
        controlThread.name = "control"
        controlThread.start()
        publish("status", ["execution_state": "starting"], parent: Message.noParent)
        while true {
            let frames = try shell.receive()
            handle(frames, on: shell)
        }
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
        let type = request.type.hasSuffix("_request") ? String(request.type.dropLast(8)) + "_reply" : request.type + "_reply"
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

    /// Checks a message's signature and form, then serves it; a message that fails is dropped.
    func handle(_ frames: [[UInt8]], on socket: ZMQSocket) {
        do {
            serve(try Message(frames: frames, signer: signer), on: socket)
        } catch {
            log("dropped a message: \(error)")
        }
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
        case "interrupt_request":
            interpreter.interrupt()
            reply(request, ["status": "ok"], on: socket)
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

    var kernelInfo: JSONObject {
        [
            "status": "ok", "protocol_version": Self.protocolVersion, "implementation": "retort",
            "implementation_version": interpreter.implementationVersion, "language_info": interpreter.languageInfo,
            "banner": interpreter.banner, "debugger": false,
            "help_links": interpreter.helpLinks.map { ["text": $0.text, "url": $0.url] },
        ]
    }
}
