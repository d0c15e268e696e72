import CZlib
import Foundation
import RetortTensor

/// gzip decompression through zlib: the one file that calls it.
public enum Gzip {
    /// Whether `data` starts with the gzip magic bytes.
    public static func isCompressed(_ data: Data) -> Bool { data.starts(with: [0x1f, 0x8b]) }

    /// Inflates gzip-compressed bytes; `source` names the input in errors. Past `limit` bytes of
    /// output it stops with an error: a small file can inflate to gigabytes (a gzip bomb).
    public static func decompress(_ data: Data, source: String, limit: Int = .max) throws -> Data {
        var stream = z_stream()
        // 16 + MAX_WBITS asks zlib for the gzip wrapper rather than raw zlib.
        guard inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw TensorError(.file, "gzip", "\(source): zlib could not start")
        }
        defer { inflateEnd(&stream) }
        var output = Data()
        let chunk = 1 << 16
        var buffer = [UInt8](repeating: 0, count: chunk)
        var status: Int32 = Z_OK
        try data.withUnsafeBytes { (input: UnsafeRawBufferPointer) in
            stream.next_in = UnsafeMutablePointer(mutating: input.bindMemory(to: Bytef.self).baseAddress)
            stream.avail_in = uInt(input.count)
            repeat {
                status = buffer.withUnsafeMutableBufferPointer { out in
                    stream.next_out = out.baseAddress
                    stream.avail_out = uInt(chunk)
                    return inflate(&stream, Z_NO_FLUSH)
                }
                guard status == Z_OK || status == Z_STREAM_END else {
                    let reason = stream.msg.map { String(cString: $0) } ?? "error \(status)"
                    throw TensorError(.file, "gzip", "\(source): corrupt gzip data (\(reason)) after \(stream.total_in) bytes")
                }
                output.append(contentsOf: buffer[0..<(chunk - Int(stream.avail_out))])
                guard output.count <= limit else {
                    throw TensorError(
                        .file,
                        "gzip",
                        "\(source): inflates to more than \(MemoryBudget.describeBytes(limit)) (RETORT_MAX_TENSOR_BYTES / 4), stopped there"
                    )
                }
            } while status != Z_STREAM_END && (stream.avail_in > 0 || stream.avail_out == 0)
        }
        guard status == Z_STREAM_END else { throw TensorError(.file, "gzip", "\(source): gzip data ends early") }
        return output
    }
}
