/// An error from a tensor operation: which op refused, and why, in words a user can act on.
///
/// Shape errors name the op and both shapes: `matmul: inner dimensions differ: [32, 64] @ [32, 10]`.
///
/// Its `kind` is chosen where the error is made, so a front end classifies it without reading the words.
public struct TensorError: Error, Equatable, CustomStringConvertible {
    public enum Kind: String, Equatable, Sendable {
        /// Shapes disagree at an op's boundary, or a tensor's shape (its rank, an empty or negative size) is not one the op takes.
        case shape
        /// An argument is outside what the op takes: an axis, an index, a rate, a name.
        case argument
        /// The values inside a tensor or dataset are unusable: an index that is not whole, no examples, a scale of 0.
        case value
        /// A tensor would need more memory than one tensor may take (`MemoryBudget`).
        case budget
        /// A file cannot be read or written, or does not hold what its format says.
        case file
    }

    public let kind: Kind
    public let op: String
    public let message: String

    public init(_ kind: Kind, _ op: String, _ message: String) {
        self.kind = kind
        self.op = op
        self.message = message
    }

    /// An argument error: for code that has not chosen a kind (Retort's own code always does).
    public init(_ op: String, _ message: String) {
        self.init(.argument, op, message)
    }

    public var description: String { "\(op): \(message)" }
}

/// Formats a shape the way errors and displays print it: `[2, 3]`, and `[]` for a scalar.
public func formatShape(_ shape: [Int]) -> String {
    "[" + shape.map(String.init).joined(separator: ", ") + "]"
}

/// Resolves a possibly negative axis against a rank, or throws naming the op.
@inlinable
public func normalizeAxis(_ axis: Int, rank: Int, op: String) throws -> Int {
    // As in PyTorch, a scalar accepts axis 0 and -1.
    let extent = max(rank, 1)
    let resolved = axis < 0 ? axis + extent : axis
    guard resolved >= 0, resolved < extent else {
        throw TensorError(.argument, op, "axis \(axis) is out of range for a tensor of rank \(rank)")
    }
    return resolved
}
