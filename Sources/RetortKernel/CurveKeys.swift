/// The CurveZMQ key pair a Jupyter manager puts in the connection file when it asks for transport
/// encryption (jupyter_client 8.9+, `KernelManager(transport_encryption="auto" | "required")`).
/// The kernel serves every socket as a CURVE server with it; clients take `curve_publickey` as
/// their server key, so only a client that read the connection file can complete the handshake.
public struct CurveKeys: Sendable {
    /// The server's public key as Z85 text (40 characters), exactly as the connection file has it.
    public let publicKey: String
    /// The server's secret key as Z85 text. Never logged, never sent back.
    let secretKey: String

    /// ZeroMQ's base-85 alphabet (RFC 32); 40 of its characters encode a 32-byte key.
    private static let z85Alphabet = Set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#")
    static let z85Length = 40

    /// The keys of a parsed connection file: nil when it has neither `curve_publickey` nor
    /// `curve_secretkey` (no encryption asked for); an error when it has one alone or either is not
    /// a Z85 key. A key's value never appears in an error: the secret one is a credential.
    static func read(from object: JSONObject, path: String) throws -> CurveKeys? {
        let publicValue = object["curve_publickey"]
        let secretValue = object["curve_secretkey"]
        switch (publicValue, secretValue) {
        case (nil, nil):
            return nil
        case (nil, _):
            throw KernelError("the connection file \(path) has curve_secretkey but no curve_publickey; CurveZMQ needs both")
        case (_, nil):
            throw KernelError("the connection file \(path) has curve_publickey but no curve_secretkey; CurveZMQ needs both")
        default:
            return CurveKeys(
                publicKey: try z85Key(publicValue, named: "curve_publickey", path: path),
                secretKey: try z85Key(secretValue, named: "curve_secretkey", path: path))
        }
    }

    private static func z85Key(_ value: Any?, named name: String, path: String) throws -> String {
        guard let text = value as? String, text.count == z85Length, text.allSatisfy(z85Alphabet.contains) else {
            throw KernelError(
                "the connection file \(path) has a \(name) that is not a CurveZMQ key"
                    + " (\(z85Length) characters of ZeroMQ's Z85 alphabet)")
        }
        return text
    }
}
