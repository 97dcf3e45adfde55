import KafkaProducer
import KafkaWire
import NIOCore

/// Talks to a cluster straight through the wire layer: a bootstrap connection for
/// Metadata and one connection per partition leader. No retries: the CLI reports what
/// the brokers answered.
final class WireSession {
    let bootstrap: [BrokerAddress]
    let configuration: ConnectionConfiguration
    let eventLoop: any EventLoop
    private var metadataConnection: BrokerConnection?
    private var leaderConnections: [Int32: BrokerConnection] = [:]

    init(bootstrap: [BrokerAddress], configuration: ConnectionConfiguration, eventLoop: any EventLoop) {
        self.bootstrap = bootstrap
        self.configuration = configuration
        self.eventLoop = eventLoop
    }

    /// A connection to the first bootstrap broker that accepts one.
    func bootstrapConnection() async throws(KafkaClientError) -> BrokerConnection {
        if let c = metadataConnection, c.isActive { return c }
        var failures: [KafkaClientError] = []
        for address in bootstrap {
            do {
                let c = try await BrokerConnection.connect(to: address, configuration: configuration, eventLoop: eventLoop)
                metadataConnection = c
                return c
            } catch {
                failures.append(error)
            }
        }
        if failures.count == 1 { throw failures[0] }
        throw KafkaClientError(
            .connectFailed, "no bootstrap broker reachable: " + failures.map(\.message).joined(separator: "; "))
    }

    /// The leader of `topic`/`partition` (its id and address), from a Metadata request.
    /// A partition without a leader yet is asked again a few times, 200 ms apart.
    func leader(topic: String, partition: Int32) async throws(KafkaClientError) -> (id: Int32, address: BrokerAddress) {
        var problem = ""
        for attempt in 0..<10 {
            if attempt > 0 { try? await Task.sleep(for: .milliseconds(200)) }
            let connection = try await bootstrapConnection()
            let metadata = try await connection.send(MetadataRequest(topicNames: [topic], allowAutoTopicCreation: false))
            guard let t = metadata.topics.first(where: { $0.name == topic }) else {
                throw KafkaClientError(.protocolError, "broker \(connection.broker) answered Metadata without topic \(topic)")
            }
            guard t.errorCode == .noError else {
                problem = "topic \(topic) at broker \(connection.broker): \(t.errorCode)"
                if t.errorCode.isRetriable && t.errorCode != .unknownTopicOrPartition { continue }
                throw KafkaClientError(.kafkaError, problem, kafkaError: t.errorCode)
            }
            guard let p = t.partitions.first(where: { $0.partitionIndex == partition }) else {
                throw KafkaClientError(
                    .invalidArgument,
                    "topic \(topic) has \(t.partitions.count) partitions (0...\(t.partitions.count - 1)); no partition \(partition)")
            }
            guard p.errorCode == .noError || p.errorCode == .replicaNotAvailable, p.leaderId >= 0 else {
                problem = "\(topic)-\(partition) at broker \(connection.broker): \(p.errorCode), leader \(p.leaderId)"
                continue
            }
            guard let b = metadata.brokers.first(where: { $0.nodeId == p.leaderId }) else {
                problem = "leader \(p.leaderId) of \(topic)-\(partition) is not among the brokers \(connection.broker) lists"
                continue
            }
            return (p.leaderId, BrokerAddress(host: b.host, port: Int(b.port)))
        }
        throw KafkaClientError(.kafkaError, "no leader: \(problem)", kafkaError: .leaderNotAvailable)
    }

    /// The connection to a partition's leader (opened once).
    func leaderConnection(topic: String, partition: Int32) async throws(KafkaClientError) -> BrokerConnection {
        let (id, address) = try await leader(topic: topic, partition: partition)
        if let c = leaderConnections[id], c.isActive { return c }
        let c = try await BrokerConnection.connect(to: address, configuration: configuration, eventLoop: eventLoop)
        leaderConnections[id] = c
        return c
    }

    /// Produces `batch` (encoded record batches) to one partition with `acks`; returns the
    /// leader it went to and the base offset (-1 with acks = 0).
    func produce(
        topic: String, partition: Int32, batch: ByteBuffer, acks: Int16, timeoutMs: Int32
    ) async throws(KafkaClientError) -> (broker: BrokerAddress, baseOffset: Int64) {
        let connection = try await leaderConnection(topic: topic, partition: partition)
        let request = ProduceRequest(
            acks: acks, timeoutMs: timeoutMs,
            topicData: [.init(name: topic, partitionData: [.init(index: partition, records: batch)])])
        guard request.expectsResponse else {
            try await connection.sendWithoutResponse(request)
            return (connection.broker, -1)
        }
        let response = try await connection.send(request)
        guard let p = response.responses.first(where: { $0.name == topic })?.partitionResponses.first(where: { $0.index == partition })
        else {
            throw KafkaClientError(.protocolError, "Produce answer from \(connection.broker) lacks \(topic)-\(partition)")
        }
        guard p.errorCode == .noError else {
            let detail = p.errorMessage.map { ": \($0)" } ?? ""
            throw KafkaClientError(
                .kafkaError, "produce to \(topic)-\(partition) at broker \(connection.broker) failed\(detail)",
                kafkaError: p.errorCode)
        }
        return (connection.broker, p.baseOffset)
    }

    func close() async {
        await metadataConnection?.close()
        metadataConnection = nil
        for c in leaderConnections.values { await c.close() }
        leaderConnections.removeAll()
    }
}
