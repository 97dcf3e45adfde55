import NIOCore

/// The producer's cache of cluster metadata: topics, partition counts, leaders.
///
/// Pure state, time passed in. It answers lookups, remembers unknown topics for a short
/// time (so a client that keeps naming a missing topic does not trigger a metadata
/// request per call), and says when a refresh is due: periodically, and soon after a
/// leader error marks the data stale.
package struct MetadataCache: Sendable {
    package struct Settings: Sendable, Equatable {
        /// Refresh everything this often [5 minutes].
        package var refreshInterval: TimeAmount = .minutes(5)
        /// How long an unknown topic is remembered as unknown [5 s].
        package var unknownTopicTTL: TimeAmount = .seconds(5)
        /// Least time between two refreshes caused by errors [100 ms].
        package var minRefreshInterval: TimeAmount = .milliseconds(100)
        package init() {}
    }

    package enum Lookup: Equatable, Sendable {
        /// The partition's leader.
        case leader(Int32, BrokerAddress)
        /// The topic or partition is known but has no usable leader now.
        case noLeader
        /// The topic is known not to exist (cached negatively).
        case unknownTopic
        /// The topic exists but has no such partition.
        case unknownPartition(partitionCount: Int)
        /// Nothing is known yet: ask the cluster.
        case needMetadata
    }

    package let settings: Settings
    package private(set) var metadata = ClusterMetadata(brokers: [:], topics: [:])
    private var unknownTopics: [String: NIODeadline] = [:]
    private var lastRefresh: NIODeadline?
    private var stale = false

    package init(settings: Settings = .init()) {
        self.settings = settings
    }

    /// Merges a fresh answer. Topics asked for but missing or answered with
    /// UNKNOWN_TOPIC_OR_PARTITION are remembered as unknown until the TTL passes.
    package mutating func update(_ fresh: ClusterMetadata, requestedTopics: [String]?, now: NIODeadline) {
        metadata.brokers = fresh.brokers.isEmpty ? metadata.brokers : fresh.brokers
        for (name, topic) in fresh.topics {
            if topic.errorCode == 3 {  // UNKNOWN_TOPIC_OR_PARTITION
                metadata.topics.removeValue(forKey: name)
                unknownTopics[name] = now + settings.unknownTopicTTL
            } else if topic.errorCode == 0 || !topic.partitions.isEmpty {
                metadata.topics[name] = topic
                unknownTopics.removeValue(forKey: name)
            }
        }
        for name in requestedTopics ?? [] where fresh.topics[name] == nil {
            metadata.topics.removeValue(forKey: name)
            unknownTopics[name] = now + settings.unknownTopicTTL
        }
        lastRefresh = now
        stale = false
    }

    /// Where to send records for `topic`/`partition` now.
    package mutating func lookup(topic: String, partition: Int32, now: NIODeadline) -> Lookup {
        if let until = unknownTopics[topic] {
            if until > now { return .unknownTopic }
            unknownTopics.removeValue(forKey: topic)
        }
        guard let t = metadata.topics[topic] else { return .needMetadata }
        guard let p = t.partitions[partition] else { return .unknownPartition(partitionCount: t.partitionCount) }
        guard p.leader >= 0, let address = metadata.brokers[p.leader] else { return .noLeader }
        return .leader(p.leader, address)
    }

    /// The partition count of a known topic, `nil` if it must be asked for, or 0 when the
    /// topic is known not to exist.
    package mutating func partitionCount(topic: String, now: NIODeadline) -> Int? {
        if let until = unknownTopics[topic] {
            if until > now { return 0 }
            unknownTopics.removeValue(forKey: topic)
        }
        return metadata.topics[topic]?.partitionCount
    }

    /// A leader error was seen: refresh soon.
    package mutating func markStale() { stale = true }

    /// When the next refresh should happen.
    package func nextRefresh() -> NIODeadline {
        guard let lastRefresh else { return .uptimeNanoseconds(0) }
        return lastRefresh + (stale ? settings.minRefreshInterval : settings.refreshInterval)
    }

    /// Whether a refresh is due now.
    package func refreshDue(now: NIODeadline) -> Bool { nextRefresh() <= now }

    /// Topics the cache knows, to refresh them together.
    package var knownTopics: [String] { metadata.topics.keys.sorted() }
}
