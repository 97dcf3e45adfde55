// The getting-started article of KafkaProducer (KafkaProducer.docc/GettingStarted.md)
// shows this program in slices; SwiftPM builds it, so the article's code compiles.
// snippet.configure
import KafkaProducer
import KafkaWire
import NIOCore
import NIOPosix

var configuration = ProducerConfiguration(bootstrap: BrokerAddress.parseList("127.0.0.1:9092")!)
configuration.defaults.partitionOnwireLimit = 5
configuration.defaults.maxLinger = .milliseconds(5)
configuration.defaults.compression = Compression(codec: .zstd)
try configuration.validate()  // a delivery timeout too short for linger + one request

let producer = Producer(configuration: configuration, eventLoop: MultiThreadedEventLoopGroup.singleton.next())
await producer.start()  // the periodic metadata refresh
// snippet.end

// snippet.send
let record = ProducerRecord(key: ByteBuffer(string: "user-42"), value: ByteBuffer(string: "hello"), timestamp: 0)
let receipt = try await producer.send(topic: "events", partition: .partitioner(.hash), records: [record])
let offset = try await receipt.acknowledgement()
// snippet.end
print("offset \(offset)")

// snippet.failures
do throws(ProduceError) {
    _ = try await producer.send(topic: "events", partition: .explicit(0), records: [record]).acknowledgement()
} catch {
    switch error.code {
    case .unknownTopic, .unknownPartition, .recordTooLarge:
        print("fix the call: \(error.message)")
    case .retriesExhausted, .deliveryTimeout:
        print("Kafka trouble; records \(error.persistence == .notPersisted ? "not" : "maybe") in Kafka")
    default:
        print(error)
    }
}
// snippet.end

// snippet.shutdown
await producer.flush()  // optional: every call so far has its outcome
await producer.shutdown(drainTimeout: .seconds(30))
// snippet.end
