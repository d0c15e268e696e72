// GraphProto and NodeProto, as onnx.proto defines them: the computation, node by node.

/// A computation graph: nodes in an order where each input is defined before it is used, the
/// constant tensors (initializers) they read, and the typed inputs and outputs.
public struct GraphProto: ProtobufMessage, Equatable {
    public var name: String
    public var node: [NodeProto]
    public var initializer: [TensorProto]
    public var input: [ValueInfoProto]
    public var output: [ValueInfoProto]
    /// Types of intermediate values; optional, since runtimes infer them.
    public var valueInfo: [ValueInfoProto]
    public var docString: String

    public init(
        name: String, node: [NodeProto] = [], initializer: [TensorProto] = [], input: [ValueInfoProto] = [],
        output: [ValueInfoProto] = [], valueInfo: [ValueInfoProto] = [], docString: String = ""
    ) {
        self.name = name
        self.node = node
        self.initializer = initializer
        self.input = input
        self.output = output
        self.valueInfo = valueInfo
        self.docString = docString
    }

    func encode(to writer: inout ProtobufWriter) {
        for node in node { writer.writeMessage(1, node) }
        writer.writeString(2, name)
        for tensor in initializer { writer.writeMessage(5, tensor) }
        if !docString.isEmpty { writer.writeString(10, docString) }
        for value in input { writer.writeMessage(11, value) }
        for value in output { writer.writeMessage(12, value) }
        for value in valueInfo { writer.writeMessage(13, value) }
    }
}

/// One operator applied to named values, producing named values.
public struct NodeProto: ProtobufMessage, Equatable {
    /// Value names by position; `""` stands for an omitted optional input.
    public var input: [String]
    public var output: [String]
    public var name: String
    public var opType: String
    /// The operator set's domain; `""` is the default, `ai.onnx`.
    public var domain: String
    public var attribute: [AttributeProto]
    public var docString: String

    public init(
        opType: String, input: [String], output: [String], name: String = "", domain: String = "",
        attribute: [AttributeProto] = [], docString: String = ""
    ) {
        self.opType = opType
        self.input = input
        self.output = output
        self.name = name
        self.domain = domain
        self.attribute = attribute
        self.docString = docString
    }

    func encode(to writer: inout ProtobufWriter) {
        for name in input { writer.writeString(1, name) }
        for name in output { writer.writeString(2, name) }
        if !name.isEmpty { writer.writeString(3, name) }
        writer.writeString(4, opType)
        for attribute in attribute { writer.writeMessage(5, attribute) }
        if !docString.isEmpty { writer.writeString(6, docString) }
        if !domain.isEmpty { writer.writeString(7, domain) }
    }
}
