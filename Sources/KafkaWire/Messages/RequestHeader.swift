import NIOCore

/// Request header v1 (api key, version, correlation id, client id) and v2 (v1 + tagged fields).
public struct RequestHeader: Equatable, Sendable {
    public var apiKey: ApiKey
    public var apiVersion: Int16
    public var correlationId: Int32
    public var clientId: String?
    public var taggedFields: [TaggedField]

    public init(apiKey: ApiKey, apiVersion: Int16, correlationId: Int32, clientId: String?, taggedFields: [TaggedField] = []) {
        self.apiKey = apiKey
        self.apiVersion = apiVersion
        self.correlationId = correlationId
        self.clientId = clientId
        self.taggedFields = taggedFields
    }

    /// Writes the header. The client id stays a classic nullable INT16 string even in v2.
    public func encode(into buffer: inout ByteBuffer, headerVersion: Int16) {
        buffer.writeInteger(apiKey.rawValue)
        buffer.writeInteger(apiVersion)
        buffer.writeInteger(correlationId)
        buffer.writeKafkaNullableString(clientId, flexible: false)
        if headerVersion >= 2 { buffer.writeTaggedFields(taggedFields) }
    }

    public static func decode(from buffer: inout ByteBuffer, headerVersion: Int16) throws -> RequestHeader {
        let key = ApiKey(rawValue: try buffer.readKafkaInt(Int16.self, "api key"))
        let version: Int16 = try buffer.readKafkaInt(Int16.self, "api version")
        let correlation: Int32 = try buffer.readKafkaInt(Int32.self, "correlation id")
        let clientId = try buffer.readKafkaNullableString(flexible: false, "client id")
        let tags = headerVersion >= 2 ? try buffer.readTaggedFields() : []
        return RequestHeader(apiKey: key, apiVersion: version, correlationId: correlation, clientId: clientId, taggedFields: tags)
    }
}

/// Response header v0 (correlation id) and v1 (v0 + tagged fields).
public struct ResponseHeader: Equatable, Sendable {
    public var correlationId: Int32
    public var taggedFields: [TaggedField]

    public init(correlationId: Int32, taggedFields: [TaggedField] = []) {
        self.correlationId = correlationId
        self.taggedFields = taggedFields
    }

    public func encode(into buffer: inout ByteBuffer, headerVersion: Int16) {
        buffer.writeInteger(correlationId)
        if headerVersion >= 1 { buffer.writeTaggedFields(taggedFields) }
    }

    public static func decode(from buffer: inout ByteBuffer, headerVersion: Int16) throws -> ResponseHeader {
        let correlation: Int32 = try buffer.readKafkaInt(Int32.self, "correlation id")
        let tags = headerVersion >= 1 ? try buffer.readTaggedFields() : []
        return ResponseHeader(correlationId: correlation, taggedFields: tags)
    }
}
