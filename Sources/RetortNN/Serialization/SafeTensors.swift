import Foundation
import RetortTensor

/// The safetensors format, as Hugging Face's `safetensors` library reads and writes it.
///
/// A file is an 8-byte little-endian header length `N`, `N` bytes of JSON mapping each tensor's
/// name to its dtype, shape and `data_offsets` (begin and end, counted from the end of the
/// header), an optional `__metadata__` map of strings, then the tensors' bytes back to back.
/// Retort writes float32 and reads every common numeric dtype, converting it to Float.
public enum SafeTensors {
    /// The element types Retort reads; the raw values are the dtype names in the header.
    enum DType: String {
        case F64, F32, F16, BF16, I64, I32, I16, I8, U64, U32, U16, U8, BOOL

        var scalar: StoredScalar {
            switch self {
            case .F64: return .float64
            case .F32: return .float32
            case .F16: return .float16
            case .BF16: return .bfloat16
            case .I64: return .int64
            case .I32: return .int32
            case .I16: return .int16
            case .I8: return .int8
            case .U64: return .uint64
            case .U32: return .uint32
            case .U16: return .uint16
            case .U8: return .uint8
            case .BOOL: return .bool
            }
        }
    }

    /// The reference reader refuses headers larger than this; so does Retort.
    static let maximumHeaderLength = 100_000_000

    /// How deep the header's arrays and objects may nest. A header nests three deep (the object, a
    /// tensor's entry, its shape); Foundation's parser stops at 512 on its own but says only "not valid
    /// JSON", so the depth is checked first, and named.
    static let maximumHeaderDepth = 64

    /// The byte offset in JSON text where `[` and `{` first nest deeper than `limit`, outside strings;
    /// nil when they never do.
    static func offsetPastDepth(_ json: Data, limit: Int) -> Int? {
        json.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) -> Int? in
            var depth = 0
            var inString = false
            var escaped = false
            for (offset, byte) in bytes.enumerated() {
                if inString {
                    if escaped {
                        escaped = false
                    } else if byte == UInt8(ascii: "\\") {
                        escaped = true
                    } else if byte == UInt8(ascii: "\"") {
                        inString = false
                    }
                    continue
                }
                switch byte {
                case UInt8(ascii: "\""): inString = true
                case UInt8(ascii: "["), UInt8(ascii: "{"):
                    depth += 1
                    if depth > limit { return offset }
                case UInt8(ascii: "]"), UInt8(ascii: "}"): depth -= 1
                default: break
                }
            }
            return nil
        }
    }

    // MARK: - Writing

    /// One tensor to write: float32 values, or whole numbers stored as int64 (`num_batches_tracked`).
    struct Entry {
        let name: String
        let dtype: DType
        let shape: [Int]
        let bytes: [UInt8]

        init(name: String, float32 tensor: Tensor) {
            self.name = name
            dtype = .F32
            shape = tensor.shape
            var bytes: [UInt8] = []
            bytes.reserveCapacity(4 * tensor.count)
            tensor.withUnsafeBufferPointer { values in
                for value in values {
                    withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
                }
            }
            self.bytes = bytes
        }

        init(name: String, int8 tensor: Tensor) {
            self.name = name
            dtype = .I8
            shape = tensor.shape
            bytes = tensor.scalars.map { UInt8(bitPattern: Int8(Swift.min(Swift.max($0, -128), 127))) }
        }

        init(name: String, int64 value: Int64) {
            self.init(name: name, shape: [], int64s: [value])
        }

        init(name: String, shape: [Int], int64s values: [Int64]) {
            self.name = name
            dtype = .I64
            self.shape = shape
            var bytes: [UInt8] = []
            bytes.reserveCapacity(8 * values.count)
            for value in values { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
            self.bytes = bytes
        }
    }

    /// Writes tensors as float32 with optional string metadata, atomically (a temporary file in
    /// the same directory, then renamed over `path`).
    ///
    /// The layout is the reference writer's: compact JSON padded with spaces to a multiple of
    /// 8 bytes, `__metadata__` first, tensors sorted by name, data in the same order, no gaps.
    public static func write(
        _ tensors: [(name: String, tensor: Tensor)], metadata: [String: String]? = nil, to path: String
    ) throws {
        try write(entries: tensors.map { Entry(name: $0.name, float32: $0.tensor) }, metadata: metadata, to: path)
    }

    /// Writes float32 tensors and int64 arrays (indices, such as an exported run's batch orders),
    /// atomically; each array's values fill its shape in row-major order.
    public static func write(
        _ tensors: [(name: String, tensor: Tensor)], integers: [(name: String, shape: [Int], values: [Int64])],
        metadata: [String: String]? = nil, to path: String
    ) throws {
        for array in integers where array.shape.reduce(1, *) != array.values.count {
            throw TensorError(
                .file, "safetensors",
                "cannot write '\(path)': \(array.name) has \(array.values.count) values for shape \(formatShape(array.shape))")
        }
        try write(
            entries: tensors.map { Entry(name: $0.name, float32: $0.tensor) }
                + integers.map { Entry(name: $0.name, shape: $0.shape, int64s: $0.values) }, metadata: metadata, to: path)
    }

    static func write(entries: [Entry], metadata: [String: String]?, to path: String) throws {
        try writeFileAtomically(Data(try encode(entries: entries, metadata: metadata, path: path)), to: path, op: "safetensors")
    }

    /// The bytes of a safetensors file holding `entries`; `path` names the file in errors.
    static func encode(entries: [Entry], metadata: [String: String]?, path: String) throws -> [UInt8] {
        var seen = Set<String>()
        for entry in entries {
            guard entry.name != "__metadata__" else {
                throw TensorError(
                    .argument, "safetensors", "cannot write '\(path)': '__metadata__' is reserved and cannot name a tensor")
            }
            guard seen.insert(entry.name).inserted else {
                throw TensorError(.argument, "safetensors", "cannot write '\(path)': the name '\(entry.name)' is used twice")
            }
        }
        // The reference writer orders by dtype (wider first: I64 before F32), then by name's bytes.
        let ordered = entries.sorted { a, b in
            let (ra, rb) = (writeRank(a.dtype), writeRank(b.dtype))
            return ra != rb ? ra < rb : Array(a.name.utf8).lexicographicallyPrecedes(Array(b.name.utf8))
        }
        var members: [String] = []
        if let metadata {
            let pairs = metadata.sorted { Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8)) }
            members.append(
                jsonString("__metadata__") + ":{"
                    + pairs.map { jsonString($0.key) + ":" + jsonString($0.value) }.joined(separator: ",") + "}")
        }
        var offset = 0
        for entry in ordered {
            let shape = entry.shape.map(String.init).joined(separator: ",")
            members.append(
                jsonString(entry.name) + ":{\"dtype\":\"\(entry.dtype.rawValue)\",\"shape\":[\(shape)],"
                    + "\"data_offsets\":[\(offset),\(offset + entry.bytes.count)]}")
            offset += entry.bytes.count
        }
        var header = Array(("{" + members.joined(separator: ",") + "}").utf8)
        // Padding puts the data on an 8-byte boundary, as the reference writer does.
        header += [UInt8](repeating: UInt8(ascii: " "), count: (8 - header.count % 8) % 8)
        var file: [UInt8] = []
        file.reserveCapacity(8 + header.count + offset)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { file.append(contentsOf: $0) }
        file += header
        for entry in ordered { file += entry.bytes }
        return file
    }

    /// Where a dtype goes in the reference writer's order (only the dtypes Retort writes).
    private static func writeRank(_ dtype: DType) -> Int { dtype == .I64 ? 0 : dtype == .F32 ? 1 : 2 }

    /// A JSON string literal, escaped as serde_json escapes it (non-ASCII characters kept as UTF-8).
    static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case _ where scalar.value < 0x20:
                let digits = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - digits.count) + digits
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    // MARK: - Reading

    /// Reads every tensor of a safetensors file, converted to Float, in the order of their data,
    /// with the file's `__metadata__` (nil when it has none).
    public static func read(path: String) throws -> (tensors: [(name: String, tensor: Tensor)], metadata: [String: String]?) {
        let data = try readDataFile(path, op: "safetensors", inflate: false)
        func failure(_ why: String) -> TensorError { TensorError(.file, "safetensors", "\(path): \(why)") }
        guard data.count >= 8 else {
            throw failure("\(data.count) bytes, too short for the 8-byte header length a safetensors file starts with")
        }
        let declared = data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard declared <= UInt64(data.count - 8) else {
            throw failure(
                "the header length \(declared) runs past the end of the \(data.count)-byte file "
                    + "(the file is truncated, or not safetensors)")
        }
        let headerLength = Int(declared)
        guard headerLength <= maximumHeaderLength else {
            throw failure("the header length \(headerLength) is over the limit of \(maximumHeaderLength) bytes")
        }
        let headerData = data.subdata(in: 8..<(8 + headerLength))
        guard String(data: headerData, encoding: .utf8) != nil else { throw failure("the header is not UTF-8 text") }
        if let offset = offsetPastDepth(headerData, limit: maximumHeaderDepth) {
            throw failure("the header's JSON nests more than \(maximumHeaderDepth) deep (at byte \(offset + 8) of the file)")
        }
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: headerData)
        } catch {
            throw failure("the header is not valid JSON")
        }
        guard let object = json as? [String: Any] else { throw failure("the header is not a JSON object") }

        var metadata: [String: String]? = nil
        var layouts: [(name: String, dtype: DType, shape: [Int], begin: Int, end: Int)] = []
        for (name, value) in object {
            if name == "__metadata__" {
                guard let map = value as? [String: Any] else { throw failure("__metadata__ is not a JSON object") }
                var strings: [String: String] = [:]
                for (key, item) in map {
                    guard let text = item as? String else {
                        throw failure("__metadata__ value for '\(key)' is not a string")
                    }
                    strings[key] = text
                }
                metadata = strings
                continue
            }
            func bad(_ why: String) -> TensorError { failure("tensor '\(name)': \(why)") }
            guard let fields = value as? [String: Any] else { throw bad("its entry is not a JSON object") }
            guard let dtypeName = fields["dtype"] as? String else { throw bad("'dtype' is missing or not a string") }
            guard let dtype = DType(rawValue: dtypeName) else {
                throw bad(
                    "dtype \(dtypeName) is not supported (F64, F32, F16, BF16, I64, I32, I16, I8, U64, U32, U16, U8 "
                        + "and BOOL are)")
            }
            guard let sizes = fields["shape"] as? [Any] else { throw bad("'shape' is missing or not a list") }
            let shape = sizes.compactMap(integer)
            guard shape.count == sizes.count, shape.allSatisfy({ $0 >= 0 }) else {
                throw bad("'shape' must hold whole numbers ≥ 0")
            }
            guard let offsets = fields["data_offsets"] as? [Any], offsets.count == 2,
                let begin = integer(offsets[0]), let end = integer(offsets[1]), begin >= 0, begin <= end
            else {
                throw bad("'data_offsets' must be two whole numbers [begin, end] with 0 ≤ begin ≤ end")
            }
            guard let count = elementCount(shape),
                count.multipliedReportingOverflow(by: dtype.scalar.byteCount).overflow == false,
                count * dtype.scalar.byteCount == end - begin
            else {
                throw bad(
                    "shape \(formatShape(shape)) of \(dtypeName) does not fill data_offsets [\(begin), \(end)], "
                        + "which span \(end - begin) bytes")
            }
            layouts.append((name, dtype, shape, begin, end))
        }

        // The tensors must tile the data buffer exactly: no gaps, no overlaps, nothing left over.
        layouts.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        let dataStart = 8 + headerLength
        let bufferLength = data.count - dataStart
        var position = 0
        for layout in layouts {
            guard layout.begin == position else {
                throw failure(
                    "tensor '\(layout.name)' starts at byte \(layout.begin) of the data, but the tensors before it end at "
                        + "\(position) (data_offsets must leave no gaps or overlaps)")
            }
            guard layout.end <= bufferLength else {
                throw failure(
                    "tensor '\(layout.name)' ends at byte \(layout.end) of the data, but the file holds only "
                        + "\(bufferLength) data bytes (the file is truncated)")
            }
            position = layout.end
        }
        guard position == bufferLength else {
            throw failure("\(bufferLength - position) bytes after the last tensor belong to no tensor")
        }
        let tensors = data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
            layouts.map { layout in
                (
                    name: layout.name,
                    tensor: layout.dtype.scalar.decode(
                        UnsafeRawBufferPointer(rebasing: bytes[(dataStart + layout.begin)..<(dataStart + layout.end)]),
                        shape: layout.shape, count: elementCount(layout.shape) ?? 0, bigEndian: false)
                )
            }
        }
        return (tensors, metadata)
    }

    /// A JSON number that is a whole number, as an Int.
    private static func integer(_ value: Any) -> Int? {
        // No `is Bool` test: on Linux every NSNumber 0 or 1 passes it.
        if let int = value as? Int { return int }
        guard let number = value as? NSNumber else { return nil }
        let double = number.doubleValue
        guard double == double.rounded(), Swift.abs(double) < 9.0e15 else { return nil }
        return Int(double)
    }

    // MARK: - Models

    /// Saves a model's parameters and buffers under PyTorch's `state_dict` names (`0.weight`,
    /// `1.running_mean`), so `model.load_state_dict(safetensors.torch.load_file(path))` accepts it.
    ///
    /// Each BatchNorm's `num_batches_tracked` is written as int64 with its true count, as PyTorch does.
    /// `extra` tensors are written beside the model's (a checkpoint's optimizer state).
    public static func save(
        _ model: Layer, to path: String, metadata: [String: String]? = nil, extra: [(name: String, tensor: Tensor)] = []
    ) throws {
        do {
            try write(entries: entries(of: model, extra: extra), metadata: metadata, to: path)
        } catch let error as TensorError {
            throw TensorError(error.kind, "save", error.message)
        }
    }

    /// The size in bytes of the file `save` would write for `model`, header included.
    public static func savedSize(_ model: Layer, metadata: [String: String]? = nil) throws -> Int {
        try encode(entries: entries(of: model, extra: []), metadata: metadata, path: "(size)").count
    }

    private static func entries(of model: Layer, extra: [(name: String, tensor: Tensor)]) -> [Entry] {
        var entries = model.namedParameters.map { Entry(name: $0.name, float32: $0.variable.value) }
        entries += extra.map { Entry(name: $0.name, float32: $0.tensor) }
        for (name, tensor) in model.namedBuffers { entries.append(Entry(name: name, float32: tensor)) }
        for (name, tensor) in model.namedInt8Buffers { entries.append(Entry(name: name, int8: tensor)) }
        for (name, count) in model.namedCounts { entries.append(Entry(name: name, int64: Int64(count))) }
        return entries
    }

    /// Loads parameters and buffers saved under PyTorch's `state_dict` names into `model`.
    ///
    /// Every name the model has must be in the file with the same shape, and the file must hold
    /// nothing else (`num_batches_tracked` counts aside); otherwise the error lists every missing,
    /// unexpected and misshapen tensor and the model is left as it was. Returns the file's metadata.
    ///
    /// `rename` maps each name in the file to the model's name for it (nil leaves that tensor out),
    /// so a file from another codebase (`fc1.weight`) loads into a Retort model (`0.weight`).
    @discardableResult
    public static func load(
        from path: String, into model: Layer, rename: (String) throws -> String? = { $0 }
    ) throws -> [String: String]? {
        let original = try read(path: path)
        var tensors: [(name: String, tensor: Tensor)] = []
        var origin: [String: String] = [:]
        for (name, tensor) in original.tensors {
            guard let renamed = try rename(name) else { continue }
            if let earlier = origin[renamed] {
                throw TensorError(.argument, "load", "'\(earlier)' and '\(name)' in \(path) both map to '\(renamed)'")
            }
            origin[renamed] = name
            tensors.append((renamed, tensor))
        }
        let file = (tensors: tensors, metadata: original.metadata)
        var stored: [String: Tensor] = [:]
        for (name, tensor) in file.tensors where statePrefix(name, ending: "num_batches_tracked") == nil {
            stored[name] = tensor
        }
        let parameters = model.namedParameters
        let buffers = model.namedBuffers + model.namedInt8Buffers
        let expected = parameters.map { ($0.name, $0.variable.shape) } + buffers.map { ($0.name, $0.tensor.shape) }

        // A head tied to an embedding (nanoGPT's lm_head, tied to wte) owns no weight, but
        // nanoGPT's own checkpoints hold it under its name too: the same values are the same
        // weight, and are taken as such; other values are a head this model cannot hold.
        var untied: [String] = []
        for (name, layer) in model.namedModules {
            guard let head = layer as? TiedHead else { continue }
            let alias = name.isEmpty ? "weight" : name + ".weight"
            guard let copy = stored[alias],
                let source = parameters.first(where: { $0.variable === head.embedding.weight })?.name
            else { continue }
            stored[alias] = nil
            if stored[source] != copy {
                untied.append(
                    "\(alias) in \(path) is not \(source): the model's \(name) is tied to \(source) (as nanoGPT ties "
                        + "lm_head to wte), so a head of its own cannot load into it")
            }
        }
        var missing: [String] = []
        var misshapen: [String] = []
        for (name, shape) in expected {
            guard let tensor = stored[name] else {
                missing.append(name)
                continue
            }
            if tensor.shape != shape {
                misshapen.append(
                    "\(name) has shape \(formatShape(tensor.shape)) in \(path), the model expects \(formatShape(shape))")
            }
        }
        let known = Set(expected.map(\.0))
        let unexpected = file.tensors.map(\.name).filter { stored[$0] != nil && !known.contains($0) }
        var problems = misshapen + untied
        if !missing.isEmpty { problems.append("\(path) lacks \(listed(missing)), which the model expects") }
        if !unexpected.isEmpty { problems.append("\(path) holds \(listed(unexpected)), which the model does not have") }
        // A misshapen tensor makes it a shape error; names alone that disagree, an argument error.
        guard problems.isEmpty else {
            throw TensorError(misshapen.isEmpty ? .argument : .shape, "load", problems.joined(separator: "; "))
        }

        // A pruned weight keeps its mask, and the next optimizer step zeros whatever the mask holds
        // at zero: a file with values there (dense weights) would lose them silently, so it is refused.
        var unmasked: [String] = []
        for (name, variable) in parameters {
            guard let mask = variable.mask, let tensor = stored[name] else { continue }
            let count = zip(mask.scalars, tensor.scalars).reduce(0) { $0 + ($1.0 == 0 && $1.1 != 0 ? 1 : 0) }
            if count > 0 { unmasked.append("\(name) (\(count) non-zero values where it is pruned)") }
        }
        guard unmasked.isEmpty else {
            throw TensorError(
                .argument, "load",
                "the model is pruned, and \(path) holds values where its masks hold zeros: \(listed(unmasked)); "
                    + "training would zero them. Load into a model that is not pruned, then prune it")
        }
        // Buffers go through the layers' setters, which may refuse; undo them all if one does.
        do {
            for (name, _) in buffers {
                if let tensor = stored[name] { try model.setBuffer(name, tensor) }
            }
        } catch {
            for (name, tensor) in buffers { try? model.setBuffer(name, tensor) }
            throw error
        }
        for (name, variable) in parameters {
            if let tensor = stored[name] { variable.update { $0 = tensor } }
        }
        // Counts are optional (files from elsewhere may lack them); a present one is restored.
        for (name, tensor) in file.tensors where statePrefix(name, ending: "num_batches_tracked") != nil {
            if let count = tensor.scalars.first, count >= 0, count < 1e15 { model.setCount(name, Int(count)) }
        }
        return file.metadata
    }

    /// `1.` for `1.running_mean` when `ending` is `running_mean` (the empty prefix for a bare name), else nil.
    private static func statePrefix(_ name: String, ending: String) -> String? {
        guard name == ending || name.hasSuffix("." + ending) else { return nil }
        return String(name.dropLast(ending.count))
    }

    /// Names for an error: all of a few, or the first several and how many more.
    private static func listed(_ names: [String]) -> String {
        let shown = names.prefix(8).joined(separator: ", ")
        return names.count > 8 ? "\(shown) and \(names.count - 8) more" : shown
    }
}
