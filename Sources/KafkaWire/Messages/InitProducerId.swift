import NIOCore

/// InitProducerId request (key 22), versions 0-4; versions 2+ are flexible.
///
/// Gives an idempotent or transactional producer its producer id and epoch, which it then
/// stamps on every record batch together with per-partition sequence numbers.
public struct InitProducerIdRequest: KafkaRequest {
    public typealias Response = InitProducerIdResponse
    public static let apiKey = ApiKey.initProducerId
    public static let supportedVersions: ClosedRange<Int16> = 0...4
    public static let firstFlexibleVersion: Int16? = 2

    /// The transactional id; nil for an idempotent, non-transactional producer (any broker
    /// may then answer, not only a transaction coordinator).
    public var transactionalId: String?
    /// Transaction timeout; only meaningful with a transactional id.
    public var transactionTimeoutMs: Int32
    /// The current producer id when asking to bump the epoch of an existing one (v3+;
    /// -1 for a fresh id).
    public var producerId: Int64
    /// The current epoch that goes with `producerId` (v3+; -1 for a fresh id).
    public var producerEpoch: Int16
    /// Tagged fields (v2+), kept raw.
    public var taggedFields: [TaggedField]

    /// Creates a request; the defaults ask for a fresh producer id.
    public init(
        transactionalId: String? = nil, transactionTimeoutMs: Int32, producerId: Int64 = -1, producerEpoch: Int16 = -1,
        taggedFields: [TaggedField] = []
    ) {
        self.transactionalId = transactionalId
        self.transactionTimeoutMs = transactionTimeoutMs
        self.producerId = producerId
        self.producerEpoch = producerEpoch
        self.taggedFields = taggedFields
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) throws {
        let flexible = try Self.checkedFlexible(version)
        try buffer.writeMessageNullableString(
            transactionalId, flexible: flexible, nullable: true, version: version, "transactional id")
        buffer.writeInteger(transactionTimeoutMs)
        if version >= 3 {
            buffer.writeInteger(producerId)
            buffer.writeInteger(producerEpoch)
        }
        buffer.writeTagSection(taggedFields, flexible: flexible)
    }

    public static func decode(from buffer: inout ByteBuffer, version: Int16) throws -> InitProducerIdRequest {
        let flexible = try checkedFlexible(version)
        var request = InitProducerIdRequest(
            transactionalId: try buffer.readKafkaNullableString(flexible: flexible, "transactional id"),
            transactionTimeoutMs: try buffer.readKafkaInt(Int32.self, "transaction timeout")
        )
        if version >= 3 {
            request.producerId = try buffer.readKafkaInt(Int64.self, "producer id")
            request.producerEpoch = try buffer.readKafkaInt(Int16.self, "producer epoch")
        }
        request.taggedFields = try buffer.readTagSection(flexible: flexible)
        return request
    }
}

/// InitProducerId response, versions 0-4; versions 2+ are flexible.
public struct InitProducerIdResponse: KafkaResponse {
    /// Throttle time.
    public var throttleTimeMs: Int32
    /// The error, or `noError`.
    public var errorCode: KafkaErrorCode
    /// The producer id assigned (-1 on error).
    public var producerId: Int64
    /// The epoch that goes with it.
    public var producerEpoch: Int16
    /// Tagged fields (v2+), kept raw.
    public var taggedFields: [TaggedField]

    /// Creates a response.
    public init(
        throttleTimeMs: Int32 = 0, errorCode: KafkaErrorCode = .noError, producerId: Int64, producerEpoch: Int16,
        taggedFields: [TaggedField] = []
    ) {
        self.throttleTimeMs = throttleTimeMs
        self.errorCode = errorCode
        self.producerId = producerId
        self.producerEpoch = producerEpoch
        self.taggedFields = taggedFields
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) throws {
        let flexible = try InitProducerIdRequest.checkedFlexible(version)
        buffer.writeInteger(throttleTimeMs)
        buffer.writeInteger(errorCode.rawValue)
        buffer.writeInteger(producerId)
        buffer.writeInteger(producerEpoch)
        buffer.writeTagSection(taggedFields, flexible: flexible)
    }

    public static func decode(from buffer: inout ByteBuffer, version: Int16) throws -> InitProducerIdResponse {
        let flexible = try InitProducerIdRequest.checkedFlexible(version)
        return InitProducerIdResponse(
            throttleTimeMs: try buffer.readKafkaInt(Int32.self, "throttle time"),
            errorCode: KafkaErrorCode(try buffer.readKafkaInt(Int16.self, "error code")),
            producerId: try buffer.readKafkaInt(Int64.self, "producer id"),
            producerEpoch: try buffer.readKafkaInt(Int16.self, "producer epoch"),
            taggedFields: try buffer.readTagSection(flexible: flexible)
        )
    }
}
