/// What the producer needs to know of a cluster: brokers, and for each topic its
/// partitions with their leaders. Built from a Metadata response.
public struct ClusterMetadata: Sendable, Equatable {
    public struct Partition: Sendable, Equatable {
        public var id: Int32
        /// The leader's node id, or -1 when the partition has no leader now.
        public var leader: Int32
        /// Kafka's error for this partition (0 = none).
        public var errorCode: Int16
    }

    public struct Topic: Sendable, Equatable {
        public var name: String
        /// Kafka's error for the topic (0 = none, 3 = unknown topic...).
        public var errorCode: Int16
        /// Partitions indexed by id (Kafka numbers them 0..<count).
        public var partitions: [Int32: Partition]
        public var partitionCount: Int { partitions.count }
    }

    public var brokers: [Int32: BrokerAddress]
    public var topics: [String: Topic]

    public init(brokers: [Int32: BrokerAddress], topics: [String: Topic]) {
        self.brokers = brokers
        self.topics = topics
    }
}
