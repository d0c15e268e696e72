import Foundation
import RetortTensor

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

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
            let data = UnsafeRawBufferPointer(rebasing: bytes[headerBytes...])
            if let (index, value) = scalar.firstUnheld(data, count: count, bigEndian: true) {
                throw TensorError(
                    .file, "idx",
                    "\(path): the value \(value) (element \(index)) does not fit a float32, which Retort's tensors hold: "
                        + "it would become \(Float(value).map { "\($0)" } ?? "another number")")
            }
            return scalar.decode(data, shape: shape, count: count, bigEndian: true)
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
