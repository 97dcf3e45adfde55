import NIOCore

/// SaslAuthenticate request (key 36), versions 0-2; version 2 is flexible.
///
/// Carries one SASL token of the mechanism chosen with SaslHandshake v1.
public struct SaslAuthenticateRequest: KafkaRequest {
    public typealias Response = SaslAuthenticateResponse
    public static let apiKey = ApiKey.saslAuthenticate
    public static let supportedVersions: ClosedRange<Int16> = 0...2
    public static let firstFlexibleVersion: Int16? = 2

    /// The client's SASL token (its readable bytes).
    public var authBytes: ByteBuffer
    /// Tagged fields (v2+), kept raw.
    public var taggedFields: [TaggedField]

    /// Creates a request.
    public init(authBytes: ByteBuffer, taggedFields: [TaggedField] = []) {
        self.authBytes = authBytes
        self.taggedFields = taggedFields
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) throws {
        let flexible = try Self.checkedFlexible(version)
        buffer.writeMessageBytes(authBytes, flexible: flexible)
        buffer.writeTagSection(taggedFields, flexible: flexible)
    }

    public static func decode(from buffer: inout ByteBuffer, version: Int16) throws -> SaslAuthenticateRequest {
        let flexible = try checkedFlexible(version)
        return SaslAuthenticateRequest(
            authBytes: try buffer.readKafkaBytes(flexible: flexible, "auth bytes"),
            taggedFields: try buffer.readTagSection(flexible: flexible)
        )
    }
}

/// SaslAuthenticate response, versions 0-2; version 2 is flexible.
public struct SaslAuthenticateResponse: KafkaResponse {
    /// SASL_AUTHENTICATION_FAILED (with `errorMessage`) when the credentials are refused.
    public var errorCode: KafkaErrorCode
    /// A reason for the error, if any.
    public var errorMessage: String?
    /// The server's SASL token.
    public var authBytes: ByteBuffer
    /// How long the session lasts before the client must re-authenticate; 0 means no limit
    /// (v1+; 0 before).
    public var sessionLifetimeMs: Int64
    /// Tagged fields (v2+), kept raw.
    public var taggedFields: [TaggedField]

    /// Creates a response; the defaults are what versions lacking a field decode to.
    public init(
        errorCode: KafkaErrorCode = .noError, errorMessage: String? = nil, authBytes: ByteBuffer,
        sessionLifetimeMs: Int64 = 0, taggedFields: [TaggedField] = []
    ) {
        self.errorCode = errorCode
        self.errorMessage = errorMessage
        self.authBytes = authBytes
        self.sessionLifetimeMs = sessionLifetimeMs
        self.taggedFields = taggedFields
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) throws {
        let flexible = try SaslAuthenticateRequest.checkedFlexible(version)
        buffer.writeInteger(errorCode.rawValue)
        try buffer.writeMessageNullableString(errorMessage, flexible: flexible, nullable: true, version: version, "error message")
        buffer.writeMessageBytes(authBytes, flexible: flexible)
        if version >= 1 { buffer.writeInteger(sessionLifetimeMs) }
        buffer.writeTagSection(taggedFields, flexible: flexible)
    }

    public static func decode(from buffer: inout ByteBuffer, version: Int16) throws -> SaslAuthenticateResponse {
        let flexible = try SaslAuthenticateRequest.checkedFlexible(version)
        var response = SaslAuthenticateResponse(
            errorCode: KafkaErrorCode(try buffer.readKafkaInt(Int16.self, "error code")),
            errorMessage: try buffer.readKafkaNullableString(flexible: flexible, "error message"),
            authBytes: try buffer.readKafkaBytes(flexible: flexible, "auth bytes")
        )
        if version >= 1 { response.sessionLifetimeMs = try buffer.readKafkaInt(Int64.self, "session lifetime") }
        response.taggedFields = try buffer.readTagSection(flexible: flexible)
        return response
    }
}
