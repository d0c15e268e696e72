import Foundation
import RetortTensor

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// Loaders for data on disk: labelled CSV files, MNIST's IDX files and NumPy's .npy arrays.
// Every number becomes a Float; every error is a TensorError naming the loader, the file as the
// user gave it, and the line, column or byte that is wrong.

// MARK: - Files

/// The bytes of a file, inflated first when they start with the gzip magic bytes.
///
/// `op` names the loader in errors; `~` at the start of `path` is the home directory.
func readDataFile(_ path: String, op: String, inflate: Bool = true) throws -> Data {
    let data = try FileReading.bytes(path, op: op)
    return inflate && Gzip.isCompressed(data)
        ? try Gzip.decompress(data, source: path, limit: FileReading.maximumBytes) : data
}

/// Writes `data` to `path` all at once: into a temporary file beside it, then renamed over it,
/// so a reader never sees half a file and a failed write leaves any old file intact.
///
/// A symbolic link is written through (its target is replaced, the link stays); an existing
/// file keeps its permissions; a temporary file that an earlier, killed write left beside the
/// target is removed.
func writeFileAtomically(_ data: Data, to path: String, op: String) throws {
    var target = URL(fileURLWithPath: NSString(string: path).expandingTildeInPath)
    if let destination = try? FileManager.default.destinationOfSymbolicLink(atPath: target.path) {
        target = URL(fileURLWithPath: destination, relativeTo: target.deletingLastPathComponent()).standardizedFileURL
    }
    let directory = target.deletingLastPathComponent()
    removeAbandonedTemporaries(of: target)
    let temporary =
        directory.appendingPathComponent(
            ".\(target.lastPathComponent).\(getpid())-\(UInt32.random(in: 0 ... .max)).tmp"
        ).path
    func failure(_ what: String) -> TensorError {
        TensorError(.file, op, "cannot write '\(path)': \(what): \(String(cString: strerror(errno)))")
    }
    var existing = stat()
    let mode: mode_t = stat(target.path, &existing) == 0 ? existing.st_mode & 0o7777 : 0o644
    let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o600)
    guard fd >= 0 else { throw failure("cannot create a temporary file in its directory") }
    // Not through open's mode, which the umask narrows: an existing file's permissions are kept as they were.
    fchmod(fd, mode)
    var renamed = false
    defer { if !renamed { unlink(temporary) } }
    do {
        try data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
            guard let start = bytes.baseAddress else { return }  // nothing to write
            var written = 0
            while written < bytes.count {
                let n = write(fd, start + written, bytes.count - written)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw failure("writing failed after \(written) of \(bytes.count) bytes") }
                written += n
            }
        }
        guard fsync(fd) == 0 else { throw failure("flushing to disk failed") }
    } catch {
        close(fd)
        throw error
    }
    guard close(fd) == 0 else { throw failure("closing failed") }
    guard rename(temporary, target.path) == 0 else { throw failure("renaming the temporary file failed") }
    renamed = true
}

/// Removes `.NAME.PID-N.tmp` files beside `target` whose writing process no longer runs: what a
/// save killed between creating and renaming its temporary file leaves behind.
func removeAbandonedTemporaries(of target: URL) {
    let directory = target.deletingLastPathComponent()
    let prefix = ".\(target.lastPathComponent)."
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else { return }
    for name in names where name.hasPrefix(prefix) && name.hasSuffix(".tmp") {
        let middle = name.dropFirst(prefix.count).dropLast(4)
        guard let dash = middle.firstIndex(of: "-"), let pid = Int32(middle[..<dash]) else { continue }
        // kill(pid, 0) fails with ESRCH when no such process exists.
        if pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH {
            unlink(directory.appendingPathComponent(name).path)
        }
    }
}

/// The file name without its directory and without the given extensions (`train.csv.gz` → `train`).
func baseName(_ path: String, dropping extensions: [String]) -> String {
    var name = URL(fileURLWithPath: path).lastPathComponent
    for ext in extensions where name.lowercased().hasSuffix(ext) && name.count > ext.count {
        name.removeLast(ext.count)
    }
    return name
}

/// The number of elements of a shape, or nil when a size is negative or the product overflows.
func elementCount(_ shape: [Int]) -> Int? {
    var count = 1
    for size in shape {
        guard size >= 0 else { return nil }
        let (product, overflow) = count.multipliedReportingOverflow(by: size)
        guard !overflow else { return nil }
        count = product
    }
    return count
}

// MARK: - Stored numbers

/// How one number is stored in a binary file; the binary loaders convert each kind to Float.
enum StoredScalar: Equatable {
    case float16, bfloat16, float32, float64
    case int8, int16, int32, int64
    case uint8, uint16, uint32, uint64
    case bool

    /// The bytes one element occupies.
    var byteCount: Int {
        switch self {
        case .int8, .uint8, .bool: return 1
        case .float16, .bfloat16, .int16, .uint16: return 2
        case .float32, .int32, .uint32: return 4
        case .float64, .int64, .uint64: return 8
        }
    }

    /// Decodes `count` elements from the start of `bytes` (which holds at least that many) into a tensor.
    func decode(_ bytes: UnsafeRawBufferPointer, shape: [Int], count: Int, bigEndian: Bool) -> Tensor {
        precondition(bytes.count >= count * byteCount, "decode: \(bytes.count) bytes for \(count) elements")
        return Tensor(shape: shape) { out in
            func each<T: FixedWidthInteger>(_ type: T.Type, _ convert: (T) -> Float) {
                for i in 0..<count {
                    let raw = bytes.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self)
                    out[i] = convert(bigEndian ? T(bigEndian: raw) : T(littleEndian: raw))
                }
            }
            switch self {
            case .float16: each(UInt16.self) { floatFromHalf($0) }
            case .bfloat16: each(UInt16.self) { Float(bitPattern: UInt32($0) << 16) }
            case .float32: each(UInt32.self) { Float(bitPattern: $0) }
            case .float64: each(UInt64.self) { Float(Double(bitPattern: $0)) }
            case .int8: each(Int8.self) { Float($0) }
            case .int16: each(Int16.self) { Float($0) }
            case .int32: each(Int32.self) { Float($0) }
            case .int64: each(Int64.self) { Float($0) }
            case .uint8: each(UInt8.self) { Float($0) }
            case .uint16: each(UInt16.self) { Float($0) }
            case .uint32: each(UInt32.self) { Float($0) }
            case .uint64: each(UInt64.self) { Float($0) }
            case .bool: each(UInt8.self) { $0 == 0 ? 0 : 1 }
            }
        }
    }
}

/// An IEEE half-precision number, widened (done by hand: `Float16` is missing on some platforms).
func floatFromHalf(_ bits: UInt16) -> Float {
    let sign: Float = bits & 0x8000 == 0 ? 1 : -1
    let exponent = Int(bits >> 10) & 0x1f
    let fraction = UInt32(bits & 0x3ff)
    switch exponent {
    case 0: return sign * Float(fraction) * 0x1p-24  // zero and subnormals
    case 0x1f: return fraction == 0 ? sign * .infinity : .nan
    default:
        let magnitude = Float(bitPattern: UInt32(exponent - 15 + 127) << 23 | fraction << 13)
        return sign * magnitude
    }
}

// MARK: - CSV

extension Dataset {
    /// Which column of a CSV file holds the labels.
    public enum Column: Equatable, Sendable {
        /// The last column.
        case last
        /// A position counted from 0; negative positions count from the end (-1 is the last column).
        case index(Int)
        /// The column with this name in the header row.
        case named(String)
    }

    /// Loads a CSV file (plain or gzip-compressed) of numeric feature columns and one label column.
    ///
    /// Labels that are all numbers must be whole and ≥ 0, and `classes` is the largest plus one;
    /// otherwise every label is a class name, numbered in order of first appearance and kept in
    /// `classNames`. `header` nil detects a header row: the first row is one when a feature column
    /// holds something other than a number there (or when `target` is a column name). Blank lines
    /// are skipped; fields may be double-quoted, but a quoted field cannot span lines.
    public static func csv(path: String, target: Column = .last, header: Bool? = nil) throws -> Dataset {
        let bytes = [UInt8](try readDataFile(path, op: "csv"))
        var rows = CSVRows(bytes)
        guard let first = rows.next() else { throw TensorError(.file, "csv", "\(path): the file holds no rows") }
        let width = first.fields.count
        guard width >= 2 else {
            throw TensorError(
                .file,
                "csv", "\(path):\(first.line): needs at least 2 columns (features and a label), found \(width)")
        }
        let hasHeader: Bool
        let labelColumn: Int
        switch target {
        case .named(let name):
            if header == false {
                throw TensorError(.argument, "csv", "\(path): target '\(name)' names a column, but header is false")
            }
            guard let found = first.fields.firstIndex(of: name) else {
                throw TensorError(
                    .argument,
                    "csv", "\(path): no column named '\(name)'; the header has \(first.fields.joined(separator: ", "))")
            }
            hasHeader = true
            labelColumn = found
        case .last, .index:
            var position = width - 1
            if case .index(let index) = target {
                position = index < 0 ? width + index : index
                guard position >= 0, position < width else {
                    throw TensorError(.argument, "csv", "\(path): target column \(index) is out of range for \(width) columns")
                }
            }
            labelColumn = position
            hasHeader =
                header
                ?? first.fields.enumerated().contains { column, field in column != position && Float(field) == nil }
        }

        var features: [Float] = []
        var labelTexts: [String] = []
        var labelLines: [Int] = []
        var row: CSVRows.Row? = hasHeader ? rows.next() : first
        while let current = row {
            // A large file takes a while: let an interrupt stop it (every 4,096 lines).
            if current.line & 0xFFF == 0 && Cancellation.isRequested() { throw Cancellation.Stopped(op: "csv") }
            guard current.fields.count == width else {
                throw TensorError(
                    .file, "csv", "\(path):\(current.line): expected \(width) fields, found \(current.fields.count)")
            }
            for (column, field) in current.fields.enumerated() {
                if column == labelColumn {
                    labelTexts.append(field)
                    labelLines.append(current.line)
                } else {
                    guard let value = Float(field) else {
                        throw TensorError(.file, "csv", "\(path):\(current.line):\(column + 1): '\(field)' is not a number")
                    }
                    features.append(value)
                }
            }
            row = rows.next()
        }
        guard !labelTexts.isEmpty else { throw TensorError(.file, "csv", "\(path): the file holds a header but no data rows") }

        let labels: [Float]
        let classes: Int
        var classNames: [String]? = nil
        let numbers = labelTexts.map { Float($0) }
        if numbers.allSatisfy({ $0 != nil }) {
            labels = try numbers.enumerated().map { i, number in
                // Float holds every whole number up to 2^24 exactly.
                guard let value = number, value >= 0, value == value.rounded(), value <= 16_777_216 else {
                    throw TensorError(
                        .file,
                        "csv",
                        "\(path):\(labelLines[i]):\(labelColumn + 1): label '\(labelTexts[i])' is not a class index "
                            + "(a whole number ≥ 0)")
                }
                return value
            }
            classes = Int(labels.max() ?? -1) + 1
        } else {
            var index: [String: Int] = [:]
            var names: [String] = []
            labels = labelTexts.map { text in
                if let known = index[text] { return Float(known) }
                index[text] = names.count
                names.append(text)
                return Float(names.count - 1)
            }
            classes = names.count
            classNames = names
        }
        return try Dataset(
            x: Tensor(shape: [labels.count, width - 1], scalars: features), y: Tensor(labels), classes: classes,
            name: baseName(path, dropping: [".gz", ".csv"]), classNames: classNames)
    }
}

/// The non-blank rows of a CSV file, split into trimmed fields, with their 1-based line numbers.
struct CSVRows: IteratorProtocol {
    struct Row {
        let line: Int
        let fields: [String]
    }

    private let bytes: [UInt8]
    private var position = 0
    private var line = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
        // A UTF-8 byte-order mark, as spreadsheet programs write, is not part of the first field.
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { position = 3 }
    }

    mutating func next() -> Row? {
        while position < bytes.count {
            line += 1
            let start = position
            var end = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
            position = end + 1
            if end > start && bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
            let text = bytes[start..<end]
            if text.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }) { continue }
            return Row(line: line, fields: Self.fields(text))
        }
        return nil
    }

    /// Splits one line at commas outside double quotes; `""` inside quotes is one quote.
    static func fields(_ text: ArraySlice<UInt8>) -> [String] {
        var fields: [String] = []
        var field: [UInt8] = []
        var quoted = false
        var wasQuoted = false
        var i = text.startIndex
        func finish() {
            var piece = field[...]
            if !wasQuoted {
                while let c = piece.first, c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") { piece.removeFirst() }
                while let c = piece.last, c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") { piece.removeLast() }
            }
            fields.append(String(decoding: piece, as: UTF8.self))
            field.removeAll(keepingCapacity: true)
            wasQuoted = false
        }
        while i < text.endIndex {
            let c = text[i]
            if quoted {
                if c == UInt8(ascii: "\"") {
                    if i + 1 < text.endIndex && text[i + 1] == UInt8(ascii: "\"") {
                        field.append(c)
                        i += 1
                    } else {
                        quoted = false
                    }
                } else {
                    field.append(c)
                }
            } else if c == UInt8(ascii: ",") {
                finish()
            } else if c == UInt8(ascii: "\"") && field.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }) {
                // An opening quote (after optional blanks) starts a quoted field.
                field.removeAll()
                quoted = true
                wasQuoted = true
            } else if !(wasQuoted && (c == UInt8(ascii: " ") || c == UInt8(ascii: "\t"))) {
                field.append(c)
            }
            i += 1
        }
        finish()
        return fields
    }
}

// MARK: - IDX

/// MNIST's IDX format: two zero bytes, an element type code, the number of dimensions, each
/// dimension as a big-endian UInt32, then the elements, big-endian, in row-major order.
public enum IDX {
    /// Reads an IDX file (plain or gzip-compressed) as a tensor of the shape its header declares.
    public static func read(path: String) throws -> Tensor { try read(path: path, items: "items") }

    /// Reads an IDX file; `items` names what the first dimension counts in errors ("images").
    static func read(path: String, items: String) throws -> Tensor {
        let data = try readDataFile(path, op: "idx")
        return try data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
            guard bytes.count >= 4 else {
                throw TensorError(.file, "idx", "\(path): \(bytes.count) bytes, too short for the 4-byte IDX magic number")
            }
            let magic = bytes.loadUnaligned(as: UInt32.self).bigEndian
            guard bytes[0] == 0, bytes[1] == 0, bytes[3] > 0 else {
                throw TensorError(
                    .file,
                    "idx",
                    "\(path): bad magic number \(hex(magic)); an IDX file starts with two zero bytes, a type code and "
                        + "the number of dimensions (MNIST images: 0x00000803, labels: 0x00000801)")
            }
            guard let scalar = idxScalar(code: bytes[2]) else {
                throw TensorError(
                    .file,
                    "idx", "\(path): magic number \(hex(magic)) has unknown element type 0x\(String(bytes[2], radix: 16))")
            }
            let rank = Int(bytes[3])
            let headerBytes = 4 + 4 * rank
            guard bytes.count >= headerBytes else {
                throw TensorError(
                    .file,
                    "idx", "\(path): the header declares \(rank) dimensions but the file ends after \(bytes.count) bytes")
            }
            let shape = (0..<rank).map {
                Int(bytes.loadUnaligned(fromByteOffset: 4 + 4 * $0, as: UInt32.self).bigEndian)
            }
            let itemShape = Array(shape.dropFirst())
            guard let count = elementCount(shape), let itemCount = elementCount(itemShape),
                count.multipliedReportingOverflow(by: scalar.byteCount).overflow == false
            else {
                throw TensorError(.file, "idx", "\(path): the header declares an impossibly large shape \(formatShape(shape))")
            }
            let expected = count * scalar.byteCount
            let available = bytes.count - headerBytes
            guard available >= expected else {
                let complete = available / Swift.max(itemCount * scalar.byteCount, 1)
                let what = itemShape.isEmpty ? "" : " of " + itemShape.map(String.init).joined(separator: "×")
                throw TensorError(
                    .file,
                    "idx",
                    "\(path): header says \(shape[0]) \(items)\(what) but the file holds \(complete) "
                        + "(\(available) of \(expected) data bytes after the \(headerBytes)-byte header)")
            }
            guard available == expected else {
                throw TensorError(
                    .file,
                    "idx", "\(path): \(available - expected) bytes follow the \(expected) data bytes the header declares")
            }
            return scalar.decode(
                UnsafeRawBufferPointer(rebasing: bytes[headerBytes...]), shape: shape, count: count, bigEndian: true)
        }
    }

    /// The element type of an IDX type code.
    private static func idxScalar(code: UInt8) -> StoredScalar? {
        switch code {
        case 0x08: return .uint8
        case 0x09: return .int8
        case 0x0B: return .int16
        case 0x0C: return .int32
        case 0x0D: return .float32
        case 0x0E: return .float64
        default: return nil
        }
    }

    private static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: Swift.max(0, 8 - digits.count)) + digits
    }
}

extension Dataset {
    /// Loads an MNIST-style pair of IDX files (plain or gzip-compressed): images `[N, rows, cols]`
    /// with their stored values (0...255 for MNIST), and one whole-number label ≥ 0 per image.
    ///
    /// `classes` is the largest label plus one.
    public static func idx(images: String, labels: String) throws -> Dataset {
        let x = try IDX.read(path: images, items: "images")
        let y = try IDX.read(path: labels, items: "labels")
        guard y.rank == 1 else {
            throw TensorError(
                .file,
                "idx", "\(labels): labels must be one number per image, but the file holds shape \(formatShape(y.shape))")
        }
        guard x.shape[0] == y.shape[0] else {
            throw TensorError(.file, "idx", "\(images) holds \(x.shape[0]) images but \(labels) holds \(y.shape[0]) labels")
        }
        let values = y.scalars
        if let bad = values.firstIndex(where: { $0 < 0 || $0 != $0.rounded() || $0 > 16_777_216 }) {
            throw TensorError(
                .file,
                "idx",
                "\(labels): the label at index \(bad) is \(values[bad]), which is not a class index (a whole number ≥ 0)")
        }
        return try Dataset(
            x: x, y: y, classes: Int(values.max() ?? -1) + 1,
            name: baseName(images, dropping: [".gz", ".idx3-ubyte", ".idx1-ubyte", ".idx"]))
    }
}

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
    private let text: [UInt8]
    private let source: String
    private var position = 0

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
