import Foundation
import RetortTensor

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Reading files a user names: a regular file only (a device such as /dev/zero or a pipe would
/// never end), within a size bound, with the reason when it cannot be read.
public enum FileReading {
    /// The most bytes a file (or a gzip file once inflated) may hold: a quarter of the tensor budget.
    public static var maximumBytes: Int { Swift.max(MemoryBudget.maximumBytes / 4, 1 << 20) }

    /// The bytes of the file at `path`; `op` names the reader in errors.
    public static func bytes(_ path: String, op: String) throws -> Data {
        let resolved = NSString(string: path).expandingTildeInPath
        var info = stat()
        guard stat(resolved, &info) == 0 else {
            throw TensorError(
                .file, op, "cannot read '\(path)': \(errno == ENOENT ? "no such file" : String(cString: strerror(errno)))")
        }
        switch info.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw TensorError(.file, op, "cannot read '\(path)': it is a directory")
        case S_IFIFO, S_IFSOCK: throw TensorError(.file, op, "cannot read '\(path)': it is a pipe or a socket, not a file")
        default: throw TensorError(.file, op, "cannot read '\(path)': it is a device, not a file")
        }
        guard Int(info.st_size) <= maximumBytes else {
            throw TensorError(
                .file,
                op,
                "cannot read '\(path)': it holds \(MemoryBudget.describeBytes(Int(info.st_size))), more than the \(MemoryBudget.describeBytes(maximumBytes)) a file may (RETORT_MAX_TENSOR_BYTES / 4)"
            )
        }
        guard access(resolved, R_OK) == 0 else { throw TensorError(.file, op, "cannot read '\(path)': permission denied") }
        guard let data = FileManager.default.contents(atPath: resolved) else {
            throw TensorError(.file, op, "cannot read '\(path)': \(String(cString: strerror(errno)))")
        }
        return data
    }

    /// The text of a source file, which must be UTF-8; the error says where it is not.
    public static func text(_ path: String) throws -> String {
        let data = try bytes(path, op: "read")
        if let text = String(validatingUTF8Data: data) { return text }
        let (line, column, byte) = firstInvalidUTF8(data)
        throw TensorError(
            .file,
            "read",
            "cannot read '\(path)': it is not UTF-8 text (byte 0x\(String(byte, radix: 16, uppercase: true)) at line \(line), column \(column))"
        )
    }

    /// Where the first byte that breaks UTF-8 is: line and column (1-based, in characters) and the byte.
    static func firstInvalidUTF8(_ data: Data) -> (line: Int, column: Int, byte: UInt8) {
        let bytes = [UInt8](data)
        var line = 1
        var column = 1
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            let length = b < 0x80 ? 1 : b >> 5 == 0b110 ? 2 : b >> 4 == 0b1110 ? 3 : b >> 3 == 0b11110 ? 4 : 0
            guard length > 0, i + length <= bytes.count,
                String(validatingUTF8Data: Data(bytes[i..<(i + length)])) != nil
            else { return (line, column, b) }
            if b == 0x0A {
                line += 1
                column = 1
            } else {
                column += 1
            }
            i += length
        }
        return (line, column, 0)
    }

    /// Text from a file quoted in a message: at most `limit` characters, control characters escaped.
    public static func quoted(_ text: String, limit: Int = 120) -> String {
        var shown = String(
            text.unicodeScalars.prefix(limit).map { scalar -> String in
                scalar.properties.generalCategory == .control ? String(format: "\\u{%X}", scalar.value) : String(scalar)
            }.joined())
        if text.unicodeScalars.count > limit { shown += "… (\(text.unicodeScalars.count) characters)" }
        return shown
    }
}

extension String {
    /// The text when `data` is valid UTF-8, else nil (Foundation's decoder would repair it).
    init?(validatingUTF8Data data: Data) {
        var valid = true
        let decoded = String(decoding: data, as: UTF8.self)
        // Decoding replaces each invalid sequence with U+FFFD; a file holding U+FFFD itself is checked byte by byte.
        if decoded.unicodeScalars.contains("\u{FFFD}") {
            var iterator = data.makeIterator()
            var decoder = UTF8()
            loop: while true {
                switch decoder.decode(&iterator) {
                case .scalarValue: continue
                case .emptyInput: break loop
                case .error:
                    valid = false
                    break loop
                }
            }
        }
        guard valid else { return nil }
        self = decoded
    }
}
