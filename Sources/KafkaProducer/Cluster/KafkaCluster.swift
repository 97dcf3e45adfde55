import KafkaWire
import Logging
import NIOCore

/// The producer's view of a Kafka cluster: cached metadata, refreshed periodically and
/// on demand, the shared connection pool, and the idempotent producer id.
///
/// Runs on one event loop (its executor), the same as the connections it makes, so
/// partition producers on that loop talk to it without thread hops.
package actor KafkaCluster {
    package struct Settings: Sendable {
        /// Brokers to ask for metadata first (HOST:PORT list).
        package var bootstrap: [BrokerAddress]
        /// Metadata cache settings (refresh interval, unknown-topic TTL).
        package var metadata = MetadataCache.Settings()
        /// Connection pool settings (connection options, reconnect backoff).
        package var pool = ConnectionPool.Settings()
        /// Timeout of one Metadata request [10 s].
        package var metadataTimeout: TimeAmount = .seconds(10)

        package init(bootstrap: [BrokerAddress]) {
            self.bootstrap = bootstrap
        }
    }

    package nonisolated let eventLoop: any EventLoop
    package nonisolated var unownedExecutor: UnownedSerialExecutor { eventLoop.executor.asUnownedSerialExecutor() }

    package let settings: Settings
    package let pool: ConnectionPool
    private let logger: Logger
    private var cache: MetadataCache {
        didSet { metadataGeneration &+= 1 }
    }
    /// Changes whenever the metadata cache does: the engine keeps what it looked up of a
    /// topic while this stays the same.
    private(set) var metadataGeneration: UInt64 = 0
    private var refreshInFlight: Task<Void, Never>?
    private var refreshError: KafkaClientError?
    private var extraTopics: Set<String> = []
    private var periodicTask: Task<Void, Never>?
    private var isShutdown = false
    /// Metadata requests sent, for tests and metrics.
    package private(set) var metadataRequestCount = 0

    package init(settings: Settings, eventLoop: any EventLoop, logger: Logger = Logger(label: "sluice.cluster")) {
        self.settings = settings
        self.eventLoop = eventLoop
        self.logger = logger
        self.cache = MetadataCache(settings: settings.metadata)
        self.pool = ConnectionPool(eventLoop: eventLoop, settings: settings.pool, logger: logger)
    }

    /// Starts the periodic metadata refresh.
    package func start() {
        guard periodicTask == nil else { return }
        periodicTask = Task { [weak self] in
            while !Task.isCancelled {
                guard let self else { return }
                let wait = await self.timeUntilRefresh()
                try? await Task.sleep(nanoseconds: UInt64(max(wait.nanoseconds, 10_000_000)))
                if Task.isCancelled { return }
                await self.refreshIfDue()
            }
        }
    }

    /// Stops the refresh and closes every connection.
    package func shutdown() async {
        isShutdown = true
        periodicTask?.cancel()
        periodicTask = nil
        await pool.shutdown()
    }

    // MARK: lookups

    /// The leader of a partition, refreshing metadata first when needed.
    /// - Parameter fresh: the caller saw a leader error: refresh before answering (at
    ///   most once per `minRefreshInterval`, waiting for that interval if needed).
    package func leader(topic: String, partition: Int32, fresh: Bool = false) async throws(KafkaClusterError) -> (id: Int32, address: BrokerAddress) {
        if fresh {
            cache.markStale()
            let wait = cache.nextRefresh() - .now()
            if wait > .zero { try? await Task.sleep(nanoseconds: UInt64(wait.nanoseconds)) }
            if cache.refreshDue(now: .now()) { await refresh(adding: topic) }
        }
        for attempt in 0..<2 {
            switch cache.lookup(topic: topic, partition: partition, now: .now()) {
            case .leader(let id, let address):
                return (id, address)
            case .unknownTopic:
                throw KafkaClusterError(.unknownTopic, "topic \(topic) does not exist", partition: partition)
            case .unknownPartition(let count):
                if attempt == 1 {
                    throw KafkaClusterError(.unknownPartition, "topic \(topic) has \(count) partitions; \(partition) does not exist", partition: partition)
                }
            case .noLeader:
                if attempt == 1 {
                    throw KafkaClusterError(.noLeader, "partition \(topic)/\(partition) has no leader now", partition: partition)
                }
            case .needMetadata:
                break
            }
            await refresh(adding: topic)
        }
        if let refreshError {
            throw KafkaClusterError(.noLeader, "no metadata for \(topic)/\(partition): \(refreshError)", partition: partition)
        }
        throw KafkaClusterError(.noLeader, "no metadata for \(topic)/\(partition)", partition: partition)
    }

    /// The partition count of a topic; `.unknownTopic` if it does not exist.
    /// - Parameter atLeast: the caller needs this many partitions: if the cache knows
    ///   fewer, the topic may have grown, so metadata is refreshed first (at most once per
    ///   `minRefreshInterval`, so a client naming a missing partition cannot flood the
    ///   cluster with metadata requests).
    package func partitionCount(topic: String, atLeast needed: Int? = nil) async throws(KafkaClusterError) -> Int {
        if let needed, let known = cache.partitionCount(topic: topic, now: .now()), known > 0, known < needed {
            cache.markStale()
            let wait = cache.nextRefresh() - .now()
            if wait > .zero { try? await Task.sleep(nanoseconds: UInt64(wait.nanoseconds)) }
            if cache.refreshDue(now: .now()) { await refresh(adding: topic) }
        }
        for _ in 0..<2 {
            switch cache.partitionCount(topic: topic, now: .now()) {
            case .some(0):
                throw KafkaClusterError(.unknownTopic, "topic \(topic) does not exist")
            case .some(let n):
                return n
            case nil:
                await refresh(adding: topic)
            }
        }
        throw KafkaClusterError(.noLeader, "no metadata for topic \(topic)\(refreshError.map { ": \($0)" } ?? "")")
    }

    /// What the cache can say of a topic's partition count now, without a request.
    enum CachedCount: Sendable, Equatable {
        case count(Int)
        case unknownTopic
        /// Not cached, or fewer partitions cached than the caller needs (the topic may
        /// have grown): ask with `partitionCount(topic:atLeast:)`.
        case miss
    }

    /// The partition count from the cache, synchronously (the engine's admission path).
    func cachedPartitionCount(topic: String, atLeast needed: Int?) -> CachedCount {
        guard let known = cache.partitionCount(topic: topic, now: .now()) else { return .miss }
        if known == 0 { return .unknownTopic }
        if let needed, known < needed { return .miss }
        return .count(known)
    }

    /// The shared connection to a broker.
    package func connection(to broker: BrokerAddress) async throws(KafkaClientError) -> BrokerConnection {
        try await pool.connection(to: broker)
    }

    /// A leader error was seen: metadata will be refreshed before the next lookup.
    package func markStale() {
        cache.markStale()
    }

    // MARK: refresh

    /// Refreshes the metadata of every known topic (and `topic`), deduplicating
    /// concurrent refreshes. Errors are remembered, not thrown: lookups report them.
    package func refresh(adding topic: String? = nil) async {
        if let topic, !cache.knownTopics.contains(topic) { extraTopics.insert(topic) }
        if let running = refreshInFlight {
            await running.value
            // That refresh took the topics to ask at its start: if it began before `topic`
            // was added, `topic` is still waiting, so a new one is needed.
            guard let topic, extraTopics.contains(topic) else { return }
            // Another waiter may have started it already; it includes `topic`.
            if let newer = refreshInFlight {
                await newer.value
                return
            }
        }
        // The task clears `refreshInFlight` itself (on this actor) before it completes, so
        // a finished refresh is never mistaken for a running one.
        let task = Task {
            await self.performRefresh()
            self.refreshInFlight = nil
        }
        refreshInFlight = task
        await task.value
    }

    private func refreshIfDue() async {
        if cache.refreshDue(now: .now()) && !(cache.knownTopics.isEmpty && extraTopics.isEmpty) {
            await refresh()
        }
    }

    private func timeUntilRefresh() -> TimeAmount {
        cache.nextRefresh() - .now()
    }

    private func performRefresh() async {
        let topics = Array(Set(cache.knownTopics).union(extraTopics)).sorted()
        extraTopics.removeAll()
        let candidates = candidateBrokers
        var lastError: KafkaClientError?
        for broker in candidates {
            do {
                let connection = try await pool.connection(to: broker)
                metadataRequestCount += 1
                let response = try await connection.send(
                    MetadataRequest(topicNames: topics, allowAutoTopicCreation: false), timeout: settings.metadataTimeout)
                cache.update(Self.clusterMetadata(response), requestedTopics: topics, now: .now())
                refreshError = nil
                return
            } catch {
                lastError = error
                logger.debug("metadata request failed", metadata: ["broker": "\(broker)", "error": "\(error)"])
            }
        }
        refreshError = lastError
        for t in topics where !cache.knownTopics.contains(t) { extraTopics.insert(t) }
        logger.warning("metadata refresh failed on every broker", metadata: ["error": "\(lastError.map { "\($0)" } ?? "no brokers")"])
    }

    /// Brokers to ask for cluster-wide things: known brokers first (they are current),
    /// then the bootstrap list.
    private var candidateBrokers: [BrokerAddress] {
        var candidates = cache.metadata.brokers.sorted { $0.key < $1.key }.map(\.value)
        for b in settings.bootstrap where !candidates.contains(b) { candidates.append(b) }
        return candidates
    }

    static func clusterMetadata(_ response: MetadataResponse) -> ClusterMetadata {
        var brokers: [Int32: BrokerAddress] = [:]
        for b in response.brokers { brokers[b.nodeId] = BrokerAddress(host: b.host, port: Int(b.port)) }
        var topics: [String: ClusterMetadata.Topic] = [:]
        for t in response.topics {
            guard let name = t.name else { continue }
            var partitions: [Int32: ClusterMetadata.Partition] = [:]
            for p in t.partitions {
                partitions[p.partitionIndex] = .init(id: p.partitionIndex, leader: p.leaderId, errorCode: p.errorCode.rawValue)
            }
            topics[name] = .init(name: name, errorCode: t.errorCode.rawValue, partitions: partitions)
        }
        return ClusterMetadata(brokers: brokers, topics: topics)
    }

    // MARK: idempotence

    private var identity: ProducerIdentity?
    private var identityTask: Task<Result<ProducerIdentity, KafkaClusterError>, Never>?

    /// The producer id and epoch in use, obtaining one (InitProducerId) if none is yet,
    /// or a new one when `replacing` is the current one (the broker lost track of it).
    package func producerIdentity(replacing old: ProducerIdentity? = nil) async throws(KafkaClusterError) -> ProducerIdentity {
        if let identity, identity != old { return identity }
        if let running = identityTask { return try await running.value.get() }
        let task = Task { await self.initProducerId() }
        identityTask = task
        let result = await task.value
        identityTask = nil
        if case .success(let id) = result { identity = id }
        return try result.get()
    }

    private func initProducerId() async -> Result<ProducerIdentity, KafkaClusterError> {
        let candidates = candidateBrokers
        var last = KafkaClusterError(.noLeader, "no broker reachable for InitProducerId")
        for broker in candidates {
            do {
                let connection = try await pool.connection(to: broker)
                guard connection.versions[.initProducerId] != nil else {
                    last = KafkaClusterError(.unsupported, "broker \(broker) does not support InitProducerId")
                    continue
                }
                let response = try await connection.send(InitProducerIdRequest(transactionalId: nil, transactionTimeoutMs: -1))
                guard response.errorCode == .noError else {
                    last = KafkaClusterError(
                        response.errorCode.isRetriable ? .noLeader : .unsupported,
                        "InitProducerId on \(broker) failed: \(response.errorCode)", kafkaError: response.errorCode)
                    continue
                }
                logger.info("producer id", metadata: ["id": "\(response.producerId)", "epoch": "\(response.producerEpoch)"])
                return .success(ProducerIdentity(producerId: response.producerId, epoch: response.producerEpoch))
            } catch {
                last = KafkaClusterError(.noLeader, "InitProducerId on \(broker) failed: \(error)")
            }
        }
        return .failure(last)
    }
}
