import Foundation

/// A JSON object as the wire format carries it.
public typealias JSONObject = [String: Any]

/// One Jupyter message: routing identities, the four JSON dictionaries and any binary buffers.
struct Message {
    var identities: [[UInt8]]
    var header: JSONObject
    var parentHeader: JSONObject
    var metadata: JSONObject
    var content: JSONObject
    var buffers: [[UInt8]] = []

    var type: String { header["msg_type"] as? String ?? "" }
    var id: String { header["msg_id"] as? String ?? "" }

    static let delimiter = Array("<IDS|MSG>".utf8)

    /// Why an incoming message was dropped.
    enum Rejection: Error, CustomStringConvertible {
        case noDelimiter, tooShort, badSignature, badJSON(String)

        var description: String {
            switch self {
            case .noDelimiter: return "no <IDS|MSG> delimiter"
            case .tooShort: return "fewer than the five frames after the delimiter"
            case .badSignature: return "bad or missing signature"
            case .badJSON(let part): return "the \(part) is not a JSON object"
            }
        }
    }

    /// Parses the frames of a message, checking its signature before reading any JSON.
    init(frames: [[UInt8]], signer: Signer) throws {
        guard let split = frames.firstIndex(of: Self.delimiter) else { throw Rejection.noDelimiter }
        guard frames.count >= split + 6 else { throw Rejection.tooShort }
        let parts = Array(frames[(split + 2)...(split + 5)])
        guard signer.verify(frames[split + 1], parts) else { throw Rejection.badSignature }
        func object(_ bytes: [UInt8], _ name: String) throws -> JSONObject {
            guard let value = try? JSONSerialization.jsonObject(with: Data(bytes)) as? JSONObject else {
                throw Rejection.badJSON(name)
            }
            return value
        }
        identities = Array(frames[..<split])
        header = try object(parts[0], "header")
        parentHeader = try object(parts[1], "parent header")
        metadata = try object(parts[2], "metadata")
        content = try object(parts[3], "content")
        buffers = Array(frames[(split + 6)...])
    }

    init(identities: [[UInt8]], header: JSONObject, parentHeader: JSONObject, metadata: JSONObject = [:], content: JSONObject) {
        self.identities = identities
        self.header = header
        self.parentHeader = parentHeader
        self.metadata = metadata
        self.content = content
    }

    /// The frames to send: identities, delimiter, signature, the four JSON parts, buffers.
    func frames(signer: Signer) throws -> [[UInt8]] {
        let parts = try [header, parentHeader, metadata, content].map { try Self.json($0) }
        return identities + [Self.delimiter, Array(signer.signature(parts).utf8)] + parts + buffers
    }

    static func json(_ object: JSONObject) throws -> [UInt8] {
        Array(try JSONSerialization.data(withJSONObject: object, options: []))
    }

    /// A fresh header for a message of `type` in `session`.
    static func header(type: String, session: String) -> JSONObject {
        [
            "msg_id": UUID().uuidString.lowercased(), "session": session, "username": "retort", "date": timestamp(),
            "msg_type": type, "version": Kernel.protocolVersion,
        ]
    }

    /// Now in ISO 8601 with microseconds, in UTC.
    static func timestamp() -> String {
        var now = timeval()
        gettimeofday(&now, nil)
        var time = now.tv_sec
        var parts = tm()
        gmtime_r(&time, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday, parts.tm_hour,
            parts.tm_min, parts.tm_sec, Int32(now.tv_usec))
    }
}
