/// What a primitive computes, by name and attributes: `matmul`, `conv2d(stride: 1, padding: 0)`,
/// `softmax(axis: 1)`. Every primitive hands one to `Variable.make`, so a traced forward pass is a
/// graph an exporter can read rather than a list of closures.
public struct Op: Sendable, Equatable, CustomStringConvertible {
    /// One attribute's value: what ONNX and `torch.fx` call a node's attributes or constant arguments.
    public enum Value: Sendable, Equatable, CustomStringConvertible {
        case int(Int)
        case ints([Int])
        case float(Float)
        case floats([Float])
        case bool(Bool)
        case string(String)

        public var description: String {
            switch self {
            case .int(let i): return String(i)
            case .ints(let v): return "[" + v.map(String.init).joined(separator: ", ") + "]"
            case .float(let f): return formatAttribute(f)
            case .floats(let v): return "[" + v.map(formatAttribute).joined(separator: ", ") + "]"
            case .bool(let b): return String(b)
            case .string(let s): return "\"\(s)\""
            }
        }
    }

    public let name: String
    /// In the order the op declares them.
    public let attributes: [(name: String, value: Value)]

    public init(_ name: String, _ attributes: [(name: String, value: Value)] = []) {
        self.name = name
        self.attributes = attributes
    }

    public subscript(attribute: String) -> Value? { attributes.first { $0.name == attribute }?.value }

    /// An integer attribute, or nil.
    public func int(_ attribute: String) -> Int? {
        if case .int(let i)? = self[attribute] { return i }
        return nil
    }

    /// A list-of-integers attribute, or nil.
    public func ints(_ attribute: String) -> [Int]? {
        if case .ints(let v)? = self[attribute] { return v }
        return nil
    }

    /// A number attribute, or nil.
    public func float(_ attribute: String) -> Float? {
        if case .float(let f)? = self[attribute] { return f }
        return nil
    }

    /// A flag attribute, or nil.
    public func bool(_ attribute: String) -> Bool? {
        if case .bool(let b)? = self[attribute] { return b }
        return nil
    }

    /// A text attribute, or nil.
    public func string(_ attribute: String) -> String? {
        if case .string(let s)? = self[attribute] { return s }
        return nil
    }

    /// `conv2d(stride: 1, padding: 0)`, or the bare name when there are no attributes.
    public var description: String {
        attributes.isEmpty ? name : "\(name)(" + attributes.map { "\($0.name): \($0.value)" }.joined(separator: ", ") + ")"
    }

    public static func == (a: Op, b: Op) -> Bool {
        a.name == b.name && a.attributes.count == b.attributes.count
            && zip(a.attributes, b.attributes).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }
}

private func formatAttribute(_ f: Float) -> String {
    f == f.rounded() && Swift.abs(f) < 1e7 ? String(Int(f)) : "\(f)"
}

extension Op {
    public static let add = Op("add")
    public static let sub = Op("sub")
    public static let mul = Op("mul")
    public static let div = Op("div")
    public static let neg = Op("neg")
    public static let pow = Op("pow")
    public static let remainder = Op("remainder")
    public static let matmul = Op("matmul")
    public static let linear = Op("linear")
    public static let relu = Op("relu")
    public static let exp = Op("exp")
    public static let log = Op("log")
    public static let sqrt = Op("sqrt")
    public static let detach = Op("detach")

    /// `x * s` for a number s.
    public static func scale(_ s: Float) -> Op { Op("scale", [("by", .float(s))]) }
    /// `x + s` for a number s.
    public static func shift(_ s: Float) -> Op { Op("shift", [("by", .float(s))]) }
    /// A pooling op over square windows.
    public static func pool(_ name: String, kernel: Int, stride: Int, padding: Int) -> Op {
        Op(name, [("kernel", .int(kernel)), ("stride", .int(stride)), ("padding", .int(padding))])
    }
    /// Python slicing of the leading axes of `shape`, resolved: ONNX's `Slice` starts, ends and steps.
    public static func slice(_ ranges: [SliceRange], of shape: [Int]) -> Op {
        let resolved = ranges.enumerated().map { axis, r in r.resolve(size: shape[axis]) }
        return Op(
            "slice",
            [
                ("starts", .ints(resolved.map(\.start))),
                ("ends", .ints(zip(resolved, ranges).map { r, range in r.count == 0 ? r.start : r.start + (r.count - 1) * range.step + 1 })),
                ("steps", .ints(ranges.map(\.step))),
            ])
    }
    /// An axis-wise op such as `softmax(axis: 1)`.
    public static func axis(_ name: String, _ axis: Int) -> Op { Op(name, [("axis", .int(axis))]) }
    /// A reduction over `axes` (nil: every axis), keeping them as size 1 when `keepDims`.
    public static func reduction(_ name: String, axes: [Int], keepDims: Bool) -> Op {
        Op(name, [("axes", .ints(axes)), ("keep_dims", .bool(keepDims))])
    }
}
