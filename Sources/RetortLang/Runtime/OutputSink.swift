import RetortNN

/// Where the language sends everything a user should see; each front end renders it its own way.
/// The language core never prints.
public protocol OutputSink: AnyObject {
    /// Text from `print` and friends (a newline is included when the program asked for one).
    func write(_ text: String)
    /// Training progress: called at the start, after batches (throttled by the receiver) and per epoch.
    func progress(_ event: ProgressEvent)
    /// Text for the error stream (`eprint`).
    func writeError(_ text: String)
    /// A value shown now, in the richest form the front end has (`display`).
    func display(_ value: Value)
    /// Clears what the current cell has shown so far (`clear_output`); `wait` defers it to the next output.
    func clearOutput(wait: Bool)
    /// Long help text, for a pager where the front end has one (`help`).
    func page(_ text: String)
    /// A line typed by the user after `prompt` (`input`), or nil when this front end cannot ask.
    func readInput(prompt: String, password: Bool) -> String?
}

extension OutputSink {
    public func writeError(_ text: String) { write(text) }
    public func display(_ value: Value) { write(value.displayText + "\n") }
    public func clearOutput(wait: Bool) {}
    public func page(_ text: String) { write(text) }
    public func readInput(prompt: String, password: Bool) -> String? { nil }
}

/// One moment of a training run (the trainer's event, under the name front ends know).
public typealias ProgressEvent = TrainingEvent

/// A sink that keeps everything, for tests and for front ends that render afterwards.
public final class CollectingSink: OutputSink {
    public private(set) var text = ""
    public private(set) var events: [ProgressEvent] = []
    /// Answers for `input`, taken in order.
    public var inputs: [String] = []
    public init() {}
    public func write(_ text: String) { self.text += text }
    public func progress(_ event: ProgressEvent) { events.append(event) }
    public func clear() { text = "" }
    public func readInput(prompt: String, password: Bool) -> String? {
        text += prompt
        return inputs.isEmpty ? nil : inputs.removeFirst()
    }
}
