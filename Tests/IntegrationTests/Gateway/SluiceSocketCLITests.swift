import Foundation
import Gateway
import Testing

/// The `sluice` executable's socket subcommands against a gateway in front of the mock
/// cluster: ping, metadata, produce (explicit partition, hashed, no-ack, a refusal).
@Suite("sluice produce / ping / metadata", .timeLimit(.minutes(1)))
struct SluiceSocketCLITests {
    typealias S = GatewayTestSupport

    @Test("the CLI talks to sluiced: answers, offsets, and records a consumer reads back")
    func socketCommands() async throws {
        let mock = try await MockCluster.start(brokers: 1)
        defer { mock.stop() }
        try await mock.createTopic("cli-socket", partitions: 2)
        let socket = S.socketPath("cli")
        let app = try await S.start(S.configuration(bootstrap: mock.bootstrap, socket: socket))

        let ping = try await SluiceCLITests.sluice(["ping", "--socket", socket])
        #expect(ping.status == 0 && ping.stdout == "sluiced \(GatewayApp.version)\n", "\(ping)")
        let metadata = try await SluiceCLITests.sluice(["metadata", "--socket", socket, "--topic", "cli-socket"])
        #expect(metadata.stdout == "topic=cli-socket partitions=2\n", "\(metadata)")

        let explicit = try await SluiceCLITests.sluice([
            "produce", "--socket", socket, "--topic", "cli-socket", "--partition", "1", "--count", "6",
            "--records-per-call", "3", "--key-prefix", "k-", "--value-prefix", "v-", "--print-offsets",
        ])
        #expect(explicit.status == 0, "\(explicit.stderr)")
        #expect(
            explicit.stdout.split(separator: "\n").sorted()
                == [
                    "partition=1 base_offset=0 count=3 first_record=0", "partition=1 base_offset=3 count=3 first_record=3",
                    "topic=cli-socket calls=2 records=6 acked=2 failed=0",
                ])
        let hashed = try await SluiceCLITests.sluice([
            "produce", "--socket", socket, "--topic", "cli-socket", "--count", "200", "--key-prefix", "h-", "--window", "50",
        ])
        #expect(hashed.stdout == "topic=cli-socket calls=200 records=200 acked=200 failed=0\n", "\(hashed)")
        let noAck = try await SluiceCLITests.sluice([
            "produce", "--socket", socket, "--topic", "cli-socket", "--partition", "0", "--count", "10", "--no-ack",
        ])
        #expect(noAck.stdout == "topic=cli-socket calls=10 records=10 acked=10 failed=0\n", "\(noAck)")
        let refused = try await SluiceCLITests.sluice([
            "produce", "--socket", socket, "--topic", "no-such-topic", "--partition", "0", "--count", "1",
        ])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("UNKNOWN_TOPIC") && refused.stderr.contains("no-such-topic"), "\(refused.stderr)")

        let consumed = try await Consumer.readAll(bootstrap: mock.bootstrap, topic: "cli-socket", expect: 216)
        #expect(consumed.count == 216)
        #expect(consumed.filter { $0.partition == 1 }.prefix(6).map(\.keyString) == (0..<6).map { "k-\($0)" })
        await app.shutdown()

        let down = try await SluiceCLITests.sluice(["ping", "--socket", socket])
        #expect(down.status == 1 && down.stderr.contains(socket), "\(down)")
    }
}
