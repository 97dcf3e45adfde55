import Foundation
import Gateway
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SluiceClient
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The Swift client (`SluiceClient`) against a real `sluiced` child process and Tansu,
/// records read back with confluent-kafka's consumer.
@Suite("SluiceClient with sluiced and Tansu", .serialized, .timeLimit(.minutes(4)))
struct SluiceClientTests {
    typealias T = ClientTestSupport

    @Test("produce, enqueue, submit and no-ack: keys, headers, timestamps and offsets as the consumer reads them")
    func produceAndReadBack() async throws {
        let tansu = try await TansuBroker.start()
        defer { tansu.stop() }
        try await tansu.createTopic("sc-produce", partitions: 3)
        let daemon = try await T.sluiced(bootstrap: tansu.bootstrap)
        defer { daemon.stop() }
        let client = try await SluiceClient.connect(path: daemon.socket)
        let log = ReplyLog(client)
        #expect(client.version == GatewayApp.version)
        #expect(try await client.ping() == GatewayApp.version)
        #expect(try await client.metadata(topic: "sc-produce") == 3)

        // One call of two records: key, repeated and empty headers, an explicit
        // CreateTime; a null key, an empty value, a timestamp for the gateway to stamp.
        let before = T.nowMs()
        let first = try await client.produceAck(
            topic: "sc-produce", partitioning: .partition(1),
            records: [
                ProducerRecord(
                    key: "k-1", value: "v-1",
                    headers: [RecordHeader(key: "h", value: "1"), RecordHeader(key: "h", value: "2"), RecordHeader(key: "e", value: "")],
                    timestamp: 1_700_000_000_123),
                ProducerRecord(key: nil, value: "", timestamp: 0),
            ])
        let after = T.nowMs()
        #expect(first.partition == 1)

        // Pipelined: 20 calls enqueued (each returns at buffered), acks awaited after.
        var pending: [ProduceCall] = []
        for i in 0..<20 {
            pending.append(try await client.enqueue(topic: "sc-produce", partitioning: .partition(2), records: [.init(key: "e-\(i)", value: "enq-\(i)")]))
        }
        #expect(pending.allSatisfy { $0.partition == 2 })
        var offsets: [Int64] = []
        for call in pending { offsets.append(try await call.acked().baseOffset) }
        #expect(offsets == offsets.sorted() && Set(offsets).count == 20, "\(offsets)")

        // Submitted: the replies come on the stream, buffered then acked, one partition
        // for one key.
        var refs: [UInt64] = []
        for i in 0..<10 {
            refs.append(try await client.submit(topic: "sc-produce", records: [.init(key: "same", value: "sub-\(i)")]))
        }
        try await waitUntil(timeout: 30, "10 submitted calls' acks") { log.finished.isSuperset(of: refs) }
        var submittedPartitions: Set<Int32> = []
        var submitted: [(Int32, Int64, String)] = []
        for (i, ref) in refs.enumerated() {
            let events = log.replies(for: ref)
            guard events.count == 2, case .buffered(let p) = events[0], case .acked(let a) = events[1], a.partition == p else {
                Issue.record("ref \(ref): \(events)")
                continue
            }
            submittedPartitions.insert(p)
            submitted.append((p, a.baseOffset, "sub-\(i)"))
        }
        #expect(submittedPartitions.count == 1)

        // No-ack: nothing comes back for accepted calls.
        for i in 0..<5 { try await client.produceNoAck(topic: "sc-produce", partitioning: .partition(0), records: [.init(value: "na-\(i)")]) }
        _ = try await client.ping()

        let consumed = try await Consumer.readAll(bootstrap: tansu.bootstrap, topic: "sc-produce", expect: 37, idleMs: 5000)
        #expect(consumed.count == 37)
        func at(_ partition: Int32, _ offset: Int64) -> ConsumedRecord? {
            consumed.first { $0.partition == partition && $0.offset == offset }
        }
        let r0 = at(1, first.baseOffset)
        #expect(r0?.keyString == "k-1" && r0?.valueString == "v-1")
        #expect(r0?.headers == [.init("h", "1"), .init("h", "2"), .init("e", "")])
        #expect(r0?.timestamp == 1_700_000_000_123 && r0?.timestampType == 1)
        let r1 = at(1, first.baseOffset + 1)
        #expect(r1 != nil && r1?.key == nil && r1?.value == [])
        if let ts = r1?.timestamp { #expect(ts >= before - 1000 && ts <= after + 1000, "stamped \(ts), call between \(before) and \(after)") }
        for (i, offset) in offsets.enumerated() {
            #expect(at(2, offset)?.valueString == "enq-\(i)" && at(2, offset)?.keyString == "e-\(i)")
        }
        for (p, offset, value) in submitted { #expect(at(p, offset)?.valueString == value) }
        #expect(Set(consumed.filter { $0.partition == 0 }.compactMap(\.valueString)).isSuperset(of: (0..<5).map { "na-\($0)" }))
        await client.close()
        #expect(await clientError { try await client.ping() }?.code == .closed)
    }

    @Test("failed codes: UNKNOWN_TOPIC (produce, metadata, no-ack), NOT_AUTHORIZED per topic and at connect, local checks")
    func failedCodes() async throws {
        let tansu = try await TansuBroker.start()
        defer { tansu.stop() }
        try await tansu.createTopic("sc-allowed", partitions: 1)
        try await tansu.createTopic("sc-denied", partitions: 1)
        let plain = try await T.sluiced(bootstrap: tansu.bootstrap)
        defer { plain.stop() }
        let client = try await SluiceClient.connect(path: plain.socket)
        let log = ReplyLog(client)

        let unknown = await clientError { try await client.produce(topic: "sc-no-such-topic", records: [.init(value: "x")]) }
        #expect(unknown?.code == .unknownTopic && unknown?.ref != 0 && unknown?.inDoubt == false, "\(String(describing: unknown))")
        #expect(unknown?.message.contains("sc-no-such-topic") == true)
        let unknownMetadata = await clientError { try await client.metadata(topic: "sc-no-such-topic") }
        #expect(unknownMetadata?.code == .unknownTopic)
        let noAckRef = try await client.produceNoAck(topic: "sc-no-such-topic", records: [.init(value: "x")])
        #expect(noAckRef & (1 << 63) != 0)
        try await waitUntil(timeout: 10, "the no-ack rejection") { !log.replies(for: noAckRef).isEmpty }
        guard case .failed(let rejected) = log.replies(for: noAckRef).first else {
            Issue.record("\(log.all)")
            return
        }
        #expect(rejected.code == .unknownTopic)

        // Refused before sending.
        #expect(await clientError { try await client.produce(topic: "", records: [.init(value: "x")]) }?.code == .invalidArgument)
        #expect(await clientError { try await client.produce(topic: "sc-allowed", records: []) }?.code == .invalidArgument)
        #expect(await clientError { try await client.produce(topic: "a\u{0}b", records: [.init(value: "x")]) }?.code == .invalidArgument)
        var small = SluiceClient.Configuration()
        small.maxFrameBytes = 1024
        let limited = try await SluiceClient.connect(path: plain.socket, configuration: small)
        let big = await clientError {
            try await limited.produce(topic: "sc-allowed", records: [.init(value: String(repeating: "b", count: 2000))])
        }
        #expect(big?.code == .invalidArgument)
        #expect(try await limited.ping() == GatewayApp.version, "a refused call leaves the connection as it was")
        await limited.close()
        await client.close()

        // Topic rules: this peer may produce to sc-allowed only; the connection goes on
        // after a refusal.
        let uid = getuid()
        let ruled = try await T.sluiced(
            bootstrap: tansu.bootstrap, config: "[[security.topic_rules]]\ntopics = [\"sc-allowed\"]\nuids = [\(uid)]\n")
        defer { ruled.stop() }
        let peer = try await SluiceClient.connect(path: ruled.socket)
        #expect(try await peer.produce(topic: "sc-allowed", records: [.init(value: "yes")]) >= 0)
        let denied = await clientError { try await peer.produce(topic: "sc-denied", records: [.init(value: "no")]) }
        #expect(denied?.code == .notAuthorized && denied?.code.description == "NOT_AUTHORIZED", "\(String(describing: denied))")
        #expect(denied?.ref != 0 && denied?.inDoubt == false)
        #expect(try await peer.metadata(topic: "sc-denied") == 1, "metadata is not restricted")
        #expect(try await peer.produce(topic: "sc-allowed", records: [.init(value: "still")]) >= 0, "the connection goes on")
        await peer.close()

        let consumed = try await Consumer.readAll(bootstrap: tansu.bootstrap, topic: "sc-allowed", expect: 2)
        #expect(consumed.compactMap(\.valueString) == ["yes", "still"])
        #expect(try await Consumer.readAll(bootstrap: tansu.bootstrap, topic: "sc-denied", idleMs: 3000).isEmpty)

        // A peer outside allowed_uids is refused at connect, with the gateway's code.
        let other = try await T.sluiced(bootstrap: tansu.bootstrap, config: "[security]\nallowed_uids = [\(uid + 4242)]\n")
        defer { other.stop() }
        // On a loop of its own, with time to spare: CI once saw this handshake go
        // unanswered for 5 s while another suite drove 50,000 calls through the shared
        // loops of this process (the refusal was logged by sluiced at once).
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var isolated = SluiceClient.Configuration()
        isolated.eventLoopGroup = group
        isolated.connectTimeout = .seconds(15)
        let refused = await clientError { try await SluiceClient.connect(path: other.socket, configuration: isolated) }
        #expect(refused?.code == .notAuthorized, "\(String(describing: refused))")
        try? await group.shutdownGracefully()
        let nobody = await clientError { try await SluiceClient.connect(path: other.socket + ".none") }
        #expect(nobody?.code == .connectFailed && nobody?.message.contains(other.socket + ".none") == true)
    }

    @Test("sluiced restarting under a connected client: a drain acks what was buffered, a kill fails calls in doubt, the next call reconnects")
    func daemonRestarts() async throws {
        let tansu = try await TansuBroker.start()
        defer { tansu.stop() }
        defer { T.resume(tansu) }
        try await tansu.createTopic("sc-restart", partitions: 1)
        let socket = GatewayTestSupport.socketPath("restart")
        var daemon = try await T.sluiced(bootstrap: tansu.bootstrap, socket: socket)
        defer { daemon.stop() }
        let client = try await SluiceClient.connect(path: socket)
        _ = try await client.produce(topic: "sc-restart", partitioning: .partition(0), records: [.init(value: "before")])

        // SIGTERM with calls buffered (broker paused): the drain answers them all.
        try await T.pause(tansu)
        var drained: [ProduceCall] = []
        for i in 0..<3 {
            drained.append(try await client.enqueue(topic: "sc-restart", partitioning: .partition(0), records: [.init(value: "drain-\(i)")]))
        }
        daemon.signal(SIGTERM)
        try await Task.sleep(for: .milliseconds(300))
        T.resume(tansu)
        for call in drained { _ = try await call.acked() }
        #expect(try await daemon.waitForExit(timeout: 30) == 0)
        let down = await clientError { try await client.ping() }
        #expect(down?.code == .connectFailed, "no gateway: \(String(describing: down))")

        daemon = try await T.sluiced(bootstrap: tansu.bootstrap, socket: socket)
        _ = try await client.produce(topic: "sc-restart", partitioning: .partition(0), records: [.init(value: "after-term")])

        // SIGKILL with calls in flight: they fail as in doubt; nothing is resent.
        try await T.pause(tansu)
        var lost: [ProduceCall] = []
        for i in 0..<3 {
            lost.append(try await client.enqueue(topic: "sc-restart", partitioning: .partition(0), records: [.init(value: "lost-\(i)")]))
        }
        daemon.signal(SIGKILL)
        for call in lost {
            let e = await clientError { try await call.acked() }
            #expect(e?.code == .connectionLost && e?.inDoubt == true && e?.ref == call.ref, "\(String(describing: e))")
        }
        _ = try await daemon.waitForExit(timeout: 30)
        T.resume(tansu)
        daemon = try await T.sluiced(bootstrap: tansu.bootstrap, socket: socket)
        _ = try await client.produce(topic: "sc-restart", partitioning: .partition(0), records: [.init(value: "after-kill")])

        let values = try await Consumer.readAll(bootstrap: tansu.bootstrap, topic: "sc-restart", idleMs: 4000).compactMap(\.valueString)
        #expect(Array(values.prefix(5)) == ["before", "drain-0", "drain-1", "drain-2", "after-term"])
        #expect(values.last == "after-kill")
        // The in-doubt calls may or may not be in Kafka (the broker may have had them),
        // but never twice: the client did not resend them.
        for i in 0..<3 { #expect(values.filter { $0 == "lost-\(i)" }.count <= 1) }
        await client.close()
    }

    @Test("the README's example program produces its records, read back by the consumer")
    func example() async throws {
        let tansu = try await TansuBroker.start()
        defer { tansu.stop() }
        try await tansu.createTopic("sc-example", partitions: 1)
        let daemon = try await T.sluiced(bootstrap: tansu.bootstrap)
        defer { daemon.stop() }
        let binary = URL(fileURLWithPath: GatewayTestSupport.sluicedPath).deletingLastPathComponent()
            .appendingPathComponent("sluice-client-example")
        try #require(FileManager.default.isExecutableFile(atPath: binary.path), "build it: swift build")
        let process = Process()
        process.executableURL = binary
        process.arguments = [daemon.socket, "sc-example"]
        let result = try await runProcess(process, name: "sluice-client-example", timeout: 60)
        let output = String(decoding: result.stdout, as: UTF8.self)
        #expect(result.status == 0, "\(output)\(String(decoding: result.stderr, as: UTF8.self))")
        #expect(output.contains("produced at offset 0"), "\(output)")
        let consumed = try await Consumer.readAll(bootstrap: tansu.bootstrap, topic: "sc-example", expect: 11)
        #expect(consumed.compactMap(\.valueString) == ["hello from Swift"] + (0..<10).map { "event \($0)" })
        #expect(consumed.first?.keyString == "user-42" && consumed.first?.headers == [.init("source", "example")])

        let failing = Process()
        failing.executableURL = binary
        failing.arguments = [daemon.socket + ".absent", "sc-example"]
        let failed = try await runProcess(failing, name: "sluice-client-example", timeout: 30)
        #expect(failed.status == 1 && String(decoding: failed.stdout, as: UTF8.self).contains("connectFailed"))
    }
}

/// Back-pressure through the client; timing-bound (the call on the wire must have left
/// the buffer), so scripts/test runs it with the other timing suites.
@Suite("SluiceClient back-pressure", .timeLimit(.minutes(2)))
struct SluiceClientBackPressureTests {
    typealias T = ClientTestSupport

    @Test("back-pressure: with partition_buffer_limit = 2 and the broker paused, two calls are buffered behind the one on the wire and enqueue waits")
    func backPressure() async throws {
        let tansu = try await TansuBroker.start()
        defer { tansu.stop() }
        defer { T.resume(tansu) }
        try await tansu.createTopic("sc-held", partitions: 1)
        let daemon = try await T.sluiced(bootstrap: tansu.bootstrap, settings: ["producer.partition_buffer_limit=2"])
        defer { daemon.stop() }
        let client = try await SluiceClient.connect(path: daemon.socket)
        let log = ReplyLog(client)
        // Warm up: metadata, the broker connection and the producer id before the pause.
        _ = try await client.produce(topic: "sc-held", partitioning: .partition(0), records: [.init(value: "warm")])

        try await T.pause(tansu)
        let onWire = try await client.enqueue(topic: "sc-held", partitioning: .partition(0), records: [.init(value: "held-0")])
        // Sent to the paused broker, out of the buffer: on a loaded machine that can take a
        // while after its buffered reply.
        try await Task.sleep(for: .milliseconds(1000))
        var refs: [UInt64] = []
        for i in 1...10 {
            refs.append(try await client.submit(topic: "sc-held", partitioning: .partition(0), records: [.init(value: "held-\(i)")]))
        }
        try await waitUntil(timeout: 10, "the buffer to fill") { log.bufferedRefs.count >= 2 }
        try await Task.sleep(for: .milliseconds(500))
        #expect(log.bufferedRefs == Set(refs.prefix(2)), "buffered: \(log.bufferedRefs.sorted()), submitted \(refs)")
        #expect(log.finished.isEmpty, "nothing finished while the broker is paused")

        // An enqueue behind the held calls does not return while the buffer is full.
        let returned = NIOLockedValueBoxFlag()
        let waiting = Task {
            let call = try await client.enqueue(topic: "sc-held", partitioning: .partition(0), records: [.init(value: "held-11")])
            returned.set()
            return call
        }
        try await Task.sleep(for: .milliseconds(700))
        #expect(!returned.isSet, "enqueue returned while the partition's buffer was full")

        T.resume(tansu)
        let last = try await waiting.value
        let lastAck = try await last.acked()
        let firstAck = try await onWire.acked()
        try await waitUntil(timeout: 30, "the held calls' acks") { log.finished.isSuperset(of: refs) }
        var previous = firstAck.baseOffset
        for ref in refs {
            guard case .acked(let a)? = log.replies(for: ref).last else {
                Issue.record("ref \(ref): \(log.replies(for: ref))")
                continue
            }
            #expect(a.baseOffset == previous + 1, "acked in order")
            previous = a.baseOffset
        }
        #expect(lastAck.baseOffset == previous + 1)
        let consumed = try await Consumer.readAll(bootstrap: tansu.bootstrap, topic: "sc-held", expect: 13)
        #expect(consumed.compactMap(\.valueString) == ["warm"] + (0...11).map { "held-\($0)" })
        await client.close()
    }
}

/// A flag set from one task and read from another.
final class NIOLockedValueBoxFlag: Sendable {
    private let box = NIOLockedValueBox(false)
    func set() { box.withLockedValue { $0 = true } }
    var isSet: Bool { box.withLockedValue { $0 } }
}
