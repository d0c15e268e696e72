/// Output for a front end in several forms, keyed by MIME type, with per-type metadata.
public struct MimeBundle {
    public var data: JSONObject
    public var metadata: JSONObject

    public init(data: JSONObject, metadata: JSONObject = [:]) {
        self.data = data
        self.metadata = metadata
    }
}

/// Whether a cell could run as typed, as `is_complete` reports it.
public enum Completeness {
    case complete
    /// More lines are needed; `indent` is what the next line should start with.
    case incomplete(indent: String)
    case invalid
    case unknown
}

/// How a cell ended.
public enum ExecutionResult {
    /// It ran; the bundle is the value to show as the cell's result, if any.
    case ok(MimeBundle?)
    /// It failed (or was interrupted): the error's kind, its message and the lines of its traceback.
    case error(name: String, value: String, traceback: [String])
}

/// What became of a cell's request for a line of input.
public enum InputAnswer {
    /// The line the front end sent.
    case line(String)
    /// The front end does not allow stdin for this cell, or the request could not be sent.
    case unavailable
    /// An interrupt came while the kernel waited; the request is abandoned and a late answer ignored.
    case interrupted
}

/// Where a running cell sends what it shows; the kernel publishes each on IOPub under the request.
public protocol ExecutionOutput: AnyObject {
    /// The cell's number as the front end shows it (`In [3]`), or nil for a silent request, which takes none.
    var executionCount: Int? { get }
    /// Text on `stdout` or `stderr`.
    func stream(_ name: String, _ text: String)
    /// A rich display; with an `id` it can later be replaced in place by `update: true`.
    func display(_ bundle: MimeBundle, id: String?, update: Bool)
    func clearOutput(wait: Bool)
    /// Text for the front end's pager, sent with the reply.
    func page(_ text: String)
    /// Asks the front end for a line of input and waits for it, or for an interrupt.
    func input(prompt: String, password: Bool) -> InputAnswer
}

/// What the kernel needs of a language. The protocol layer knows nothing else about it: the
/// language front end implements this and the kernel turns Jupyter messages into these calls.
public protocol KernelInterpreter: AnyObject {
    /// `language_info` for kernel_info: name, version, mimetype, file_extension, lexers.
    var languageInfo: JSONObject { get }
    var implementationVersion: String { get }
    var banner: String { get }
    var helpLinks: [(text: String, url: String)] { get }

    func execute(_ code: String, output: ExecutionOutput) -> ExecutionResult
    /// An execute request's `user_expressions`, one at a time after its cell ran: the value as a
    /// bundle, or the error. What it prints is not shown, and it takes no cell number.
    func evaluate(_ expression: String) -> ExecutionResult
    /// Matches for the word before `cursor` (Unicode code points) and the range they replace.
    func complete(_ code: String, cursor: Int) -> (matches: [String], start: Int, end: Int)
    /// What to show about the name at `cursor`, or nil when there is nothing.
    func inspect(_ code: String, cursor: Int, detailLevel: Int) -> MimeBundle?
    func isComplete(_ code: String) -> Completeness
    /// Asks the running cell to stop at its next check; called from another thread. (A cell
    /// waiting for input is also told by `input`'s answer, `.interrupted`.)
    func interrupt()
}
