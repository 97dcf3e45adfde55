import NIOCore

/// Produce request (key 0), versions 3-9; version 9 is flexible.
///
/// v3 is the first version carrying record batch v2 (the only format Sluice writes). The
/// records of each partition are opaque here: the record batch encoder produces them and
/// this codec writes the buffer as is.
public struct ProduceRequest: KafkaRequest {
    public typealias Response = ProduceResponse
    public static let apiKey = ApiKey.produce
    public static let supportedVersions: ClosedRange<Int16> = 3...9
    public static let firstFlexibleVersion: Int16? = 9

    /// The records for one partition.
    public struct PartitionData: Sendable, Equatable {
        /// The partition index.
        public var index: Int32
        /// Encoded record batches (their readable bytes), or nil. Writing does not move the
        /// reader index, so the same buffer can be sent again on retry.
        public var records: ByteBuffer?
        /// Tagged fields (v9+), kept raw.
        public var taggedFields: [TaggedField]

        /// Creates a partition entry.
        public init(index: Int32, records: ByteBuffer?, taggedFields: [TaggedField] = []) {
            self.index = index
            self.records = records
            self.taggedFields = taggedFields
        }
    }

    /// The partitions of one topic.
    public struct TopicData: Sendable, Equatable {
        /// The topic name.
        public var name: String
        /// The partitions to produce to.
        public var partitionData: [PartitionData]
        /// Tagged fields (v9+), kept raw.
        public var taggedFields: [TaggedField]

        /// Creates a topic entry.
        public init(name: String, partitionData: [PartitionData], taggedFields: [TaggedField] = []) {
            self.name = name
            self.partitionData = partitionData
            self.taggedFields = taggedFields
        }
    }

    /// The transactional id, nil for a non-transactional (possibly idempotent) producer.
    public var transactionalId: String?
    /// Required acknowledgements: 0 (none: the broker sends **no response**), 1 (leader),
    /// -1 (all in-sync replicas).
    public var acks: Int16
    /// How long the broker may wait for the required acknowledgements.
    public var timeoutMs: Int32
    /// The topics to produce to.
    public var topicData: [TopicData]
    /// Tagged fields (v9+), kept raw.
    public var taggedFields: [TaggedField]

    /// Creates a request.
    public init(
        transactionalId: String? = nil, acks: Int16, timeoutMs: Int32, topicData: [TopicData],
        taggedFields: [TaggedField] = []
    ) {
        self.transactionalId = transactionalId
        self.acks = acks
        self.timeoutMs = timeoutMs
        self.topicData = topicData
        self.taggedFields = taggedFields
    }

    /// False for acks = 0: the broker answers nothing, so no response may be awaited.
    public var expectsResponse: Bool { acks != 0 }

    /// The record batches' bytes plus the names and per-entry fields around them.
    public var encodedSizeHint: Int {
        var size = 128 + (transactionalId?.utf8.count ?? 0)
        for topic in topicData {
            size += 16 + topic.name.utf8.count
            for partition in topic.partitionData { size += 16 + (partition.records?.readableBytes ?? 0) }
        }
        return size
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) throws {
        var none: [Splice]? = nil
        try encode(into: &buffer, version: version, splices: &none)
    }

    /// Where a partition's record batches belong in an encoding that leaves them out:
    /// at `offset` of the buffer written, after their length.
    struct Splice {
        var offset: Int
        var records: ByteBuffer
    }

    /// Encodes the request; with `splices`, every non-null records field is written as its
    /// length only and listed there, to be sent from its own buffer (no copy).
    func encode(into buffer: inout ByteBuffer, version: Int16, splices: inout [Splice]?) throws {
        let flexible = try Self.checkedFlexible(version)
        try buffer.writeMessageNullableString(
            transactionalId, flexible: flexible, nullable: true, version: version, "transactional id")
        buffer.writeInteger(acks)
        buffer.writeInteger(timeoutMs)
        try buffer.writeMessageArray(topicData, flexible: flexible) { buf, topic in
            try buf.writeMessageString(topic.name, flexible: flexible, "topic name")
            buf.writeMessageArray(topic.partitionData, flexible: flexible) { buf, partition in
                buf.writeInteger(partition.index)
                if splices != nil, let records = partition.records {
                    if flexible {
                        buf.writeUnsignedVarint(UInt32(records.readableBytes + 1))
                    } else {
                        buf.writeInteger(Int32(records.readableBytes))
                    }
                    splices!.append(Splice(offset: buf.writerIndex, records: records))
                } else {
                    buf.writeMessageBytes(partition.records, flexible: flexible)
                }
                buf.writeTagSection(partition.taggedFields, flexible: flexible)
            }
            buf.writeTagSection(topic.taggedFields, flexible: flexible)
        }
        buffer.writeTagSection(taggedFields, flexible: flexible)
    }

    /// Decodes a request; each `records` is a slice of `buffer` (no copy).
    public static func decode(from buffer: inout ByteBuffer, version: Int16) throws -> ProduceRequest {
        let flexible = try checkedFlexible(version)
        let transactionalId = try buffer.readKafkaNullableString(flexible: flexible, "transactional id")
        let acks = try buffer.readKafkaInt(Int16.self, "acks")
        let timeout = try buffer.readKafkaInt(Int32.self, "timeout")
        let topics = try buffer.readKafkaArray(flexible: flexible, "topic data") { buf in
            TopicData(
                name: try buf.readKafkaString(flexible: flexible, "topic name"),
                partitionData: try buf.readKafkaArray(flexible: flexible, "partition data") { buf in
                    PartitionData(
                        index: try buf.readKafkaInt(Int32.self, "partition index"),
                        records: try buf.readKafkaNullableBytes(flexible: flexible, "records"),
                        taggedFields: try buf.readTagSection(flexible: flexible)
                    )
                },
                taggedFields: try buf.readTagSection(flexible: flexible)
            )
        }
        return ProduceRequest(
            transactionalId: transactionalId, acks: acks, timeoutMs: timeout, topicData: topics,
            taggedFields: try buffer.readTagSection(flexible: flexible)
        )
    }
}

/// Produce response, versions 3-9; version 9 is flexible.
public struct ProduceResponse: KafkaResponse {
    /// A record that made the broker drop its batch (v8+).
    public struct RecordError: Sendable, Equatable {
        /// Index of the record within its batch.
        public var batchIndex: Int32
        /// Why that record was rejected, if the broker says.
        public var batchIndexErrorMessage: String?
        /// Tagged fields (v9+), kept raw.
        public var taggedFields: [TaggedField]

        /// Creates an entry.
        public init(batchIndex: Int32, batchIndexErrorMessage: String? = nil, taggedFields: [TaggedField] = []) {
            self.batchIndex = batchIndex
            self.batchIndexErrorMessage = batchIndexErrorMessage
            self.taggedFields = taggedFields
        }
    }

    /// The outcome for one partition.
    public struct PartitionResponse: Sendable, Equatable {
        /// The partition index.
        public var index: Int32
        /// The partition error, or `noError`.
        public var errorCode: KafkaErrorCode
        /// Offset of the first record appended (-1 on error).
        public var baseOffset: Int64
        /// The broker's append time with LogAppendTime topics, else -1.
        public var logAppendTimeMs: Int64
        /// The partition's log start offset (v5+; -1 before).
        public var logStartOffset: Int64
        /// Records that caused the batch to be dropped (v8+; empty before).
        public var recordErrors: [RecordError]
        /// A summary of why the batch was dropped (v8+; nil before).
        public var errorMessage: String?
        /// Tagged fields (v9+), kept raw.
        public var taggedFields: [TaggedField]

        /// Creates a partition outcome; defaults as decoded from versions lacking a field.
        public init(
            index: Int32, errorCode: KafkaErrorCode = .noError, baseOffset: Int64, logAppendTimeMs: Int64 = -1,
            logStartOffset: Int64 = -1, recordErrors: [RecordError] = [], errorMessage: String? = nil,
            taggedFields: [TaggedField] = []
        ) {
            self.index = index
            self.errorCode = errorCode
            self.baseOffset = baseOffset
            self.logAppendTimeMs = logAppendTimeMs
            self.logStartOffset = logStartOffset
            self.recordErrors = recordErrors
            self.errorMessage = errorMessage
            self.taggedFields = taggedFields
        }
    }

    /// The outcomes for one topic.
    public struct TopicResponse: Sendable, Equatable {
        /// The topic name.
        public var name: String
        /// The outcome per partition.
        public var partitionResponses: [PartitionResponse]
        /// Tagged fields (v9+), kept raw.
        public var taggedFields: [TaggedField]

        /// Creates a topic entry.
        public init(name: String, partitionResponses: [PartitionResponse], taggedFields: [TaggedField] = []) {
            self.name = name
            self.partitionResponses = partitionResponses
            self.taggedFields = taggedFields
        }
    }

    /// The outcome per topic.
    public var responses: [TopicResponse]
    /// Throttle time (present in every version here).
    public var throttleTimeMs: Int32
    /// Tagged fields (v9+), kept raw.
    public var taggedFields: [TaggedField]

    /// Creates a response.
    public init(responses: [TopicResponse], throttleTimeMs: Int32 = 0, taggedFields: [TaggedField] = []) {
        self.responses = responses
        self.throttleTimeMs = throttleTimeMs
        self.taggedFields = taggedFields
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) throws {
        let flexible = try ProduceRequest.checkedFlexible(version)
        try buffer.writeMessageArray(responses, flexible: flexible) { buf, topic in
            try buf.writeMessageString(topic.name, flexible: flexible, "topic name")
            try buf.writeMessageArray(topic.partitionResponses, flexible: flexible) { buf, p in
                buf.writeInteger(p.index)
                buf.writeInteger(p.errorCode.rawValue)
                buf.writeInteger(p.baseOffset)
                buf.writeInteger(p.logAppendTimeMs)  // v2+, below the lowest version here
                if version >= 5 { buf.writeInteger(p.logStartOffset) }
                if version >= 8 {
                    try buf.writeMessageArray(p.recordErrors, flexible: flexible) { buf, e in
                        buf.writeInteger(e.batchIndex)
                        try buf.writeMessageNullableString(
                            e.batchIndexErrorMessage, flexible: flexible, nullable: true, version: version,
                            "batch index error message")
                        buf.writeTagSection(e.taggedFields, flexible: flexible)
                    }
                    try buf.writeMessageNullableString(
                        p.errorMessage, flexible: flexible, nullable: true, version: version, "error message")
                }
                buf.writeTagSection(p.taggedFields, flexible: flexible)
            }
            buf.writeTagSection(topic.taggedFields, flexible: flexible)
        }
        buffer.writeInteger(throttleTimeMs)  // v1+, below the lowest version here
        buffer.writeTagSection(taggedFields, flexible: flexible)
    }

    public static func decode(from buffer: inout ByteBuffer, version: Int16) throws -> ProduceResponse {
        let flexible = try ProduceRequest.checkedFlexible(version)
        let responses = try buffer.readKafkaArray(flexible: flexible, "responses") { buf in
            TopicResponse(
                name: try buf.readKafkaString(flexible: flexible, "topic name"),
                partitionResponses: try buf.readKafkaArray(flexible: flexible, "partition responses") { buf in
                    var p = PartitionResponse(
                        index: try buf.readKafkaInt(Int32.self, "partition index"),
                        errorCode: KafkaErrorCode(try buf.readKafkaInt(Int16.self, "error code")),
                        baseOffset: try buf.readKafkaInt(Int64.self, "base offset"),
                        logAppendTimeMs: try buf.readKafkaInt(Int64.self, "log append time")
                    )
                    if version >= 5 { p.logStartOffset = try buf.readKafkaInt(Int64.self, "log start offset") }
                    if version >= 8 {
                        p.recordErrors = try buf.readKafkaArray(flexible: flexible, "record errors") { buf in
                            RecordError(
                                batchIndex: try buf.readKafkaInt(Int32.self, "batch index"),
                                batchIndexErrorMessage: try buf.readKafkaNullableString(
                                    flexible: flexible, "batch index error message"),
                                taggedFields: try buf.readTagSection(flexible: flexible)
                            )
                        }
                        p.errorMessage = try buf.readKafkaNullableString(flexible: flexible, "error message")
                    }
                    p.taggedFields = try buf.readTagSection(flexible: flexible)
                    return p
                },
                taggedFields: try buf.readTagSection(flexible: flexible)
            )
        }
        return ProduceResponse(
            responses: responses,
            throttleTimeMs: try buffer.readKafkaInt(Int32.self, "throttle time"),
            taggedFields: try buffer.readTagSection(flexible: flexible)
        )
    }
}
