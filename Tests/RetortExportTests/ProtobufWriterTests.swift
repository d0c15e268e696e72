import XCTest

@testable import RetortExport

/// The wire encodings against bytes worked out by hand from the protobuf encoding guide.
final class ProtobufWriterTests: XCTestCase {
    private func bytes(_ body: (inout ProtobufWriter) -> Void) -> [UInt8] {
        var writer = ProtobufWriter()
        body(&writer)
        return writer.bytes
    }

    func testVarints() {
        XCTAssertEqual(bytes { $0.appendVarint(0) }, [0x00])
        XCTAssertEqual(bytes { $0.appendVarint(1) }, [0x01])
        XCTAssertEqual(bytes { $0.appendVarint(127) }, [0x7F])
        XCTAssertEqual(bytes { $0.appendVarint(300) }, [0xAC, 0x02])
        XCTAssertEqual(bytes { $0.appendVarint(UInt64.max) }, [UInt8](repeating: 0xFF, count: 9) + [0x01])
    }

    func testIntFieldsSignExtendNegativeNumbersToTenBytes() {
        XCTAssertEqual(bytes { $0.writeInt(1, 150) }, [0x08, 0x96, 0x01])
        XCTAssertEqual(bytes { $0.writeInt(1, -1) }, [0x08] + [UInt8](repeating: 0xFF, count: 9) + [0x01])
        // Field 20 needs a two-byte key: (20 << 3 | 0) = 160.
        XCTAssertEqual(bytes { $0.writeInt(20, 7) }, [0xA0, 0x01, 0x07])
    }

    func testStringIsLengthDelimitedUTF8() {
        XCTAssertEqual(bytes { $0.writeString(2, "testing") }, [0x12, 0x07] + Array("testing".utf8))
        XCTAssertEqual(bytes { $0.writeString(1, "") }, [0x0A, 0x00])
        XCTAssertEqual(bytes { $0.writeString(1, "é") }, [0x0A, 0x02, 0xC3, 0xA9])
    }

    func testFloatIsFixed32LittleEndian() {
        XCTAssertEqual(bytes { $0.writeFloat(2, 1.0) }, [0x15, 0x00, 0x00, 0x80, 0x3F])
        XCTAssertEqual(bytes { $0.writeFloat(2, -0.5) }, [0x15, 0x00, 0x00, 0x00, 0xBF])
    }

    func testPackedInt64List() {
        XCTAssertEqual(bytes { $0.writePackedInts(4, [3, 270, 86942]) }, [0x22, 0x06, 0x03, 0x8E, 0x02, 0x9E, 0xA7, 0x05])
        XCTAssertEqual(bytes { $0.writePackedInts(4, []) }, [])
    }

    func testPackedFloatList() {
        XCTAssertEqual(bytes { $0.writePackedFloats(4, [1.0, -0.5]) }, [0x22, 0x08, 0, 0, 0x80, 0x3F, 0, 0, 0, 0xBF])
    }

    func testUnpackedRepeatedFieldsRepeatTheKey() {
        XCTAssertEqual(bytes { $0.writeRepeatedInts(8, [3, 3]) }, [0x40, 0x03, 0x40, 0x03])
        XCTAssertEqual(bytes { $0.writeRepeatedFloats(7, [1.0]) }, [0x3D, 0, 0, 0x80, 0x3F])
    }

    func testNestedMessageGetsItsLengthInFront() {
        XCTAssertEqual(bytes { $0.writeMessage(3) { $0.writeInt(1, 150) } }, [0x1A, 0x03, 0x08, 0x96, 0x01])
        XCTAssertEqual(bytes { $0.writeMessage(3) { _ in } }, [0x1A, 0x00])
    }

    func testNestedMessageLongerThan127BytesTakesATwoByteLength() {
        let payload = [UInt8](repeating: 0x5A, count: 200)
        let encoded = bytes { writer in
            writer.writeInt(1, 1)
            writer.writeMessage(2) { $0.writeBytes(9, payload) }
            writer.writeInt(3, 2)
        }
        // Inner: key 0x4A, length 200 = C8 01, payload: 203 bytes = CB 01.
        XCTAssertEqual(Array(encoded.prefix(8)), [0x08, 0x01, 0x12, 0xCB, 0x01, 0x4A, 0xC8, 0x01])
        XCTAssertEqual(Array(encoded[8..<208]), payload)
        XCTAssertEqual(Array(encoded.suffix(2)), [0x18, 0x02])
        XCTAssertEqual(encoded.count, 210)
    }
}
