import NIOCore

/// SaslHandshake request (key 17), versions 0-1; never flexible.
///
/// Both versions encode the same. v1 means the SASL exchange that follows is carried in
/// SaslAuthenticate requests; after v0 the client would send raw, unframed SASL tokens
/// instead, which Sluice does not do, so it should always send v1. v0 decodes for
/// completeness.
public struct SaslHandshakeRequest: KafkaRequest {
    public typealias Response = SaslHandshakeResponse
    public static let apiKey = ApiKey.saslHandshake
    public static let supportedVersions: ClosedRange<Int16> = 0...1
    public static let firstFlexibleVersion: Int16? = nil

    /// The SASL mechanism chosen, e.g. `"PLAIN"` or `"SCRAM-SHA-512"`.
    public var mechanism: String

    /// Creates a request.
    public init(mechanism: String) {
        self.mechanism = mechanism
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) throws {
        try Self.checkVersion(version)
        try buffer.writeMessageString(mechanism, flexible: false, "mechanism")
    }

    public static func decode(from buffer: inout ByteBuffer, version: Int16) throws -> SaslHandshakeRequest {
        try checkVersion(version)
        return SaslHandshakeRequest(mechanism: try buffer.readKafkaString(flexible: false, "mechanism"))
    }
}

/// SaslHandshake response, versions 0-1.
public struct SaslHandshakeResponse: KafkaResponse {
    /// UNSUPPORTED_SASL_MECHANISM when the broker does not enable the requested mechanism.
    public var errorCode: KafkaErrorCode
    /// The mechanisms the broker enables.
    public var mechanisms: [String]

    /// Creates a response.
    public init(errorCode: KafkaErrorCode = .noError, mechanisms: [String]) {
        self.errorCode = errorCode
        self.mechanisms = mechanisms
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) throws {
        try SaslHandshakeRequest.checkVersion(version)
        buffer.writeInteger(errorCode.rawValue)
        try buffer.writeMessageArray(mechanisms, flexible: false) { buf, m in
            try buf.writeMessageString(m, flexible: false, "mechanism")
        }
    }

    public static func decode(from buffer: inout ByteBuffer, version: Int16) throws -> SaslHandshakeResponse {
        try SaslHandshakeRequest.checkVersion(version)
        return SaslHandshakeResponse(
            errorCode: KafkaErrorCode(try buffer.readKafkaInt(Int16.self, "error code")),
            mechanisms: try buffer.readKafkaArray(flexible: false, "mechanisms") {
                try $0.readKafkaString(flexible: false, "mechanism")
            }
        )
    }
}
