import Foundation
import KafkaProducer
import KafkaWire
import NIOCore
import NIOPosix
import Testing

/// Builds producers and calls for the engine's integration tests, and checks what a
/// real consumer read back against what was acked.
enum EngineSupport {
    static func producer(bootstrap: String, _ configure: (inout ProducerConfiguration) -> Void = { _ in }) -> Producer {
        let addresses = BrokerAddress.parseList(bootstrap) ?? []
        var configuration = ProducerConfiguration(bootstrap: addresses)
        configure(&configuration)
        return Producer(configuration: configuration, eventLoop: MultiThreadedEventLoopGroup.singleton.next())
    }

    static func record(_ key: String?, _ value: String, timestamp: Int64 = 1_700_000_000_000) -> ProducerRecord {
        ProducerRecord(key: key.map { ByteBuffer(string: $0) }, value: ByteBuffer(string: value), headers: [], timestamp: timestamp)
    }

    /// One call as the test remembers it: where it went, what it carried, how it ended.
    struct Call: Sendable {
        var index: Int
        var partition: Int32
        var values: [String]
        var outcome: Result<Int64, ProduceError>?
    }

    /// Collects outcomes from callbacks (which run on the engine's loop).
    final class Outcomes: @unchecked Sendable {
        private let lock = NSLock()
        private var results: [Int: Result<Int64, ProduceError>] = [:]

        func record(_ index: Int, _ result: Result<Int64, ProduceError>) {
            lock.lock()
            defer { lock.unlock() }
            precondition(results[index] == nil, "call \(index) got two outcomes")
            results[index] = result
        }

        var count: Int {
            lock.lock()
            defer { lock.unlock() }
            return results.count
        }

        var all: [Int: Result<Int64, ProduceError>] {
            lock.lock()
            defer { lock.unlock() }
            return results
        }

        /// Waits until `n` outcomes arrived, or the deadline passes.
        func wait(for n: Int, seconds: Double) async -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while count < n {
                if Date() > deadline { return false }
                try? await Task.sleep(nanoseconds: 20_000_000)
            }
            return true
        }
    }

    /// Checks that every acked call's records are in Kafka exactly once, at the acked
    /// offsets, in call order per partition, and that nothing unacked-but-failed was
    /// duplicated. Returns the number of acked records.
    @discardableResult
    static func verify(
        calls: [Call], consumed: [ConsumedRecord], allowDuplicates: Bool = false, allowedReorders: Int = 0,
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> Int {
        var byPosition: [String: ConsumedRecord] = [:]
        var seenValues: [String: Int] = [:]
        for r in consumed {
            byPosition["\(r.partition)/\(r.offset)"] = r
            if let v = r.valueString { seenValues[v, default: 0] += 1 }
        }
        let duplicates = seenValues.filter { $0.value > 1 }
        #expect(allowDuplicates || duplicates.isEmpty, "records read more than once: \(duplicates.keys.sorted().prefix(5))", sourceLocation: sourceLocation)
        var ackedRecords = 0
        var lastOffset: [Int32: Int64] = [:]
        var reorders: [String] = []
        for call in calls.sorted(by: { $0.index < $1.index }) {
            guard case .success(let base)? = call.outcome else { continue }
            for (i, value) in call.values.enumerated() {
                let got = byPosition["\(call.partition)/\(base + Int64(i))"]
                #expect(got?.valueString == value, "call \(call.index) record \(i) at \(call.partition)/\(base + Int64(i))", sourceLocation: sourceLocation)
                ackedRecords += 1
            }
            if let last = lastOffset[call.partition], base <= last {
                reorders.append("call \(call.index) at \(call.partition)/\(base), behind an earlier call at \(last)")
            }
            lastOffset[call.partition] = max(base, lastOffset[call.partition] ?? base)
        }
        #expect(reorders.count <= allowedReorders, "\(reorders.count) calls out of call order (allowed \(allowedReorders)): \(reorders.prefix(3))", sourceLocation: sourceLocation)
        return ackedRecords
    }

    /// How many calls (values "c<call>-r<i>") appear more than once.
    static func duplicatedCalls(_ consumed: [ConsumedRecord]) -> Int {
        var counts: [String: Int] = [:]
        for r in consumed { if let v = r.valueString { counts[v, default: 0] += 1 } }
        let calls = Set(counts.filter { $0.value > 1 }.keys.compactMap { $0.split(separator: "-").first.map(String.init) })
        return calls.count
    }
}
