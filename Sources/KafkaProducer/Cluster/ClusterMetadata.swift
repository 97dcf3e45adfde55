/// What the producer needs to know of a cluster: brokers, and for each topic its
/// partitions with their leaders. Built from a Metadata response.
package struct ClusterMetadata: Sendable, Equatable {
    package struct Partition: Sendable, Equatable {
        package var id: Int32
        /// The leader's node id, or -1 when the partition has no leader now.
        package var leader: Int32
        /// Kafka's error for this partition (0 = none).
        package var errorCode: Int16
    }

    package struct Topic: Sendable, Equatable {
        package var name: String
        /// Kafka's error for the topic (0 = none, 3 = unknown topic...).
        package var errorCode: Int16
        /// Partitions indexed by id (Kafka numbers them 0..<count).
        package var partitions: [Int32: Partition]
        package var partitionCount: Int { partitions.count }
    }

    package var brokers: [Int32: BrokerAddress]
    package var topics: [String: Topic]

    package init(brokers: [Int32: BrokerAddress], topics: [String: Topic]) {
        self.brokers = brokers
        self.topics = topics
    }
}
