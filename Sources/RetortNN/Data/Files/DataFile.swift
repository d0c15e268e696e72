import Foundation
import RetortTensor

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// What the loaders for data on disk share (CSV.swift, IDX.swift, NPY.swift): reading a file,
// gzip or not, and the kinds of stored numbers. Every number becomes a Float; every error is a
// TensorError naming the loader, the file as the user gave it, and the line, column or byte that
// is wrong.

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
/// target is removed. Errors name `op` and the path as given. The exporters write through it too.
public func writeFileAtomically(_ data: Data, to path: String, op: String) throws {
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

    /// The first of `count` elements a float32 cannot hold, with its position and its value as
    /// text: a finite float64 beyond float32's range, which would become infinity (NumPy warns of
    /// that overflow; nothing did here). Other values convert to the nearest float32, as
    /// `torch.from_numpy(a).float()` converts them (an int64 of 123456789 is 123456792).
    func firstUnheld(_ bytes: UnsafeRawBufferPointer, count: Int, bigEndian: Bool) -> (index: Int, value: String)? {
        guard self == .float64 else { return nil }
        for i in 0..<count {
            let raw = bytes.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)
            let v = Double(bitPattern: bigEndian ? UInt64(bigEndian: raw) : UInt64(littleEndian: raw))
            if v.isFinite && !Float(v).isFinite { return (i, "\(v)") }
        }
        return nil
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
