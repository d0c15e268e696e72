import Foundation

/// A JSON object as the wire format carries it.
public typealias JSONObject = [String: Any]

/// One Jupyter message: routing identities, the four JSON dictionaries and any binary buffers.
struct Message {
    var identities: [[UInt8]]
    var header: JSONObject
    /// The header as it arrived, sent back verbatim as the parent header of replies and outputs.
    var headerJSON: [UInt8] = []
    /// The parent header's JSON (an empty object when there is none).
    var parentHeaderJSON: [UInt8]
    var metadata: JSONObject
    var content: JSONObject
    var buffers: [[UInt8]] = []
    /// The signature it arrived with (hex), for the replay check.
    var signature: [UInt8] = []

    var type: String { header["msg_type"] as? String ?? "" }
    var id: String { header["msg_id"] as? String ?? "" }
    /// The msg_id of the parent header, or nil when the parent header names none.
    var parentID: String? {
        let parent = try? JSONSerialization.jsonObject(with: Data(parentHeaderJSON)) as? JSONObject
        guard let id = parent?["msg_id"] as? String, !id.isEmpty else { return nil }
        return id
    }

    static let delimiter = Array("<IDS|MSG>".utf8)

    /// Why an incoming message was dropped.
    enum Rejection: Error, CustomStringConvertible {
        case noDelimiter, tooShort, badSignature, replayed, badJSON(String)

        var description: String {
            switch self {
            case .noDelimiter: return "no <IDS|MSG> delimiter"
            case .tooShort: return "fewer than the five frames after the delimiter"
            case .badSignature: return "bad or missing signature"
            case .replayed: return "a replay: its signature was seen before"
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
        signature = frames[split + 1]
        header = try object(parts[0], "header")
        headerJSON = parts[0]
        parentHeaderJSON = parts[1]
        metadata = try object(parts[2], "metadata")
        content = try object(parts[3], "content")
        buffers = Array(frames[(split + 6)...])
    }

    init(identities: [[UInt8]], header: JSONObject, parentHeader: [UInt8], metadata: JSONObject = [:], content: JSONObject) {
        self.identities = identities
        self.header = header
        self.parentHeaderJSON = parentHeader
        self.metadata = metadata
        self.content = content
    }

    /// The frames to send: identities, delimiter, signature, the four JSON parts, buffers.
    func frames(signer: Signer) -> [[UInt8]] {
        let parts = [JSONWriter.write(header), parentHeaderJSON, JSONWriter.write(metadata), JSONWriter.write(content)]
        return identities + [Self.delimiter, Array(signer.signature(parts).utf8)] + parts + buffers
    }

    static let noParent = Array("{}".utf8)

    /// A fresh header for a message of `type` in `session`.
    static func header(type: String, session: String) -> JSONObject {
        [
            "msg_id": MessageID.next(session), "session": session, "username": "retort", "date": timestamp(),
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
        var out: [UInt8] = []
        out.reserveCapacity(27)
        func digits(_ value: Int, _ count: Int) {
            var divisor = 1
            for _ in 1..<count { divisor *= 10 }
            while divisor > 0 {
                out.append(UInt8(ascii: "0") + UInt8(value / divisor % 10))
                divisor /= 10
            }
        }
        digits(Int(parts.tm_year) + 1900, 4); out.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mon) + 1, 2); out.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mday), 2); out.append(UInt8(ascii: "T"))
        digits(Int(parts.tm_hour), 2); out.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_min), 2); out.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_sec), 2); out.append(UInt8(ascii: "."))
        digits(Int(now.tv_usec), 6); out.append(UInt8(ascii: "Z"))
        return String(decoding: out, as: UTF8.self)
    }
}

/// Message ids: the session's random id and a counter, as jupyter_client makes them. (A UUID per
/// message read /dev/urandom each time, a system call on every reply.)
enum MessageID {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var count = 0

    static func next(_ session: String) -> String {
        lock.lock()
        count += 1
        let n = count
        lock.unlock()
        return "\(session)_\(n)"
    }
}
