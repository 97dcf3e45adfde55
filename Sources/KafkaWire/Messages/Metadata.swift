import NIOCore

/// Metadata request (key 3), versions 1-12; versions 9+ are flexible.
///
/// Version 0 is left out on purpose: there an empty topic list means "all topics", while
/// from v1 on that is a null list and an empty one means "none".
public struct MetadataRequest: KafkaRequest {
    public typealias Response = MetadataResponse
    public static let apiKey = ApiKey.metadata
    public static let supportedVersions: ClosedRange<Int16> = 1...12
    public static let firstFlexibleVersion: Int16? = 9

    /// One topic to describe.
    public struct Topic: Sendable, Equatable {
        /// The topic id (v10+; dropped before). Brokers only look topics up by id from v12;
        /// v10 and v11 requests should leave it zero and name the topic.
        public var topicId: KafkaUUID
        /// The topic name; may be nil only from v10 on (to ask by id).
        public var name: String?
        /// Tagged fields (v9+), kept raw.
        public var taggedFields: [TaggedField]

        /// Creates a topic entry.
        public init(topicId: KafkaUUID = .zero, name: String?, taggedFields: [TaggedField] = []) {
            self.topicId = topicId
            self.name = name
            self.taggedFields = taggedFields
        }
    }

    /// The topics to describe; nil asks for all topics, an empty list for none (brokers only).
    public var topics: [Topic]?
    /// Whether the broker may auto-create missing topics, if configured to (v4+; earlier
    /// versions behave as true and do not carry the field).
    public var allowAutoTopicCreation: Bool
    /// Whether to return the cluster's authorized operations (v8-v10 only).
    public var includeClusterAuthorizedOperations: Bool
    /// Whether to return each topic's authorized operations (v8+).
    public var includeTopicAuthorizedOperations: Bool
    /// Tagged fields (v9+), kept raw.
    public var taggedFields: [TaggedField]

    /// Creates a request; the defaults are what versions lacking a field decode to.
    public init(
        topics: [Topic]?,
        allowAutoTopicCreation: Bool = true,
        includeClusterAuthorizedOperations: Bool = false,
        includeTopicAuthorizedOperations: Bool = false,
        taggedFields: [TaggedField] = []
    ) {
        self.topics = topics
        self.allowAutoTopicCreation = allowAutoTopicCreation
        self.includeClusterAuthorizedOperations = includeClusterAuthorizedOperations
        self.includeTopicAuthorizedOperations = includeTopicAuthorizedOperations
        self.taggedFields = taggedFields
    }

    /// A request for the named topics, or for all topics when `topicNames` is nil.
    public init(topicNames: [String]?, allowAutoTopicCreation: Bool = true) {
        self.init(topics: topicNames.map { $0.map { Topic(name: $0) } }, allowAutoTopicCreation: allowAutoTopicCreation)
    }

    // Fields a version lacks are not written; their values are lost rather than rejected,
    // since every one of them is either ignorable or only a hint to the broker.
    public func encode(into buffer: inout ByteBuffer, version: Int16) throws {
        let flexible = try Self.checkedFlexible(version)
        if let topics {
            try buffer.writeMessageArray(topics, flexible: flexible) { buf, topic in
                if version >= 10 { buf.writeKafkaUUID(topic.topicId) }
                try buf.writeMessageNullableString(
                    topic.name, flexible: flexible, nullable: version >= 10, version: version, "topic name")
                buf.writeTagSection(topic.taggedFields, flexible: flexible)
            }
        } else {
            buffer.writeKafkaArrayLength(nil, flexible: flexible)
        }
        if version >= 4 { buffer.writeKafkaBool(allowAutoTopicCreation) }
        if (8...10).contains(version) { buffer.writeKafkaBool(includeClusterAuthorizedOperations) }
        if version >= 8 { buffer.writeKafkaBool(includeTopicAuthorizedOperations) }
        buffer.writeTagSection(taggedFields, flexible: flexible)
    }

    public static func decode(from buffer: inout ByteBuffer, version: Int16) throws -> MetadataRequest {
        let flexible = try checkedFlexible(version)
        let topics = try buffer.readKafkaNullableArray(flexible: flexible, "topics") { buf in
            let id = version >= 10 ? try buf.readKafkaUUID() : .zero
            return Topic(
                topicId: id,
                name: try buf.readMessageString(flexible: flexible, nullable: version >= 10, "topic name"),
                taggedFields: try buf.readTagSection(flexible: flexible)
            )
        }
        var request = MetadataRequest(topics: topics)
        if version >= 4 { request.allowAutoTopicCreation = try buffer.readKafkaBool() }
        if (8...10).contains(version) { request.includeClusterAuthorizedOperations = try buffer.readKafkaBool() }
        if version >= 8 { request.includeTopicAuthorizedOperations = try buffer.readKafkaBool() }
        request.taggedFields = try buffer.readTagSection(flexible: flexible)
        return request
    }
}

/// Metadata response, versions 1-12; versions 9+ are flexible.
public struct MetadataResponse: KafkaResponse {
    /// "Not provided" value of the authorized-operations bitfields (Kafka's INT32 minimum).
    public static let authorizedOperationsOmitted = Int32.min

    /// A broker of the cluster.
    public struct Broker: Sendable, Equatable {
        /// The broker id.
        public var nodeId: Int32
        /// The broker host name.
        public var host: String
        /// The broker port.
        public var port: Int32
        /// The broker's rack, if assigned.
        public var rack: String?
        /// Tagged fields (v9+), kept raw.
        public var taggedFields: [TaggedField]

        /// Creates a broker entry.
        public init(nodeId: Int32, host: String, port: Int32, rack: String? = nil, taggedFields: [TaggedField] = []) {
            self.nodeId = nodeId
            self.host = host
            self.port = port
            self.rack = rack
            self.taggedFields = taggedFields
        }
    }

    /// One partition of a topic.
    public struct Partition: Sendable, Equatable {
        /// The partition error (LEADER_NOT_AVAILABLE during an election, ...).
        public var errorCode: KafkaErrorCode
        /// The partition index.
        public var partitionIndex: Int32
        /// The leader's node id, -1 when there is none.
        public var leaderId: Int32
        /// The leader epoch (v7+; -1 before).
        public var leaderEpoch: Int32
        /// All replicas of the partition.
        public var replicaNodes: [Int32]
        /// The in-sync replicas.
        public var isrNodes: [Int32]
        /// Offline replicas (v5+; empty before).
        public var offlineReplicas: [Int32]
        /// Tagged fields (v9+), kept raw.
        public var taggedFields: [TaggedField]

        /// Creates a partition entry; defaults as decoded from versions lacking a field.
        public init(
            errorCode: KafkaErrorCode = .noError, partitionIndex: Int32, leaderId: Int32, leaderEpoch: Int32 = -1,
            replicaNodes: [Int32] = [], isrNodes: [Int32] = [], offlineReplicas: [Int32] = [],
            taggedFields: [TaggedField] = []
        ) {
            self.errorCode = errorCode
            self.partitionIndex = partitionIndex
            self.leaderId = leaderId
            self.leaderEpoch = leaderEpoch
            self.replicaNodes = replicaNodes
            self.isrNodes = isrNodes
            self.offlineReplicas = offlineReplicas
            self.taggedFields = taggedFields
        }
    }

    /// One topic.
    public struct Topic: Sendable, Equatable {
        /// The topic error (UNKNOWN_TOPIC_OR_PARTITION, TOPIC_AUTHORIZATION_FAILED, ...).
        public var errorCode: KafkaErrorCode
        /// The topic name; nil only from v12, for an unknown topic asked by id.
        public var name: String?
        /// The topic id (v10+; zero before).
        public var topicId: KafkaUUID
        /// Whether the topic is internal (v1+).
        public var isInternal: Bool
        /// The partitions of the topic.
        public var partitions: [Partition]
        /// Authorized operations bitfield (v8+; `authorizedOperationsOmitted` before).
        public var topicAuthorizedOperations: Int32
        /// Tagged fields (v9+), kept raw.
        public var taggedFields: [TaggedField]

        /// Creates a topic entry; defaults as decoded from versions lacking a field.
        public init(
            errorCode: KafkaErrorCode = .noError, name: String?, topicId: KafkaUUID = .zero, isInternal: Bool = false,
            partitions: [Partition], topicAuthorizedOperations: Int32 = MetadataResponse.authorizedOperationsOmitted,
            taggedFields: [TaggedField] = []
        ) {
            self.errorCode = errorCode
            self.name = name
            self.topicId = topicId
            self.isInternal = isInternal
            self.partitions = partitions
            self.topicAuthorizedOperations = topicAuthorizedOperations
            self.taggedFields = taggedFields
        }
    }

    /// Throttle time (v3+; 0 before).
    public var throttleTimeMs: Int32
    /// The brokers of the cluster.
    public var brokers: [Broker]
    /// The cluster id (v2+; nil before).
    public var clusterId: String?
    /// The controller's node id (-1 when unknown).
    public var controllerId: Int32
    /// The topics asked for (or all topics).
    public var topics: [Topic]
    /// Cluster authorized operations (v8-v10; `authorizedOperationsOmitted` otherwise).
    public var clusterAuthorizedOperations: Int32
    /// Tagged fields (v9+), kept raw.
    public var taggedFields: [TaggedField]

    /// Creates a response; the defaults are what versions lacking a field decode to.
    public init(
        throttleTimeMs: Int32 = 0, brokers: [Broker], clusterId: String? = nil, controllerId: Int32 = -1,
        topics: [Topic], clusterAuthorizedOperations: Int32 = MetadataResponse.authorizedOperationsOmitted,
        taggedFields: [TaggedField] = []
    ) {
        self.throttleTimeMs = throttleTimeMs
        self.brokers = brokers
        self.clusterId = clusterId
        self.controllerId = controllerId
        self.topics = topics
        self.clusterAuthorizedOperations = clusterAuthorizedOperations
        self.taggedFields = taggedFields
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) throws {
        let flexible = try MetadataRequest.checkedFlexible(version)
        if version >= 3 { buffer.writeInteger(throttleTimeMs) }
        try buffer.writeMessageArray(brokers, flexible: flexible) { buf, broker in
            buf.writeInteger(broker.nodeId)
            try buf.writeMessageString(broker.host, flexible: flexible, "broker host")
            buf.writeInteger(broker.port)
            // Rack exists from v1, the lowest version here, and is nullable there.
            try buf.writeMessageNullableString(broker.rack, flexible: flexible, nullable: true, version: version, "rack")
            buf.writeTagSection(broker.taggedFields, flexible: flexible)
        }
        if version >= 2 {
            try buffer.writeMessageNullableString(clusterId, flexible: flexible, nullable: true, version: version, "cluster id")
        }
        buffer.writeInteger(controllerId)
        try buffer.writeMessageArray(topics, flexible: flexible) { buf, topic in
            buf.writeInteger(topic.errorCode.rawValue)
            try buf.writeMessageNullableString(
                topic.name, flexible: flexible, nullable: version >= 12, version: version, "topic name")
            if version >= 10 { buf.writeKafkaUUID(topic.topicId) }
            buf.writeKafkaBool(topic.isInternal)
            buf.writeMessageArray(topic.partitions, flexible: flexible) { buf, p in
                buf.writeInteger(p.errorCode.rawValue)
                buf.writeInteger(p.partitionIndex)
                buf.writeInteger(p.leaderId)
                if version >= 7 { buf.writeInteger(p.leaderEpoch) }
                buf.writeInt32Array(p.replicaNodes, flexible: flexible)
                buf.writeInt32Array(p.isrNodes, flexible: flexible)
                if version >= 5 { buf.writeInt32Array(p.offlineReplicas, flexible: flexible) }
                buf.writeTagSection(p.taggedFields, flexible: flexible)
            }
            if version >= 8 { buf.writeInteger(topic.topicAuthorizedOperations) }
            buf.writeTagSection(topic.taggedFields, flexible: flexible)
        }
        if (8...10).contains(version) { buffer.writeInteger(clusterAuthorizedOperations) }
        buffer.writeTagSection(taggedFields, flexible: flexible)
    }

    public static func decode(from buffer: inout ByteBuffer, version: Int16) throws -> MetadataResponse {
        let flexible = try MetadataRequest.checkedFlexible(version)
        let throttle = version >= 3 ? try buffer.readKafkaInt(Int32.self, "throttle time") : 0
        let brokers = try buffer.readKafkaArray(flexible: flexible, "brokers") { buf in
            Broker(
                nodeId: try buf.readKafkaInt(Int32.self, "node id"),
                host: try buf.readKafkaString(flexible: flexible, "broker host"),
                port: try buf.readKafkaInt(Int32.self, "broker port"),
                rack: try buf.readKafkaNullableString(flexible: flexible, "rack"),
                taggedFields: try buf.readTagSection(flexible: flexible)
            )
        }
        let clusterId = version >= 2 ? try buffer.readKafkaNullableString(flexible: flexible, "cluster id") : nil
        let controllerId = try buffer.readKafkaInt(Int32.self, "controller id")
        let topics = try buffer.readKafkaArray(flexible: flexible, "topics") { buf in
            let errorCode = KafkaErrorCode(try buf.readKafkaInt(Int16.self, "topic error code"))
            let name = try buf.readMessageString(flexible: flexible, nullable: version >= 12, "topic name")
            let topicId = version >= 10 ? try buf.readKafkaUUID() : .zero
            let isInternal = try buf.readKafkaBool()
            let partitions = try buf.readKafkaArray(flexible: flexible, "partitions") { buf in
                let errorCode = KafkaErrorCode(try buf.readKafkaInt(Int16.self, "partition error code"))
                let index = try buf.readKafkaInt(Int32.self, "partition index")
                let leader = try buf.readKafkaInt(Int32.self, "leader id")
                let epoch = version >= 7 ? try buf.readKafkaInt(Int32.self, "leader epoch") : -1
                return Partition(
                    errorCode: errorCode, partitionIndex: index, leaderId: leader, leaderEpoch: epoch,
                    replicaNodes: try buf.readInt32Array(flexible: flexible, "replica nodes"),
                    isrNodes: try buf.readInt32Array(flexible: flexible, "isr nodes"),
                    offlineReplicas: version >= 5 ? try buf.readInt32Array(flexible: flexible, "offline replicas") : [],
                    taggedFields: try buf.readTagSection(flexible: flexible)
                )
            }
            let ops = version >= 8 ? try buf.readKafkaInt(Int32.self, "topic authorized operations") : authorizedOperationsOmitted
            return Topic(
                errorCode: errorCode, name: name, topicId: topicId, isInternal: isInternal, partitions: partitions,
                topicAuthorizedOperations: ops, taggedFields: try buf.readTagSection(flexible: flexible)
            )
        }
        let clusterOps =
            (8...10).contains(version)
            ? try buffer.readKafkaInt(Int32.self, "cluster authorized operations") : authorizedOperationsOmitted
        return MetadataResponse(
            throttleTimeMs: throttle, brokers: brokers, clusterId: clusterId, controllerId: controllerId, topics: topics,
            clusterAuthorizedOperations: clusterOps, taggedFields: try buffer.readTagSection(flexible: flexible)
        )
    }
}
