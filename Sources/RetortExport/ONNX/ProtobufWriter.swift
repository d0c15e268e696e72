// The protobuf wire format, written directly: the few encodings ONNX files need and nothing else.
//
// Why our own writer and not swift-protobuf, measured on this project's 2-core machines (shared
// with other builds, so CPU time is the steadier figure):
// - (b) apple/swift-protobuf 1.39.0, its SwiftProtobuf library alone built clean in a scratch
//   package: debug 34–41 s CPU (35–74 s wall), 450 MB peak; release 73 s CPU (119 s wall),
//   740 MB. That is 28,905 lines of library before any generated code: onnx.proto's messages
//   would add thousands more, and generating them needs protoc and protoc-gen-swift, neither
//   installed here (the plugin's build took 9.5 minutes on these machines).
// - (a) this file (77 lines without blanks and comments) and the five message files beside it:
//   457 lines in all (the builder and the atomic file write bring RetortExport to 673), no
//   dependency; the whole target builds clean in 5.5 s CPU (7 s wall) in debug.
// Retort writes ONNX and never reads it, so five encodings are all it needs: the same choice as
// for safetensors and NPY (Sources/RetortNN/SafeTensors.swift).

/// Appends protobuf-encoded fields to a byte buffer.
///
/// Fields are written in the order the caller writes them; the ONNX messages write them in field
/// number order, as the reference serializer does, so a file re-serialized by `onnx` is unchanged.
/// Only what ONNX needs is here: varints (no zigzag: ONNX has no `sint` fields), fixed32 floats,
/// length-delimited bytes, strings and sub-messages, and packed repeated scalars.
struct ProtobufWriter {
    /// The encoded bytes so far.
    private(set) var bytes: [UInt8] = []

    /// The wire types this writer emits (the low three bits of a field's key).
    enum WireType: UInt64 {
        case varint = 0
        case fixed32 = 5
        case lengthDelimited = 2
    }

    // MARK: - Scalars

    /// Appends `value` as a base-128 varint, low groups first; negative numbers take ten bytes,
    /// as protobuf encodes `int64` and `int32` (sign-extended, not zigzagged).
    mutating func appendVarint(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }

    /// Appends a field's key: its number and wire type.
    mutating func appendKey(_ field: Int, _ wireType: WireType) {
        appendVarint(UInt64(field) << 3 | wireType.rawValue)
    }

    /// Writes an `int64`, `int32` or enum field.
    mutating func writeInt(_ field: Int, _ value: Int) {
        appendKey(field, .varint)
        appendVarint(UInt64(bitPattern: Int64(value)))
    }

    /// Writes a `float` field: four little-endian bytes.
    mutating func writeFloat(_ field: Int, _ value: Float) {
        appendKey(field, .fixed32)
        appendFixed32(value)
    }

    private mutating func appendFixed32(_ value: Float) {
        withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
    }

    // MARK: - Length-delimited fields

    /// Writes a `bytes` field.
    mutating func writeBytes(_ field: Int, _ value: [UInt8]) {
        appendKey(field, .lengthDelimited)
        appendVarint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    /// Writes a `string` field as UTF-8.
    mutating func writeString(_ field: Int, _ value: String) {
        writeBytes(field, Array(value.utf8))
    }

    /// Writes a sub-message field: `body` appends the message's fields, and its length goes before them.
    ///
    /// The message is encoded in place and its length inserted afterwards, so a large tensor's
    /// bytes are moved once per level of nesting rather than copied into a buffer per message.
    mutating func writeMessage(_ field: Int, _ body: (inout ProtobufWriter) -> Void) {
        appendKey(field, .lengthDelimited)
        let start = bytes.count
        body(&self)
        var length = ProtobufWriter()
        length.appendVarint(UInt64(bytes.count - start))
        bytes.insert(contentsOf: length.bytes, at: start)
    }

    /// Writes a message that knows how to encode itself.
    mutating func writeMessage(_ field: Int, _ message: some ProtobufMessage) {
        writeMessage(field) { message.encode(to: &$0) }
    }

    // MARK: - Repeated scalars

    /// Writes a repeated `int64` field packed: one key, the byte length, then the varints.
    /// Nothing is written for an empty list, as protobuf does.
    mutating func writePackedInts(_ field: Int, _ values: [Int]) {
        guard !values.isEmpty else { return }
        writeMessage(field) { writer in
            for value in values { writer.appendVarint(UInt64(bitPattern: Int64(value))) }
        }
    }

    /// Writes a repeated `float` field packed: one key, the byte length, then four bytes a value.
    mutating func writePackedFloats(_ field: Int, _ values: [Float]) {
        guard !values.isEmpty else { return }
        appendKey(field, .lengthDelimited)
        appendVarint(UInt64(4 * values.count))
        for value in values { appendFixed32(value) }
    }

    /// Writes a repeated `int64` field unpacked (a key before each value): proto2's default,
    /// which onnx.proto keeps for `dims` and an attribute's `ints`.
    mutating func writeRepeatedInts(_ field: Int, _ values: [Int]) {
        for value in values { writeInt(field, value) }
    }

    /// Writes a repeated `float` field unpacked, as onnx.proto declares an attribute's `floats`.
    mutating func writeRepeatedFloats(_ field: Int, _ values: [Float]) {
        for value in values { writeFloat(field, value) }
    }
}

/// A protobuf message that writes its own fields.
protocol ProtobufMessage {
    /// Appends this message's fields (without a key or length of its own) to `writer`.
    func encode(to writer: inout ProtobufWriter)
}

extension ProtobufMessage {
    /// The message's protobuf encoding.
    var encoded: [UInt8] {
        var writer = ProtobufWriter()
        encode(to: &writer)
        return writer.bytes
    }
}
