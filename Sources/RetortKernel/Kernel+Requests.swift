import Foundation

extension Kernel {
    /// Runs a cell: `execute_input`, then whatever it shows, then `execute_result` or `error`, then the reply.
    func execute(_ request: Message) {
        let code = request.content["code"] as? String ?? ""
        let silent = request.content["silent"] as? Bool ?? false
        let storeHistory = !silent && (request.content["store_history"] as? Bool ?? true)
        let allowStdin = request.content["allow_stdin"] as? Bool ?? false
        let stopOnError = request.content["stop_on_error"] as? Bool ?? true
        if storeHistory {
            executionCount += 1
            history.append(line: executionCount, code)
        }
        let count = executionCount
        if !silent { publish("execute_input", ["code": code, "execution_count": count], parent: request.headerJSON) }
        let output = CellOutput(
            kernel: self, request: request, silent: silent, allowStdin: allowStdin, executionCount: storeHistory ? count : nil)
        let outcome = interpreter.execute(code, output: output)
        output.flush()
        switch outcome {
        case .ok(let result):
            if let result, storeHistory, let text = result.data["text/plain"] as? String {
                history.setOutput(line: count, text)
            }
            if let result, !silent {
                publish(
                    "execute_result", ["execution_count": count, "data": result.data, "metadata": result.metadata],
                    parent: request.headerJSON)
            }
            reply(
                request,
                [
                    "status": "ok", "execution_count": count, "payload": output.payload,
                    "user_expressions": userExpressions(request.content["user_expressions"]),
                ],
                on: shell)
        case .error(let name, let value, let traceback):
            // Before the reply goes out: a cell sent once the client has the reply was not queued.
            if stopOnError { setAsideQueuedRequests() }
            publish("error", ["ename": name, "evalue": value, "traceback": traceback], parent: request.headerJSON)
            reply(
                request,
                [
                    "status": "error", "execution_count": count, "ename": name, "evalue": value, "traceback": traceback,
                    "payload": output.payload, "user_expressions": JSONObject(),
                ], on: shell)
        }
    }

    /// Each of an execute request's `user_expressions` (name → code) evaluated after the cell, as
    /// ipykernel answers them: `{status: ok, data, metadata}` or `{status: error, ename, evalue,
    /// traceback}`. Only after a cell that ran; a failed cell's reply has none, as ipykernel's.
    private func userExpressions(_ asked: Any?) -> JSONObject {
        guard let asked = asked as? JSONObject else { return JSONObject() }
        var answers = JSONObject()
        for (name, value) in asked {
            guard let code = value as? String else {
                answers[name] = [
                    "status": "error", "ename": "TypeError", "evalue": "a user expression must be a string",
                    "traceback": [String](),
                ]
                continue
            }
            switch interpreter.evaluate(code) {
            case .ok(let bundle):
                answers[name] = [
                    "status": "ok", "data": bundle?.data ?? JSONObject(), "metadata": bundle?.metadata ?? JSONObject(),
                ]
            case .error(let ename, let evalue, let traceback):
                answers[name] = ["status": "error", "ename": ename, "evalue": evalue, "traceback": traceback]
            }
        }
        return answers
    }

    /// After a failed cell, takes the shell requests already waiting into `queuedAtError`; the run
    /// loop answers their execute requests `aborted` once the failed cell's idle is out, so a
    /// notebook's run-all stops at the first error. Requests that come later run as usual.
    private func setAsideQueuedRequests() {
        while shell.hasMessage {
            guard let frames = receive(on: shell, name: "shell") else { continue }
            do {
                queuedAtError.append(try check(frames))
            } catch {
                log("dropped a message while aborting queued cells: \(error)")
            }
        }
    }

    /// Answers an execute request that was queued behind a failed cell with `aborted`; it does not run.
    func abort(_ request: Message) {
        publish("status", ["execution_state": "busy"], parent: request.headerJSON)
        reply(request, ["status": "aborted", "execution_count": executionCount], on: shell)
        publish("status", ["execution_state": "idle"], parent: request.headerJSON)
    }

    /// `cursor_pos` clamped into the code (Unicode code points); the code's end when absent or not a number.
    private func cursor(of request: Message, in code: String) -> Int {
        let end = code.unicodeScalars.count
        guard let cursor = request.content["cursor_pos"] as? Int else { return end }
        return min(max(cursor, 0), end)
    }

    func complete(_ request: Message, on socket: ZMQSocket) {
        let code = request.content["code"] as? String ?? ""
        let found = interpreter.complete(code, cursor: cursor(of: request, in: code))
        reply(
            request,
            [
                "status": "ok", "matches": found.matches, "cursor_start": found.start, "cursor_end": found.end,
                "metadata": JSONObject(),
            ], on: socket)
    }

    func inspect(_ request: Message, on socket: ZMQSocket) {
        let code = request.content["code"] as? String ?? ""
        let level = request.content["detail_level"] as? Int ?? 0
        if let bundle = interpreter.inspect(code, cursor: cursor(of: request, in: code), detailLevel: level) {
            reply(request, ["status": "ok", "found": true, "data": bundle.data, "metadata": bundle.metadata], on: socket)
        } else {
            reply(request, ["status": "ok", "found": false, "data": JSONObject(), "metadata": JSONObject()], on: socket)
        }
    }

    func isComplete(_ request: Message, on socket: ZMQSocket) {
        let code = request.content["code"] as? String ?? ""
        switch interpreter.isComplete(code) {
        case .complete: reply(request, ["status": "complete"], on: socket)
        case .incomplete(let indent): reply(request, ["status": "incomplete", "indent": indent], on: socket)
        case .invalid: reply(request, ["status": "invalid"], on: socket)
        case .unknown: reply(request, ["status": "unknown"], on: socket)
        }
    }
}

/// What one running cell shows, published under its request; pager text is kept for the reply.
///
/// Printed text is gathered and published at most every `streamInterval` (or once 64 KB wait), as
/// ipykernel's streams flush every 0.2 s: one message per print overran IOPub's queue (a loop of
/// 20,000 prints delivered 9,996 lines, and the cell's result and idle status were lost with them).
/// Anything else a cell publishes, and the cell's end, sends the waiting text first, in order.
final class CellOutput: ExecutionOutput {
    private unowned let kernel: Kernel
    private let request: Message
    private let silent: Bool
    private let allowStdin: Bool
    private(set) var payload: [JSONObject] = []
    let executionCount: Int?
    /// Text printed and not yet published, with its stream's name; guarded by `pendingLock`, since
    /// a scheduled flush runs on another thread.
    private var pending: (name: String, text: String)?
    private var lastPublished = DispatchTime.now()
    private var flushScheduled = false
    private let pendingLock = NSLock()
    static let streamInterval = 0.05
    static let streamBytes = 1 << 16

    init(kernel: Kernel, request: Message, silent: Bool, allowStdin: Bool, executionCount: Int?) {
        self.kernel = kernel
        self.request = request
        self.silent = silent
        self.allowStdin = allowStdin
        self.executionCount = executionCount
    }

    func stream(_ name: String, _ text: String) {
        guard !silent, !text.isEmpty else { return }
        pendingLock.lock()
        defer { pendingLock.unlock() }
        if let waiting = pending, waiting.name != name { publishPending() }
        // Appended in place: a new string of the whole buffer per print was quadratic.
        if pending == nil { pending = (name, text) } else { pending?.text += text }
        let waited = Double(DispatchTime.now().uptimeNanoseconds - lastPublished.uptimeNanoseconds) / 1e9
        if waited >= Self.streamInterval || (pending?.text.utf8.count ?? 0) >= Self.streamBytes {
            publishPending()
        } else if !flushScheduled {
            flushScheduled = true
            DispatchQueue.global().asyncAfter(deadline: .now() + Self.streamInterval) { [weak self] in self?.flush() }
        }
    }

    /// Publishes the text still waiting; the cell's end and every other kind of output call it first.
    func flush() {
        pendingLock.lock()
        defer { pendingLock.unlock() }
        flushScheduled = false
        publishPending()
    }

    /// With `pendingLock` held.
    private func publishPending() {
        guard let waiting = pending else { return }
        pending = nil
        lastPublished = DispatchTime.now()
        kernel.publish("stream", ["name": waiting.name, "text": waiting.text], parent: request.headerJSON)
    }

    func display(_ bundle: MimeBundle, id: String?, update: Bool) {
        guard !silent else { return }
        flush()
        var content: JSONObject = ["data": bundle.data, "metadata": bundle.metadata]
        content["transient"] = id.map { ["display_id": $0] } ?? JSONObject()
        kernel.publish(update ? "update_display_data" : "display_data", content, parent: request.headerJSON)
    }

    func clearOutput(wait: Bool) {
        guard !silent else { return }
        flush()
        kernel.publish("clear_output", ["wait": wait], parent: request.headerJSON)
    }

    func page(_ text: String) {
        payload.append(["source": "page", "data": ["text/plain": text], "start": 0])
    }

    /// Sends `input_request` on stdin to the front end that sent the cell and waits for its reply.
    /// Only a reply to this request answers it: one whose parent is this request, or that has no
    /// parent (as jupyter_client sends it) and came after the request. An interrupt ends the wait:
    /// the request is abandoned, and a reply to it that comes later answers nothing.
    func input(prompt: String, password: Bool) -> InputAnswer {
        guard allowStdin else { return .unavailable }
        flush()  // the prompt's question printed before it
        // Replies sent while nothing was asked (late answers to an abandoned request among them)
        // answer nothing.
        while kernel.stdin.hasMessage {
            _ = kernel.receive(on: kernel.stdin, name: "stdin")
            kernel.log("dropped a message on stdin that came before any input_request")
        }
        let header = Message.header(type: "input_request", session: kernel.session)
        let asked = header["msg_id"] as? String
        let message = Message(
            identities: request.identities, header: header, parentHeader: request.headerJSON,
            content: ["prompt": prompt, "password": password])
        // Read before the request goes out, so an interrupt sent once the front end has it counts.
        let interruptsBefore = kernel.interrupts.load(ordering: .sequentiallyConsistent)
        do {
            try kernel.stdin.send(message.frames(signer: kernel.signer))
        } catch {
            kernel.log("input request failed: \(error)")
            return .unavailable
        }
        while true {
            if kernel.interrupts.load(ordering: .sequentiallyConsistent) != interruptsBefore {
                kernel.log("abandoned input_request \(asked ?? "") on an interrupt")
                return .interrupted
            }
            // A short wait, so an interrupt from the control thread or a signal is seen promptly.
            let ready: Bool
            do {
                ready = try kernel.stdin.waitForMessage(timeout: Self.interruptCheckInterval)
            } catch {
                kernel.log("cannot wait for input: \(error)")
                return .unavailable
            }
            guard ready else { continue }
            guard let frames = kernel.receive(on: kernel.stdin, name: "stdin") else { continue }
            guard let reply = try? kernel.check(frames) else {
                kernel.log("dropped a message on stdin")
                continue
            }
            let parent = reply.parentID
            guard reply.type == "input_reply", parent == nil || parent == asked else {
                kernel.log("dropped a \(reply.type) on stdin that answers no pending input_request")
                continue
            }
            return .line(reply.content["value"] as? String ?? "")
        }
    }

    /// How long a wait for input goes between looks at the interrupt count, in seconds.
    static let interruptCheckInterval = 0.05
}
