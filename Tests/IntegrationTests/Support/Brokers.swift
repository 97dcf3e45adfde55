import Foundation

private struct Greeting: Decodable {
    var bootstrap: String
    var advertised: String?
    var pid: Int32?
}

/// Splits "h1:p1,h2:p2" into (host, port) pairs.
func parseBootstrap(_ bootstrap: String) -> [(host: String, port: Int)] {
    bootstrap.split(separator: ",").compactMap { entry in
        guard let colon = entry.lastIndex(of: ":"), let port = Int(entry[entry.index(after: colon)...])
        else { return nil }
        return (String(entry[..<colon]), port)
    }
}

/// A Tansu broker (one broker, memory storage) on 127.0.0.1 and a free port,
/// run by `python -m sluice_harness tansu`.
///
/// Quirks: its ListOffsets "latest" is not the log end (read back with
/// `Consumer.readAll`, which waits for records to stop coming); producing to an
/// unknown topic auto-creates it with 4 partitions.
final class TansuBroker: Sendable {
    /// "127.0.0.1:PORT", where Tansu listens (plaintext).
    let bootstrap: String
    /// "127.0.0.1:APORT", what Tansu tells clients in Metadata: `bootstrap` unless it was
    /// started with `advertisedPort` (then a TLS proxy is meant to listen there).
    let advertised: String
    /// The Tansu process id.
    let pid: Int32
    let server: HarnessServer

    var host: String { parseBootstrap(bootstrap).first?.host ?? "127.0.0.1" }
    var port: Int { parseBootstrap(bootstrap).first?.port ?? 0 }
    /// The port of `advertised`.
    var advertisedPort: Int { parseBootstrap(advertised).first?.port ?? 0 }

    private init(server: HarnessServer, bootstrap: String, advertised: String, pid: Int32) {
        self.server = server
        self.bootstrap = bootstrap
        self.advertised = advertised
        self.pid = pid
    }

    /// Starts Tansu and waits until it answers a metadata request.
    /// - Parameter advertisedPort: a port on 127.0.0.1 for Tansu to advertise instead of
    ///   its own (0: a free one, see `advertised`), for stunnel in front of it. nil:
    ///   Tansu advertises where it listens.
    static func start(advertisedPort: Int? = nil, startupTimeout: Double = 60) async throws -> TansuBroker {
        var arguments = ["tansu"]
        if let advertisedPort { arguments += ["--advertise-port", String(advertisedPort)] }
        let server = try await HarnessServer.launch(
            name: "tansu", arguments: arguments, startupTimeout: startupTimeout)
        let hello = try server.decodeHello(Greeting.self)
        return TansuBroker(
            server: server, bootstrap: hello.bootstrap, advertised: hello.advertised ?? hello.bootstrap,
            pid: hello.pid ?? 0)
    }

    /// Deletes a topic and waits until metadata no longer lists it.
    func deleteTopic(_ name: String) async throws {
        try await server.request("delete_topic", ["topic": .string(name)])
    }

    /// Creates a topic and waits until its metadata shows all partitions.
    func createTopic(_ name: String, partitions: Int) async throws {
        try await server.request(
            "create_topic", ["topic": .string(name), "partitions": .int(partitions)])
    }

    /// Stops Tansu (SIGKILL) and its harness; does not wait. Idempotent.
    func stop() { server.stop() }

    /// Stops Tansu and waits for the harness to exit.
    func stopAndWait() async throws { try await server.stopAndWait() }

    deinit { server.stop() }
}

/// One request seen by the mock cluster while request tracking was on.
struct MockRequest: Decodable, Equatable, Sendable {
    var brokerId: Int32
    var apiKey: Int16
    /// librdkafka's monotonic clock, microseconds.
    var timestampUs: Int64

    enum CodingKeys: String, CodingKey {
        case brokerId = "broker_id"
        case apiKey = "api_key"
        case timestampUs = "timestamp_us"
    }
}

/// librdkafka error codes (`rd_kafka_resp_err_t`) handy for fault injection.
/// Non-negative values are Kafka protocol error codes.
enum RdKafkaErr {
    /// The mock broker closes the connection instead of answering.
    static let transport: Int32 = -195
    static let noError: Int32 = 0
    static let unknownTopicOrPartition: Int32 = 3
    static let leaderNotAvailable: Int32 = 5
    static let notLeaderOrFollower: Int32 = 6
    static let requestTimedOut: Int32 = 7
    static let messageTooLarge: Int32 = 10
    static let notEnoughReplicas: Int32 = 19
    static let notEnoughReplicasAfterAppend: Int32 = 20
    static let invalidRequiredAcks: Int32 = 21
    static let topicAuthorizationFailed: Int32 = 29
    static let unsupportedVersion: Int32 = 35
    static let outOfOrderSequenceNumber: Int32 = 45
    static let duplicateSequenceNumber: Int32 = 46
    static let invalidProducerEpoch: Int32 = 47
    static let unknownProducerId: Int32 = 59
    static let throttlingQuotaExceeded: Int32 = 89
}

/// librdkafka's mock Kafka cluster (brokers 1...N on 127.0.0.1), run in
/// `python -m sluice_harness mock`, with its fault injection.
///
/// The mock auto-creates unknown topics when a client asks for them in metadata.
final class MockCluster: Sendable {
    /// "127.0.0.1:p1,127.0.0.1:p2,..." (broker 1 first).
    let bootstrap: String
    /// Broker i+1 is `bootstrapServers[i]`.
    let bootstrapServers: [(host: String, port: Int)]
    let brokerCount: Int
    let server: HarnessServer

    private init(server: HarnessServer, bootstrap: String, brokers: Int) {
        self.server = server
        self.bootstrap = bootstrap
        self.bootstrapServers = parseBootstrap(bootstrap)
        self.brokerCount = brokers
    }

    static func start(brokers: Int = 3, startupTimeout: Double = 60) async throws -> MockCluster {
        let server = try await HarnessServer.launch(
            name: "mock", arguments: ["mock", "--brokers", String(brokers)],
            startupTimeout: startupTimeout)
        let hello = try server.decodeHello(Greeting.self)
        return MockCluster(server: server, bootstrap: hello.bootstrap, brokers: brokers)
    }

    /// Creates a topic; `replication` defaults to min(3, brokers).
    func createTopic(_ name: String, partitions: Int, replication: Int? = nil) async throws {
        var args: [String: JSONValue] = ["topic": .string(name), "partitions": .int(partitions)]
        if let replication { args["replication"] = .int(replication) }
        try await server.request("create_topic", args)
    }

    /// Moves a partition's leader; `broker` -1 leaves it without a leader.
    func setLeader(topic: String, partition: Int32, broker: Int32) async throws {
        try await server.request(
            "set_leader",
            ["topic": .string(topic), "partition": .int(Int(partition)), "broker_id": .int(Int(broker))])
    }

    /// Sets the broker a consumer should fetch from (follower fetching).
    func setFollower(topic: String, partition: Int32, broker: Int32) async throws {
        try await server.request(
            "set_follower",
            ["topic": .string(topic), "partition": .int(Int(partition)), "broker_id": .int(Int(broker))])
    }

    /// Disconnects the broker's clients and refuses new connections until `brokerUp`
    /// (no leader change). -1 = all brokers.
    func brokerDown(_ broker: Int32) async throws {
        try await server.request("broker_down", ["broker_id": .int(Int(broker))])
    }

    /// Makes the broker accept connections again. -1 = all brokers.
    func brokerUp(_ broker: Int32) async throws {
        try await server.request("broker_up", ["broker_id": .int(Int(broker))])
    }

    /// The next `errors.count` requests with `apiKey` (to any broker) fail with these
    /// codes, in order (`RdKafkaErr.transport` closes the connection instead).
    func pushRequestErrors(apiKey: Int16, errors: [Int32]) async throws {
        try await server.request(
            "push_request_errors",
            ["api_key": .int(Int(apiKey)), "errors": .array(errors.map { .int(Int($0)) })])
    }

    /// The next requests with `apiKey` to `broker` answer with these errors (0 = none)
    /// after these delays. Broker errors take precedence over cluster errors.
    func brokerPushRequestErrorRTTs(
        broker: Int32, apiKey: Int16, errors: [(error: Int32, rttMs: Int)]
    ) async throws {
        try await server.request(
            "broker_push_request_error_rtts",
            [
                "broker_id": .int(Int(broker)), "api_key": .int(Int(apiKey)),
                "errors": .array(errors.map { .array([.int(Int($0.error)), .int($0.rttMs)]) }),
            ])
    }

    /// How many errors are left on `broker`'s stack for `apiKey`.
    func brokerErrorStackCount(broker: Int32, apiKey: Int16) async throws -> Int {
        struct Reply: Decodable { var count: Int }
        let data = try await server.request(
            "broker_error_stack_cnt", ["broker_id": .int(Int(broker)), "api_key": .int(Int(apiKey))])
        return try JSONDecoder().decode(Reply.self, from: data).count
    }

    /// Delays every response from `broker` by `ms`. -1 = all brokers.
    func setRTT(broker: Int32, ms: Int) async throws {
        try await server.request("set_rtt", ["broker_id": .int(Int(broker)), "rtt_ms": .int(ms)])
    }

    /// Makes Metadata answers carry `error` for `topic` (0 clears it).
    func topicSetError(topic: String, error: Int32) async throws {
        try await server.request("topic_set_error", ["topic": .string(topic), "error": .int(Int(error))])
    }

    /// Changes the versions of `apiKey` the brokers advertise (-1/-1 removes the API).
    func setApiVersion(apiKey: Int16, min: Int16, max: Int16) async throws {
        try await server.request(
            "set_apiversion",
            ["api_key": .int(Int(apiKey)), "min": .int(Int(min)), "max": .int(Int(max))])
    }

    /// Drops the cluster-wide errors pushed for `apiKey`.
    func clearRequestErrors(apiKey: Int16) async throws {
        try await server.request("clear_request_errors", ["api_key": .int(Int(apiKey))])
    }

    /// Starts recording every request the brokers receive (see `requests()`).
    func startRequestTracking() async throws { try await server.request("start_request_tracking") }
    func stopRequestTracking() async throws { try await server.request("stop_request_tracking") }
    func clearRequests() async throws { try await server.request("clear_requests") }

    /// Requests recorded since `startRequestTracking()`, in arrival order.
    func requests() async throws -> [MockRequest] {
        struct Reply: Decodable { var requests: [MockRequest] }
        let data = try await server.request("get_requests")
        return try JSONDecoder().decode(Reply.self, from: data).requests
    }

    /// Destroys the cluster and stops its harness; does not wait. Idempotent.
    func stop() { server.stop() }

    func stopAndWait() async throws { try await server.stopAndWait() }

    deinit { server.stop() }
}
