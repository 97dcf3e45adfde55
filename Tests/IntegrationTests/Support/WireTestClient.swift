import KafkaProducer
import KafkaWire
import NIOCore
import NIOPosix

/// A minimal producer straight on the wire layer, for integration tests: one bootstrap
/// connection for Metadata, one connection per partition leader, and a `produce` that
/// sends one record batch to one partition and returns its base offset.
///
/// No retries and no engine: what a test sees is what the broker answered.
actor WireTestClient {
    let bootstrap: [BrokerAddress]
    let configuration: ConnectionConfiguration
    nonisolated let eventLoop: any EventLoop

    private var bootstrapConnection: BrokerConnection?
    /// Broker id -> address, from the last Metadata response.
    private var brokers: [Int32: BrokerAddress] = [:]
    /// topic -> partition -> leader id, from the last Metadata response.
    private var leaders: [String: [Int32: Int32]] = [:]
    private var connections: [Int32: BrokerConnection] = [:]

    init(
        bootstrap: String, configuration: ConnectionConfiguration = .init(),
        eventLoop: any EventLoop = MultiThreadedEventLoopGroup.singleton.next()
    ) throws(KafkaClientError) {
        guard let addresses = BrokerAddress.parseList(bootstrap) else {
            throw KafkaClientError(.invalidArgument, "bad bootstrap list \(bootstrap)")
        }
        self.bootstrap = addresses
        self.configuration = configuration
        self.eventLoop = eventLoop
    }

    /// The connection used for Metadata: the first bootstrap broker that accepts.
    func bootstrapConnection() async throws(KafkaClientError) -> BrokerConnection {
        if let c = bootstrapConnection, c.isActive { return c }
        var errors: [String] = []
        for address in bootstrap {
            do {
                let c = try await BrokerConnection.connect(to: address, configuration: configuration, eventLoop: eventLoop)
                bootstrapConnection = c
                return c
            } catch {
                errors.append(error.description)
            }
        }
        throw KafkaClientError(.connectFailed, "no bootstrap broker reachable: \(errors.joined(separator: "; "))")
    }

    /// Asks for the topics' metadata and remembers brokers and leaders.
    @discardableResult
    func refreshMetadata(topics: [String]) async throws(KafkaClientError) -> MetadataResponse {
        let connection = try await bootstrapConnection()
        let response = try await connection.send(MetadataRequest(topicNames: topics, allowAutoTopicCreation: false))
        for broker in response.brokers {
            brokers[broker.nodeId] = BrokerAddress(host: broker.host, port: Int(broker.port))
        }
        for topic in response.topics {
            guard let name = topic.name, topic.errorCode == .noError else { continue }
            var byPartition: [Int32: Int32] = [:]
            for p in topic.partitions where p.errorCode == .noError && p.leaderId >= 0 {
                byPartition[p.partitionIndex] = p.leaderId
            }
            leaders[name] = byPartition
        }
        return response
    }

    /// The leader's broker id and address, asking Metadata (a few times, 100 ms apart,
    /// while the partition has no leader yet) when not known.
    func leader(topic: String, partition: Int32) async throws(KafkaClientError) -> (id: Int32, address: BrokerAddress) {
        var lastProblem = "not in metadata"
        for attempt in 0..<20 {
            if let id = leaders[topic]?[partition], let address = brokers[id] {
                return (id, address)
            }
            if attempt > 0 { try? await Task.sleep(for: .milliseconds(100)) }
            let response = try await refreshMetadata(topics: [topic])
            if let t = response.topics.first(where: { $0.name == topic }) {
                if t.errorCode != .noError {
                    lastProblem = "topic error \(t.errorCode)"
                } else if let p = t.partitions.first(where: { $0.partitionIndex == partition }) {
                    lastProblem = "partition error \(p.errorCode), leader \(p.leaderId)"
                } else {
                    lastProblem = "no partition \(partition) among \(t.partitions.count)"
                }
            }
        }
        throw KafkaClientError(.kafkaError, "no leader for \(topic)-\(partition): \(lastProblem)")
    }

    /// The connection to a partition's leader (opened once, reused).
    func leaderConnection(topic: String, partition: Int32) async throws(KafkaClientError) -> BrokerConnection {
        let (id, address) = try await leader(topic: topic, partition: partition)
        if let c = connections[id], c.isActive { return c }
        let c = try await BrokerConnection.connect(to: address, configuration: configuration, eventLoop: eventLoop)
        connections[id] = c
        return c
    }

    /// Encodes `records` as one batch, produces it to the partition's leader and returns
    /// the base offset; a partition error becomes `.kafkaError` with its code.
    func produce(
        topic: String, partition: Int32, records: [ProducerRecord], compression: Compression = .uncompressed,
        acks: Int16 = -1, timeoutMs: Int32 = 10_000, requestTimeout: TimeAmount? = nil
    ) async throws -> Int64 {
        let connection = try await leaderConnection(topic: topic, partition: partition)
        var batch = ByteBufferAllocator().buffer(capacity: 0)
        try RecordBatchEncoder.encode(records, compression: compression, into: &batch)
        let request = ProduceRequest(
            acks: acks, timeoutMs: timeoutMs,
            topicData: [.init(name: topic, partitionData: [.init(index: partition, records: batch)])])
        let response = try await connection.send(request, timeout: requestTimeout)
        return try Self.baseOffset(of: response, topic: topic, partition: partition, broker: connection.broker)
    }

    /// The base offset for one partition in a Produce response, or the partition's error.
    static func baseOffset(
        of response: ProduceResponse, topic: String, partition: Int32, broker: BrokerAddress
    ) throws(KafkaClientError) -> Int64 {
        guard let t = response.responses.first(where: { $0.name == topic }),
            let p = t.partitionResponses.first(where: { $0.index == partition })
        else {
            throw KafkaClientError(.protocolError, "Produce response from \(broker) lacks \(topic)-\(partition)")
        }
        guard p.errorCode == .noError else {
            throw KafkaClientError(
                .kafkaError, "produce to \(topic)-\(partition) at \(broker): \(p.errorMessage ?? "no message")",
                kafkaError: p.errorCode)
        }
        return p.baseOffset
    }

    /// Ids of the brokers a leader connection is open to.
    var leaderConnectionIds: Set<Int32> { Set(connections.filter { $0.value.isActive }.keys) }

    /// Closes every connection.
    func close() async {
        await bootstrapConnection?.close()
        bootstrapConnection = nil
        for c in connections.values { await c.close() }
        connections.removeAll()
    }
}
