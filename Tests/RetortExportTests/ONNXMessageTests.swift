import RetortTensor
import XCTest

@testable import RetortExport

/// ONNX messages against the bytes onnx 1.23's Python helpers serialize for the same content
/// (`onnx.helper.make_*(...).SerializeToString().hex()`), so field numbers and encodings match onnx.proto.
final class ONNXMessageTests: XCTestCase {
    private func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    func testIntsAttributeIsWrittenUnpackedWithItsType() {
        // make_attribute('k', [3, 3])
        XCTAssertEqual(hex(AttributeProto.ints("k", [3, 3]).encoded), "0a016b40034003a00107")
    }

    func testInt8TensorInRawData() throws {
        // make_tensor('w', INT8, [2, 3], np.int8([-1, 0, 1, 2, -128, 127]).tobytes(), raw=True)
        let tensor = try TensorProto(name: "w", int8: [-1, 0, 1, 2, -128, 127], dims: [2, 3])
        XCTAssertEqual(hex(tensor.encoded), "0802080310034201774a06ff000102807f")
    }

    func testValueInfoWithSymbolicBatchDimension() {
        // make_tensor_value_info('x', FLOAT, ['batch', 4])
        let value = ValueInfoProto(name: "x", elementType: .float, shape: ["batch", 4])
        XCTAssertEqual(hex(value.encoded), "0a017812130a110801120d0a07120562617463680a020804")
    }

    func testNodeWithFloatAndIntAttributes() {
        // make_node('Gemm', ['x', 'w', 'b'], ['y'], name='fc', transB=1, alpha=0.5): attributes by name.
        let node = NodeProto(
            opType: "Gemm", input: ["x", "w", "b"], output: ["y"], name: "fc",
            attribute: [.float("alpha", 0.5), .int("transB", 1)])
        XCTAssertEqual(
            hex(node.encoded),
            "0a01780a01770a01621201791a026663220447656d6d2a0f0a05616c706861150000003fa001012a0d0a067472616e73421801a00102")
    }

    func testFloatTensorFromARetortTensorIsLittleEndianFloat32() throws {
        let tensor = TensorProto(name: "b", float32: try Tensor(shape: [2], scalars: [1.0, -2.0]))
        XCTAssertEqual(tensor.dims, [2])
        XCTAssertEqual(tensor.rawData, [0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0])
        // Scalars (dims []) are valid: per-tensor scales and zero points.
        XCTAssertEqual(TensorProto(name: "s", float32: Tensor(0.25)).dims, [])
    }

    func testIntegerTensorsAreLittleEndian() throws {
        XCTAssertEqual(
            try TensorProto(name: "i", int64: [-1, 2], dims: [2]).rawData,
            [UInt8](repeating: 0xFF, count: 8) + [2, 0, 0, 0, 0, 0, 0, 0])
        XCTAssertEqual(try TensorProto(name: "i", int32: [258], dims: []).rawData, [2, 1, 0, 0])
        XCTAssertEqual(try TensorProto(name: "u", uint8: [0, 255], dims: [2]).rawData, [0, 255])
        XCTAssertEqual(try TensorProto(name: "m", bool: [true, false], dims: [2]).rawData, [1, 0])
    }

    func testTensorWhoseValuesDoNotFillItsDimsIsRefused() {
        XCTAssertThrowsError(try TensorProto(name: "w", int8: [1, 2, 3], dims: [2, 2])) { error in
            XCTAssertEqual("\(error)", "export: tensor 'w': dims [2, 2] hold 4 values but 3 were given")
        }
        XCTAssertThrowsError(try TensorProto(name: "w", floats: [], dims: [-1])) { error in
            XCTAssertEqual("\(error)", "export: tensor 'w': dims [-1] are not a valid shape")
        }
    }

    func testModelHeader() {
        let model = ModelProto(graph: GraphProto(name: "g"), producerName: "retort", producerVersion: "0.1")
        // make_model(make_graph([], 'g', [], []), opset_imports=[make_opsetid('', 17)],
        //            producer_name='retort', producer_version='0.1', ir_version=8)
        XCTAssertEqual(hex(model.serialized()), "080812067265746f72741a03302e313a0312016742040a001011")
    }
}
