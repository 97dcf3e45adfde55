import Foundation
import KafkaProducer
import KafkaWire
import NIOCore
import NIOPosix
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// How BrokerConnection behaves when brokers misbehave: refused connections, connections
/// dropped with requests pending, slow answers, version negotiation limits, error answers.
/// Every failure must be a clear `KafkaClientError`, and prompt.
@Suite("Wire layer: faults", .timeLimit(.minutes(1)))
struct WireFaultTests {
    static var loop: any EventLoop { MultiThreadedEventLoopGroup.singleton.next() }

    static func metadataRequest(_ topics: [String] = []) -> MetadataRequest {
        MetadataRequest(topicNames: topics, allowAutoTopicCreation: false)
    }

    static func produceRequest(topic: String, partition: Int32, records: [TestRecord]) throws -> ProduceRequest {
        var batch = ByteBufferAllocator().buffer(capacity: 0)
        try RecordBatchEncoder.encode(records.map(\.producerRecord), into: &batch)
        return ProduceRequest(
            acks: -1, timeoutMs: 10_000,
            topicData: [.init(name: topic, partitionData: [.init(index: partition, records: batch)])])
    }

    /// Runs `body` and returns the KafkaClientError it threw (recording an issue if none).
    static func clientError(
        _ body: () async throws -> Void, sourceLocation: SourceLocation = #_sourceLocation
    ) async -> KafkaClientError? {
        do {
            try await body()
            Issue.record("expected a KafkaClientError, got success", sourceLocation: sourceLocation)
            return nil
        } catch let error as KafkaClientError {
            return error
        } catch {
            Issue.record("expected a KafkaClientError, got \(error)", sourceLocation: sourceLocation)
            return nil
        }
    }

    /// Whether the connection reports inactive within `seconds` (the handler fails the
    /// pending requests first, then closes the channel).
    static func becomesInactive(_ connection: BrokerConnection, within seconds: Double = 1) async -> Bool {
        let start = ContinuousClock.now
        while connection.isActive {
            if elapsed(since: start) > seconds { return false }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return true
    }

    // MARK: refused connections

    @Test("a port nobody listens on: .connectFailed naming host:port, at once")
    func refusedPort() async throws {
        let reserved = try #require(RefusedPort.reserve())
        defer { reserved.release() }
        let port = reserved.port

        let address = BrokerAddress(host: "127.0.0.1", port: port)
        let start = ContinuousClock.now
        let error = await Self.clientError {
            _ = try await BrokerConnection.connect(to: address, eventLoop: Self.loop)
        }
        #expect(error?.code == .connectFailed)
        #expect(error?.message.contains("127.0.0.1:\(port)") == true, "\(String(describing: error))")
        #expect(error?.isRetriable == true)
        #expect(elapsed(since: start) < 4.5, "before the 5 s connect timeout")
    }

    @Test("a mock broker that is down: .connectFailed naming host:port; up again: connects")
    func mockBrokerDown() async throws {
        let cluster = try await MockCluster.start(brokers: 2)
        defer { cluster.stop() }
        let (host, port) = cluster.bootstrapServers[1]
        let address = BrokerAddress(host: host, port: port)
        try await cluster.brokerDown(2)

        let start = ContinuousClock.now
        let error = await Self.clientError {
            _ = try await BrokerConnection.connect(to: address, eventLoop: Self.loop)
        }
        #expect(error?.code == .connectFailed)
        #expect(error?.message.contains("\(host):\(port)") == true, "\(String(describing: error))")
        #expect(elapsed(since: start) < 4.5, "before the 5 s connect timeout")

        try await cluster.brokerUp(2)
        let connection = try await BrokerConnection.connect(to: address, eventLoop: Self.loop)
        _ = try await connection.send(Self.metadataRequest())
        await connection.close()
    }

    @Test("an unroutable address: .connectFailed naming host:port, within the connect timeout")
    func connectTimeout() async throws {
        // A listening socket with a full backlog would be needed for a real SYN drop;
        // a non-routable address (TEST-NET-1) does it on most hosts, but may fail fast
        // with "unreachable" here instead. Either way: .connectFailed, within the bound.
        var configuration = ConnectionConfiguration()
        configuration.connectTimeout = .milliseconds(300)
        let address = BrokerAddress(host: "192.0.2.1", port: 9092)
        let start = ContinuousClock.now
        let error = await Self.clientError {
            _ = try await BrokerConnection.connect(to: address, configuration: configuration, eventLoop: Self.loop)
        }
        #expect(error?.code == .connectFailed)
        #expect(error?.message.contains("192.0.2.1:9092") == true, "\(String(describing: error))")
        // Bounded by the 300 ms connect timeout; the margin is for a loaded CI machine.
        #expect(elapsed(since: start) < 10)
    }

    // MARK: connections that close with requests pending

    @Test("mock broker goes down with requests pending: every one fails with .connectionClosed, promptly")
    func mockBrokerDownWhilePending() async throws {
        let cluster = try await MockCluster.start(brokers: 3)
        defer { cluster.stop() }
        let topic = "pending"
        try await cluster.createTopic(topic, partitions: 1, replication: 1)
        try await cluster.setLeader(topic: topic, partition: 0, broker: 2)
        let client = try WireTestClient(bootstrap: cluster.bootstrap)
        let connection = try await client.leaderConnection(topic: topic, partition: 0)
        #expect(connection.broker.port == cluster.bootstrapServers[1].port)

        // Every answer from broker 2 now takes 10 s: the requests below stay pending.
        try await cluster.setRTT(broker: 2, ms: 10_000)
        let produce = try Self.produceRequest(topic: topic, partition: 0, records: TestRecords.many(10))
        let outcomes = Outcomes()
        let tasks = (0..<5).map { i in
            Task {
                do {
                    if i % 2 == 0 {
                        _ = try await connection.send(produce)
                    } else {
                        _ = try await connection.send(Self.metadataRequest([topic]))
                    }
                    outcomes.add(nil)
                } catch let error as KafkaClientError {
                    outcomes.add(error)
                } catch {
                    outcomes.add(KafkaClientError(.invalidArgument, "unexpected \(error)"))
                }
            }
        }
        try await Task.sleep(for: .milliseconds(300))
        #expect(outcomes.count == 0, "nothing may complete while the broker sits on the answers")

        let start = ContinuousClock.now
        try await cluster.brokerDown(2)
        for t in tasks { await t.value }
        let took = elapsed(since: start)
        #expect(took < 3, "pending requests must fail promptly, not after the 10 s RTT (took \(took) s)")
        let errors = outcomes.all
        #expect(errors.count == 5)
        for error in errors {
            #expect(error?.code == .connectionClosed, "\(String(describing: error))")
        }
        #expect(await Self.becomesInactive(connection))

        // A request on the dead connection fails at once too.
        let after = ContinuousClock.now
        let error = await Self.clientError { _ = try await connection.send(Self.metadataRequest()) }
        #expect(error?.code == .connectionClosed)
        #expect(elapsed(since: after) < 2)
        await client.close()
    }

    @Test("a request on a connection closed by us fails with .connectionClosed at once")
    func sendAfterClose() async throws {
        let cluster = try await MockCluster.start(brokers: 1)
        defer { cluster.stop() }
        let (host, port) = cluster.bootstrapServers[0]
        let connection = try await BrokerConnection.connect(to: BrokerAddress(host: host, port: port), eventLoop: Self.loop)
        await connection.close()
        let start = ContinuousClock.now
        let error = await Self.clientError { _ = try await connection.send(Self.metadataRequest()) }
        #expect(error?.code == .connectionClosed)
        let noResponseError = await Self.clientError {
            try await connection.sendWithoutResponse(
                try Self.produceRequest(topic: "t", partition: 0, records: TestRecords.single))
        }
        #expect(noResponseError?.code == .connectionClosed)
        #expect(elapsed(since: start) < 3)
    }

    @Test("mock closes the connection instead of answering (_TRANSPORT): .connectionClosed")
    func mockTransportError() async throws {
        let cluster = try await MockCluster.start(brokers: 1)
        defer { cluster.stop() }
        let topic = "transport"
        try await cluster.createTopic(topic, partitions: 1)
        let client = try WireTestClient(bootstrap: cluster.bootstrap)
        _ = try await client.leaderConnection(topic: topic, partition: 0)
        try await cluster.pushRequestErrors(apiKey: ApiKey.produce.rawValue, errors: [RdKafkaErr.transport])
        let start = ContinuousClock.now
        let error = await Self.clientError {
            _ = try await client.produce(topic: topic, partition: 0, records: TestRecords.single.map(\.producerRecord))
        }
        #expect(error?.code == .connectionClosed)
        #expect(elapsed(since: start) < 3)
        // The client reconnects on the next call, and the record lands once.
        let base = try await client.produce(topic: topic, partition: 0, records: TestRecords.single.map(\.producerRecord))
        #expect(base == 0)
        await client.close()
    }

    @Test("Tansu killed with requests pending: every pending one fails with .connectionClosed, promptly")
    func tansuKilledWhilePending() async throws {
        let broker = try await TansuBroker.start()
        defer { broker.stop() }
        let topic = "killed"
        try await broker.createTopic(topic, partitions: 1)
        let client = try WireTestClient(bootstrap: broker.bootstrap)
        let connection = try await client.leaderConnection(topic: topic, partition: 0)
        _ = try await client.produce(topic: topic, partition: 0, records: TestRecords.single.map(\.producerRecord))

        // Many ~900 KiB produce requests in flight, then SIGKILL: Tansu answers some, and
        // every one it did not answer must fail with .connectionClosed.
        let produce = try Self.produceRequest(topic: topic, partition: 0, records: TestRecords.large)
        let outcomes = Outcomes()
        let count = 40
        let tasks = (0..<count).map { _ in
            Task {
                do {
                    _ = try await connection.send(produce)
                    outcomes.add(nil)
                } catch let error as KafkaClientError {
                    outcomes.add(error)
                } catch {
                    outcomes.add(KafkaClientError(.invalidArgument, "unexpected \(error)"))
                }
            }
        }
        try await Task.sleep(for: .milliseconds(5))
        let start = ContinuousClock.now
        #expect(kill(broker.pid, SIGKILL) == 0)
        for t in tasks { await t.value }
        let took = elapsed(since: start)
        let results = outcomes.all
        #expect(results.count == count)
        let failures = results.compactMap { $0 }
        for error in failures {
            #expect(error.code == .connectionClosed, "\(error)")
        }
        #expect(!failures.isEmpty, "SIGKILL came after Tansu had answered all \(count) requests")
        #expect(took < 3, "pending requests must fail promptly (took \(took) s)")
        #expect(await Self.becomesInactive(connection))
        await client.close()
    }

    // MARK: timeouts

    @Test("an answer slower than the timeout: .requestTimedOut on time; the late answer is dropped")
    func requestTimeout() async throws {
        let cluster = try await MockCluster.start(brokers: 1)
        defer { cluster.stop() }
        let (host, port) = cluster.bootstrapServers[0]
        var configuration = ConnectionConfiguration()
        configuration.requestTimeout = .milliseconds(400)
        let connection = try await BrokerConnection.connect(
            to: BrokerAddress(host: host, port: port), configuration: configuration, eventLoop: Self.loop)
        try await cluster.setRTT(broker: 1, ms: 3_000)

        // The upper bounds below leave room for a loaded machine (scripts/test runs the
        // CPU-heavy unit tests beside these); what matters is that each request fails
        // with .requestTimedOut naming its own timeout, and not early.
        // Two requests pending at once: a long timeout first, then a short one, so the
        // timer must be re-armed for the earlier deadline and then again for the later one.
        let start = ContinuousClock.now
        async let long: KafkaClientError? = Self.clientError {
            _ = try await connection.send(Self.metadataRequest(), timeout: .milliseconds(900))
        }
        async let short: KafkaClientError? = Self.clientError {
            _ = try await connection.send(Self.metadataRequest(), timeout: .milliseconds(200))
        }
        let shortError = await short
        let shortTook = elapsed(since: start)
        let longError = await long
        let longTook = elapsed(since: start)
        #expect(shortError?.code == .requestTimedOut, "\(String(describing: shortError))")
        #expect(longError?.code == .requestTimedOut, "\(String(describing: longError))")
        #expect(shortError?.message.contains("\(host):\(port)") == true)
        #expect(shortTook >= 0.19 && shortTook < 10, "short timeout took \(shortTook) s")
        #expect(longTook >= 0.89 && longTook < 10, "long timeout took \(longTook) s")
        #expect(shortError?.message.contains("within 200 ms") == true, "\(String(describing: shortError))")
        #expect(longError?.message.contains("within 900 ms") == true, "\(String(describing: longError))")
        #expect(shortError?.isRetriable == true)

        // The configured default applies when the call gives none.
        let defaultStart = ContinuousClock.now
        let defaultError = await Self.clientError { _ = try await connection.send(Self.metadataRequest()) }
        #expect(defaultError?.code == .requestTimedOut)
        let defaultTook = elapsed(since: defaultStart)
        #expect(defaultTook >= 0.39 && defaultTook < 2, "default timeout took \(defaultTook) s")

        // The connection stays usable: the late answers are recognised and dropped, and
        // the next request gets its own answer.
        try await cluster.setRTT(broker: 1, ms: 0)
        #expect(connection.isActive)
        let response = try await connection.send(Self.metadataRequest(), timeout: .seconds(5))
        #expect(response.brokers.count == 1)
        await connection.close()
    }

    // MARK: version negotiation

    @Test("ApiVersions: Produce restricted to 3...7 negotiates 7; overrides inside work, outside fail")
    func versionNegotiation() async throws {
        let cluster = try await MockCluster.start(brokers: 1)
        defer { cluster.stop() }
        let topic = "versions"
        try await cluster.createTopic(topic, partitions: 1)
        let (host, port) = cluster.bootstrapServers[0]
        let address = BrokerAddress(host: host, port: port)

        // Unrestricted: the highest version both sides have (Sluice: up to 9).
        let plain = try await BrokerConnection.connect(to: address, eventLoop: Self.loop)
        #expect(plain.versions[.produce] == ProduceRequest.supportedVersions.upperBound)
        #expect(plain.versions[.metadata] != nil)
        await plain.close()

        try await cluster.setApiVersion(apiKey: ApiKey.produce.rawValue, min: 3, max: 7)
        let restricted = try await BrokerConnection.connect(to: address, eventLoop: Self.loop)
        #expect(restricted.versions[.produce] == 7)
        #expect(try restricted.version(for: ProduceRequest.self) == 7)
        let response = try await restricted.send(
            try Self.produceRequest(topic: topic, partition: 0, records: TestRecords.awkward))
        #expect(try WireTestClient.baseOffset(of: response, topic: topic, partition: 0, broker: address) == 0)
        await restricted.close()

        var configuration = ConnectionConfiguration()
        configuration.versionOverrides = [.produce: 3]
        let forced = try await BrokerConnection.connect(to: address, configuration: configuration, eventLoop: Self.loop)
        #expect(forced.versions[.produce] == 3)
        await forced.close()

        for outside: Int16 in [8, 9, 2] {
            configuration.versionOverrides = [.produce: outside]
            let start = ContinuousClock.now
            let error = await Self.clientError {
                _ = try await BrokerConnection.connect(to: address, configuration: configuration, eventLoop: Self.loop)
            }
            #expect(error?.code == .unsupportedVersion, "override v\(outside): \(String(describing: error))")
            #expect(error?.message.contains("v\(outside)") == true)
            #expect(elapsed(since: start) < 10, "well before the 30 s request timeout (bound for a loaded CI machine)")
        }

        // A broker without Produce at all: connecting works, producing says why not.
        try await cluster.setApiVersion(apiKey: ApiKey.produce.rawValue, min: -1, max: -1)
        let without = try await BrokerConnection.connect(to: address, eventLoop: Self.loop)
        #expect(without.versions[.produce] == nil)
        let error = await Self.clientError {
            _ = try await without.send(try Self.produceRequest(topic: topic, partition: 0, records: TestRecords.single))
        }
        #expect(error?.code == .unsupportedVersion)
        #expect(error?.message.contains("\(host):\(port)") == true)
        await without.close()
    }

    /// The mock has ApiVersions v0-v2 and answers our v3 with UNSUPPORTED_VERSION in a
    /// body that lists no usable range (neither v0 nor v3 layout): we must retry with v0,
    /// as Kafka's Java client does, and then negotiate normally.
    @Test("ApiVersions: UNSUPPORTED_VERSION without a usable range falls back to v0")
    func apiVersionsFallback() async throws {
        let cluster = try await MockCluster.start(brokers: 1)
        defer { cluster.stop() }
        try await cluster.setApiVersion(apiKey: ApiKey.apiVersions.rawValue, min: 0, max: 2)
        try await cluster.startRequestTracking()
        let (host, port) = cluster.bootstrapServers[0]
        let connection = try await BrokerConnection.connect(to: BrokerAddress(host: host, port: port), eventLoop: Self.loop)
        #expect(connection.versions[.apiVersions] == 2)
        #expect(connection.versions[.produce] != nil)
        let apiVersionsRequests = try await cluster.requests().filter { $0.apiKey == ApiKey.apiVersions.rawValue }
        #expect(apiVersionsRequests.count == 2)
        _ = try await connection.send(Self.metadataRequest())
        await connection.close()
    }

    // MARK: error answers

    @Test("a partition error in the Produce answer surfaces as .kafkaError with the code")
    func partitionError() async throws {
        let cluster = try await MockCluster.start(brokers: 1)
        defer { cluster.stop() }
        let topic = "errors"
        try await cluster.createTopic(topic, partitions: 1)
        let client = try WireTestClient(bootstrap: cluster.bootstrap)
        _ = try await client.leaderConnection(topic: topic, partition: 0)
        try await cluster.pushRequestErrors(
            apiKey: ApiKey.produce.rawValue, errors: [RdKafkaErr.notLeaderOrFollower, RdKafkaErr.messageTooLarge])
        let records = TestRecords.single.map(\.producerRecord)
        let first = await Self.clientError { _ = try await client.produce(topic: topic, partition: 0, records: records) }
        #expect(first?.code == .kafkaError)
        #expect(first?.kafkaError == .notLeaderOrFollower)
        #expect(first?.isRetriable == true)
        let second = await Self.clientError { _ = try await client.produce(topic: topic, partition: 0, records: records) }
        #expect(second?.kafkaError == .messageTooLarge)
        #expect(second?.isRetriable == false)
        // Nothing was appended by the refused requests.
        #expect(try await client.produce(topic: topic, partition: 0, records: records) == 0)
        await client.close()
    }
}

/// Thread-safe collection of request outcomes (nil: success).
final class Outcomes: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [KafkaClientError?] = []

    func add(_ value: KafkaClientError?) { lock.withLock { values.append(value) } }
    var count: Int { lock.withLock { values.count } }
    var all: [KafkaClientError?] { lock.withLock { values } }
}
