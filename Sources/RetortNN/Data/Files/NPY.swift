import Foundation
import RetortTensor

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// MARK: - NPY

/// NumPy's `.npy` format: a magic string, a version, a Python-literal header describing the
/// dtype, the memory order and the shape, then the raw elements.
public enum NPY {
    /// Reads a `.npy` file (versions 1.0, 2.0 and 3.0, plain or gzip-compressed) of floats,
    /// integers or booleans as a tensor, in row-major order whatever the file's order.
    public static func read(path: String) throws -> Tensor {
        let data = try readDataFile(path, op: "npy")
        return try data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
            let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)
            guard bytes.starts(with: magic) else {
                throw TensorError(.file, "npy", "\(path): not a .npy file (it does not start with \\x93NUMPY)")
            }
            guard bytes.count >= 10 else { throw TensorError(.file, "npy", "\(path): the file ends inside its preamble") }
            let (major, minor) = (bytes[6], bytes[7])
            let headerStart: Int
            let headerLength: Int
            switch major {
            case 1:
                headerStart = 10
                headerLength = Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt16.self)))
            case 2, 3:
                guard bytes.count >= 12 else { throw TensorError(.file, "npy", "\(path): the file ends inside its preamble") }
                headerStart = 12
                headerLength = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt32.self)))
            default:
                throw TensorError(.file, "npy", "\(path): format version \(major).\(minor) is not supported (1.0, 2.0, 3.0 are)")
            }
            let dataStart = headerStart + headerLength
            guard dataStart <= bytes.count else {
                throw TensorError(
                    .file,
                    "npy", "\(path): the \(headerLength)-byte header runs past the end of the \(bytes.count)-byte file")
            }
            let text = String(decoding: bytes[headerStart..<dataStart], as: UTF8.self)
            let header = try Header(text, source: path)
            guard let count = elementCount(header.shape),
                count.multipliedReportingOverflow(by: header.scalar.byteCount).overflow == false
            else {
                throw TensorError(.file, "npy", "\(path): the header declares an impossibly large shape \(header.shapeText)")
            }
            let expected = count * header.scalar.byteCount
            let available = bytes.count - dataStart
            guard available == expected else {
                throw TensorError(
                    .file,
                    "npy",
                    "\(path): shape \(header.shapeText) of '\(header.descr)' needs \(expected) data bytes but "
                        + "\(available) follow the \(dataStart)-byte header"
                        + (available < expected ? " (the file is truncated)" : ""))
            }
            if let (index, value) = header.scalar.firstUnheld(
                UnsafeRawBufferPointer(rebasing: bytes[dataStart...]), count: count, bigEndian: header.bigEndian)
            {
                throw TensorError(
                    .file, "npy",
                    "\(path): the value \(value) (element \(index) in storage order) does not fit a float32, which "
                        + "Retort's tensors hold: it would become \(Float(value).map { "\($0)" } ?? "another number")")
            }
            let stored = header.scalar.decode(
                UnsafeRawBufferPointer(rebasing: bytes[dataStart...]),
                shape: header.fortranOrder ? header.shape.reversed() : header.shape, count: count,
                bigEndian: header.bigEndian)
            return header.fortranOrder ? rowMajor(fromReversedAxes: stored) : stored
        }
    }

    /// Writes a tensor as a version 1.0 `.npy` file of little-endian float32, atomically.
    public static func write(_ tensor: Tensor, to path: String) throws {
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(pythonTuple(tensor.shape)), }"
        // NumPy pads the header with spaces and a newline so the data starts 64-byte aligned.
        let total = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - total % 64) % 64) + "\n"
        guard header.utf8.count <= Int(UInt16.max) else {
            throw TensorError(.file, "npy", "cannot write '\(path)': a rank-\(tensor.rank) shape makes the header too long")
        }
        var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0]
        bytes.append(UInt8(header.utf8.count & 0xff))
        bytes.append(UInt8(header.utf8.count >> 8))
        bytes += Array(header.utf8)
        bytes.reserveCapacity(bytes.count + 4 * tensor.count)
        tensor.withUnsafeBufferPointer { values in
            for value in values {
                withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
            }
        }
        try writeFileAtomically(Data(bytes), to: path, op: "npy")
    }

    /// A shape as Python writes a tuple: `()`, `(5,)`, `(2, 3)`.
    private static func pythonTuple(_ shape: [Int]) -> String {
        shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    }

    /// A column-major array, read as a row-major one of the reversed shape, put back in row-major order.
    private static func rowMajor(fromReversedAxes stored: Tensor) -> Tensor {
        let shape = Array(stored.shape.reversed())
        guard shape.count > 1 else { return stored }
        // Axis k of the result steps through the stored elements by the product of the sizes before it.
        var strides = [Int](repeating: 1, count: shape.count)
        for axis in 1..<shape.count { strides[axis] = strides[axis - 1] * shape[axis - 1] }
        return stored.withUnsafeBufferPointer { source in
            Tensor(shape: shape) { out in
                var index = [Int](repeating: 0, count: shape.count)
                var offset = 0
                for position in 0..<out.count {
                    out[position] = source[offset]
                    var axis = shape.count - 1
                    while axis >= 0 {
                        index[axis] += 1
                        offset += strides[axis]
                        if index[axis] < shape[axis] { break }
                        offset -= strides[axis] * shape[axis]
                        index[axis] = 0
                        axis -= 1
                    }
                }
            }
        }
    }

    /// The parsed header dictionary: `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`.
    private struct Header {
        let descr: String
        let scalar: StoredScalar
        let bigEndian: Bool
        let fortranOrder: Bool
        let shape: [Int]

        var shapeText: String { pythonTuple(shape) }

        init(_ text: String, source: String) throws {
            var parser = PythonLiteralParser(text, source: source)
            let fields = try parser.parseDictionary()
            func malformed(_ why: String) -> TensorError {
                TensorError(
                    .file,
                    "npy",
                    "\(source): malformed header \(FileReading.quoted(text.trimmingCharacters(in: .whitespacesAndNewlines))): \(why)"
                )
            }
            guard case .string(let descr)? = fields["descr"] else {
                if case .list? = fields["descr"] {
                    throw TensorError(.file, "npy", "\(source): structured dtypes (records with named fields) are not supported")
                }
                throw malformed("'descr' must be a dtype string such as '<f4'")
            }
            guard case .bool(let fortranOrder)? = fields["fortran_order"] else {
                throw malformed("'fortran_order' must be True or False")
            }
            guard case .tuple(let sizes)? = fields["shape"] else { throw malformed("'shape' must be a tuple") }
            var shape: [Int] = []
            for size in sizes {
                guard case .int(let n) = size, n >= 0 else { throw malformed("'shape' must hold sizes ≥ 0") }
                shape.append(n)
            }
            self.descr = descr
            self.fortranOrder = fortranOrder
            self.shape = shape

            var code = Substring(descr)
            let order = code.first.flatMap { "<>|=".contains($0) ? $0 : nil }
            if order != nil { code = code.dropFirst() }
            // "=" is the writer's native order; every platform Swift runs on here is little-endian.
            bigEndian = order == ">"
            switch code {
            case "f2", "e": scalar = .float16
            case "f4", "f": scalar = .float32
            case "f8", "d": scalar = .float64
            case "i1", "b": scalar = .int8
            case "i2", "h": scalar = .int16
            case "i4", "i": scalar = .int32
            case "i8", "q", "l": scalar = .int64
            case "u1", "B": scalar = .uint8
            case "u2", "H": scalar = .uint16
            case "u4", "I": scalar = .uint32
            case "u8", "Q", "L": scalar = .uint64
            case "b1", "?": scalar = .bool
            case "O":
                throw TensorError(
                    .file,
                    "npy", "\(source): dtype 'O' holds Python objects, which can only be read by unpickling them")
            default:
                throw TensorError(
                    .file,
                    "npy",
                    "\(source): dtype '\(descr)' is not supported (floats f2/f4/f8, integers i1–i8 and u1–u8, and bool b1 are)"
                )
            }
        }
    }
}

/// A value in a `.npy` header: the small part of Python's literal syntax that NumPy writes.
private enum PythonLiteral {
    case string(String)
    case bool(Bool)
    case int(Int)
    case none
    case tuple([PythonLiteral])
    case list([PythonLiteral])
}

/// Parses a Python dictionary literal with string keys, as written in `.npy` headers.
private struct PythonLiteralParser {
    /// How deep tuples and lists may nest: each level is a recursive call, and a header of ten thousand
    /// `(` must be an error, not a stack overflow. NumPy's own headers nest two deep; Python's
    /// parser, which NumPy reads them with, stops at 200.
    static let maximumDepth = 200

    private let text: [UInt8]
    private let source: String
    private var position = 0
    private var depth = 0

    init(_ text: String, source: String) {
        self.text = Array(text.utf8)
        self.source = source
    }

    mutating func parseDictionary() throws -> [String: PythonLiteral] {
        try expect("{")
        var fields: [String: PythonLiteral] = [:]
        while true {
            skipSpace()
            if peek() == UInt8(ascii: "}") { break }
            guard case .string(let key) = try parseValue() else { throw error("expected a quoted key") }
            try expect(":")
            fields[key] = try parseValue()
            skipSpace()
            if peek() == UInt8(ascii: ",") { position += 1 } else { break }
        }
        try expect("}")
        return fields
    }

    private mutating func parseValue() throws -> PythonLiteral {
        skipSpace()
        guard let c = peek() else { throw error("the header ends where a value was expected") }
        switch c {
        case UInt8(ascii: "'"), UInt8(ascii: "\""):
            position += 1
            var bytes: [UInt8] = []
            while let d = peek(), d != c {
                if d == UInt8(ascii: "\\") { position += 1 }
                if let e = peek() { bytes.append(e) }
                position += 1
            }
            try expect(Character(UnicodeScalar(c)))
            return .string(String(decoding: bytes, as: UTF8.self))
        case UInt8(ascii: "("), UInt8(ascii: "["):
            guard depth < Self.maximumDepth else {
                throw error("brackets nest more than \(Self.maximumDepth) deep")
            }
            depth += 1
            defer { depth -= 1 }
            position += 1
            let close = c == UInt8(ascii: "(") ? UInt8(ascii: ")") : UInt8(ascii: "]")
            var items: [PythonLiteral] = []
            while true {
                skipSpace()
                if peek() == close { break }
                items.append(try parseValue())
                skipSpace()
                if peek() == UInt8(ascii: ",") { position += 1 } else { break }
            }
            try expect(Character(UnicodeScalar(close)))
            return c == UInt8(ascii: "(") ? .tuple(items) : .list(items)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            let start = position
            position += 1
            while let d = peek(), d >= UInt8(ascii: "0") && d <= UInt8(ascii: "9") { position += 1 }
            guard let value = Int(String(decoding: text[start..<position], as: UTF8.self)) else {
                throw error("a number is out of range")
            }
            if peek() == UInt8(ascii: "L") { position += 1 }  // Python 2 wrote long integers as 3L.
            return .int(value)
        default:
            for (word, value) in [("True", PythonLiteral.bool(true)), ("False", .bool(false)), ("None", .none)]
            where text[position...].starts(with: word.utf8) {
                position += word.utf8.count
                return value
            }
            throw error("unexpected '\(Character(UnicodeScalar(c)))'")
        }
    }

    private func peek() -> UInt8? { position < text.count ? text[position] : nil }

    private mutating func skipSpace() {
        while let c = peek(), c == UInt8(ascii: " ") || c == UInt8(ascii: "\n") || c == UInt8(ascii: "\t") {
            position += 1
        }
    }

    private mutating func expect(_ character: Character) throws {
        skipSpace()
        guard let ascii = character.asciiValue, peek() == ascii else { throw error("expected '\(character)'") }
        position += 1
    }

    private func error(_ why: String) -> TensorError {
        let shown = FileReading.quoted(String(decoding: text, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        return TensorError(.file, "npy", "\(source): malformed header \(shown): \(why) at character \(position + 1)")
    }
}
