import Foundation
import KafkaProducer
import KafkaWire
import NIOCore
import NIOPosix
import Testing

@Suite("Idempotence probe")
struct IdempotenceProbeTests {
    @Test func tansuDeduplicatesAResentBatch() async throws {
        let broker = try await TansuBroker.start()
        defer { broker.stop() }
        try await broker.createTopic("dedup", partitions: 1)
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let c = try await BrokerConnection.connect(to: BrokerAddress(host: broker.host, port: broker.port), eventLoop: loop)
        let id = try await c.send(InitProducerIdRequest(transactionalId: nil, transactionTimeoutMs: -1))
        print("PID", id)
        func batch(_ seq: Int32, _ v: String) throws -> ProduceRequest {
            var b = ByteBuffer()
            try RecordBatchEncoder.encode([ProducerRecord(key: nil, value: ByteBuffer(string: v), timestamp: 1)], producerId: id.producerId, producerEpoch: id.producerEpoch, baseSequence: seq, into: &b)
            return ProduceRequest(transactionalId: nil, acks: -1, timeoutMs: 5000, topicData: [.init(name: "dedup", partitionData: [.init(index: 0, records: b)])])
        }
        for (seq, v) in [(Int32(0), "a"), (0, "a"), (1, "b"), (1, "b"), (3, "gap")] {
            let r = try await c.send(try batch(seq, v))
            print("seq", seq, r.responses[0].partitionResponses[0].errorCode, r.responses[0].partitionResponses[0].baseOffset)
        }
        let got = try await Consumer.readAll(bootstrap: broker.bootstrap, topic: "dedup", idleMs: 3000)
        print(got.map { $0.valueString ?? "nil" })
    }
}
