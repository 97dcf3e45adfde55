import Foundation
import KafkaWire
import NIOCore
import Testing

/// Issue 10 item 4 end to end: `sluiced` killed with SIGKILL while its batches are on the
/// wire and Tansu has written them but their answers never came back (the relay swallows
/// produce responses), then restarted on the same spool. The in-doubt batches are resent
/// with the producer id, epoch and sequence numbers the spool recorded, so Tansu drops
/// them as duplicates: every buffered call is in Kafka exactly once. Without a usable
/// identity (the spool's producer ids edited to ones Tansu never gave) the replay falls
/// back to at least once and counts the calls in doubt.
@Suite("sluiced spool: no duplicates across kill -9", .serialized, .timeLimit(.minutes(4)))
struct GatewaySpoolExactlyOnceTests {
    typealias C = GatewaySpoolCrashTests

    static let onWire = ["--set", "producer.partition_onwire_limit=5"]

    @Test("batches Tansu wrote but whose acks died with sluiced are resent as sent: every buffered call in Kafka exactly once, in call order")
    func noDuplicates() async throws {
        let (tansu, relay) = try await FaultProxy.inFrontOfTansu()
        defer { tansu.stop() }
        defer { relay.stop() }
        try await tansu.createTopic("eos", partitions: Int(C.partitions))
        let run = try await C.crashAndRestart(
            spool: true, topic: "eos", tansu: tansu, relay: relay, beforeKill: .swallowResponses, extraArguments: Self.onWire)
        let resendCalls = run.reported("resend_calls") ?? -1
        print(
            "exactly once: \(run.buffered) buffered, \(run.acked) acked before kill -9, \(run.pendingAfterCrash ?? -1) in the spool without an outcome, "
                + "\(resendCalls) of them in \(run.reported("resend_batches") ?? -1) in-doubt batches resent under their old producer id; "
                + "after the restart \(run.lost) lost, \(run.duplicates) duplicates")
        #expect(resendCalls > 0, "\(run.checkReport)")
        #expect(run.checkReport.contains("producer_ids: id="), "\(run.checkReport)")
        #expect(run.reported("in_doubt_calls") == 0, "\(run.checkReport)")
        let resendLine = run.secondLog.split(separator: "\n").first { $0.contains("spool replay resends in-doubt batches under their old producer id") }
        #expect(resendLine?.contains("calls=\(resendCalls)") == true, "\(run.secondLog.suffix(2000))")
        #expect(!run.secondLog.contains("calls_in_doubt="), "\(run.secondLog.suffix(2000))")
        #expect(run.duplicates == 0, "calls written twice")
        C.check(run)
    }

    @Test("the spool's producer ids unknown to Tansu: the resend is refused, replayed at least once, the calls in doubt counted, nothing lost")
    func fallBackWhenTheIdentityIsUnusable() async throws {
        let (tansu, relay) = try await FaultProxy.inFrontOfTansu()
        defer { tansu.stop() }
        defer { relay.stop() }
        try await tansu.createTopic("eos-fallback", partitions: Int(C.partitions))
        let run = try await C.crashAndRestart(
            spool: true, topic: "eos-fallback", tansu: tansu, relay: relay, beforeKill: .swallowResponses,
            extraArguments: Self.onWire, editSpool: { try SpoolIdentityEditor.replaceProducerIds(in: $0) })
        let resendCalls = run.reported("resend_calls") ?? -1
        // Each partition producer logs the calls its resend could not keep.
        let inDoubt = run.secondLog.split(separator: "\n").filter { $0.contains("the old producer id was refused") }.reduce(0) { n, line in
            n + (line.split(separator: " ").first { $0.hasPrefix("calls_in_doubt=") }.flatMap { Int($0.dropFirst("calls_in_doubt=".count)) } ?? 0)
        }
        print(
            "at-least-once fallback: \(run.buffered) buffered, \(resendCalls) calls in in-doubt batches whose producer id Tansu does not know, "
                + "\(inDoubt) counted in doubt; after the restart \(run.lost) lost, \(run.duplicates) duplicates (what a replay under a new id gives)")
        #expect(resendCalls > 0, "\(run.checkReport)")
        #expect(inDoubt == resendCalls, "\(run.secondLog.suffix(3000))")
        // Tansu wrote at least one of the swallowed batches: those calls are there twice now.
        #expect(run.duplicates > 0)
        #expect(run.duplicates <= inDoubt)
        C.check(run, exactlyOnce: false)
    }

    @Test("restarted with idempotence off: nothing can be resent as sent; every call sent before the crash is counted in doubt, nothing lost")
    func fallBackWithoutIdempotence() async throws {
        let (tansu, relay) = try await FaultProxy.inFrontOfTansu()
        defer { tansu.stop() }
        defer { relay.stop() }
        try await tansu.createTopic("eos-off", partitions: Int(C.partitions))
        let run = try await C.crashAndRestart(
            spool: true, topic: "eos-off", tansu: tansu, relay: relay, beforeKill: .swallowResponses,
            extraArguments: Self.onWire, restartArguments: ["--set", "producer.idempotence=off"])
        let sent = (run.reported("resend_calls") ?? -1) + (run.reported("in_doubt_calls") ?? 0)
        let line = run.secondLog.split(separator: "\n").first { $0.contains("spool replay: calls in doubt") }
        let inDoubt = line?.split(separator: " ").first { $0.hasPrefix("calls_in_doubt=") }.flatMap { Int($0.dropFirst("calls_in_doubt=".count)) }
        print("idempotence off after the restart: \(sent) calls sent before the crash, \(inDoubt ?? -1) counted in doubt; \(run.lost) lost, \(run.duplicates) duplicates")
        #expect(sent > 0, "\(run.checkReport)")
        #expect(inDoubt == sent, "\(run.secondLog.suffix(3000))")
        #expect(run.duplicates > 0 && run.duplicates <= sent)
        C.check(run, exactlyOnce: false)
    }
}

/// Rewrites the producer id of every `sent` frame in a spool directory (and its CRC), as
/// a spool from another cluster would have: ids Tansu never gave.
enum SpoolIdentityEditor {
    static func replaceProducerIds(in directory: String) throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".spool") }
        var edited = 0
        for name in names {
            let url = URL(fileURLWithPath: directory + "/" + name)
            var bytes = [UInt8](try Data(contentsOf: url))
            var offset = 0
            // Frames: magic "SLSP", length, CRC-32C of the payload, payload (docs/spool.md).
            while offset + 12 <= bytes.count, bytes[offset..<offset + 4].elementsEqual(Array("SLSP".utf8)) {
                let length = bytes[offset + 4..<offset + 8].reduce(0) { $0 << 8 | Int($1) }
                let payload = offset + 12
                guard payload + length <= bytes.count else { break }
                if length > 9, bytes[payload] == 3 {
                    // Kind 3 (sent): the producer id follows, 8 bytes big-endian.
                    let unknown = Int64(0x3FFF_0000_0000)
                    for k in 0..<8 { bytes[payload + 1 + k] = UInt8(truncatingIfNeeded: unknown >> (56 - 8 * k)) }
                    let crc = CRC32C.checksum(bytes[payload..<payload + length])
                    for k in 0..<4 { bytes[offset + 8 + k] = UInt8(truncatingIfNeeded: crc >> (24 - 8 * k)) }
                    edited += 1
                }
                offset = payload + length
            }
            try Data(bytes).write(to: url)
        }
        if edited == 0 { throw SpoolEditError(message: "no sent frame in \(directory)") }
    }

    struct SpoolEditError: Error { var message: String }
}
