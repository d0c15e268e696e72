import Foundation

/// The connection file a Jupyter front end writes for a kernel: where to listen, how to sign and,
/// when the front end asks for it, how to encrypt.
public struct ConnectionInfo {
    /// Where the file was read from, for messages about it.
    public let path: String
    public var transport: String
    public var ip: String
    public var shellPort: Int
    public var iopubPort: Int
    public var stdinPort: Int
    public var controlPort: Int
    public var heartbeatPort: Int
    public var key: String
    public var signatureScheme: String
    /// The CurveZMQ key pair, when the front end asked for transport encryption.
    public var curve: CurveKeys?

    /// Reads and checks a connection file.
    public init(path: String) throws {
        self.path = path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw KernelError("cannot read the connection file \(path)")
        }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? JSONObject else {
            throw KernelError("the connection file \(path) is not a JSON object")
        }
        func port(_ name: String) throws -> Int {
            guard let p = object[name] as? Int, (0...65535).contains(p) else {
                throw KernelError("the connection file \(path) has no valid \(name)")
            }
            // Port 0 would bind a port the system picks, which the front end could never find.
            guard p != 0 else { throw KernelError("the connection file \(path) gives \(name) 0; it needs a real port") }
            return p
        }
        transport = object["transport"] as? String ?? "tcp"
        ip = object["ip"] as? String ?? "127.0.0.1"
        shellPort = try port("shell_port")
        iopubPort = try port("iopub_port")
        stdinPort = try port("stdin_port")
        controlPort = try port("control_port")
        heartbeatPort = try port("hb_port")
        key = object["key"] as? String ?? ""
        signatureScheme = object["signature_scheme"] as? String ?? "hmac-sha256"
        guard key.isEmpty || signatureScheme == "hmac-sha256" else {
            throw KernelError("signature scheme \(signatureScheme) is not supported; use hmac-sha256")
        }
        curve = try CurveKeys.read(from: object, path: path)
    }

    func endpoint(_ port: Int) -> String {
        transport == "ipc" ? "ipc://\(ip)-\(port)" : "\(transport)://\(ip):\(port)"
    }
}

/// A kernel failure worth telling the person who started it.
public struct KernelError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
