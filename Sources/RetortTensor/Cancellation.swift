/// How a long operation learns that the user asked to stop: the language sets `isRequested` to its
/// interrupt flag, and kernels that can run for seconds (a large matmul) poll it between blocks.
public enum Cancellation {
    nonisolated(unsafe) public static var isRequested: () -> Bool = { false }

    /// Thrown by an operation that stopped part-way because an interrupt was requested.
    public struct Stopped: Error, CustomStringConvertible {
        public let op: String
        public init(op: String) { self.op = op }
        public var description: String { "\(op) was interrupted part-way" }
    }

    /// Multiply-adds a kernel does between two polls: about a tenth of a second on one core.
    static let blockWork = 1 << 30
}
