/// An error from a tensor operation: which op refused, and why, in words a user can act on.
///
/// Shape errors name the op and both shapes: `matmul: inner dimensions differ: [32, 64] @ [32, 10]`.
public struct TensorError: Error, Equatable, CustomStringConvertible {
    public let op: String
    public let message: String

    public init(_ op: String, _ message: String) {
        self.op = op
        self.message = message
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
        throw TensorError(op, "axis \(axis) is out of range for a tensor of rank \(rank)")
    }
    return resolved
}
