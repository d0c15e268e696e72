/// Where the language sends everything a user should see; each front end renders it its own way.
/// The language core never prints.
public protocol OutputSink: AnyObject {
    /// Text from `print` and friends (a newline is included when the program asked for one).
    func write(_ text: String)
    /// Training progress: called at the start, after batches (throttled by the receiver) and per epoch.
    func progress(_ event: ProgressEvent)
}

/// One moment of a training run.
public struct ProgressEvent: Sendable {
    public enum Phase: Sendable { case started, batch, epoch, finished, interrupted }
    public var phase: Phase
    public var task: String
    public var epoch: Int
    public var epochs: Int
    public var batch: Int
    public var batches: Int
    public var loss: Double
    public var metrics: [String: Double]
    public var elapsed: Double
}

/// A sink that keeps everything, for tests and for front ends that render afterwards.
public final class CollectingSink: OutputSink {
    public private(set) var text = ""
    public private(set) var events: [ProgressEvent] = []
    public init() {}
    public func write(_ text: String) { self.text += text }
    public func progress(_ event: ProgressEvent) { events.append(event) }
    public func clear() { text = "" }
}
