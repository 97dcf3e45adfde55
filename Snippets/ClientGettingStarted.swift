// The getting-started article of SluiceClient (SluiceClient.docc/GettingStarted.md)
// shows this program in slices; SwiftPM builds it, so the article's code compiles.
// snippet.connect
import SluiceClient

let client = try await SluiceClient.connect(path: "/run/sluice/sluiced.sock")
print("connected to \(client.version)")
// snippet.end

// snippet.produce
let offset = try await client.produce(
    topic: "events",
    records: [ProducerRecord(key: "user-42", value: "hello", headers: [RecordHeader(key: "source", value: "example")])])
// snippet.end
print("offset \(offset)")

// snippet.pipeline
var calls: [ProduceCall] = []
for i in 0..<10 {
    calls.append(try await client.enqueue(topic: "events", records: [ProducerRecord(key: "user-42", value: "event \(i)")]))
}
for call in calls {
    let ack = try await call.acked()
    print("partition \(ack.partition) offset \(ack.baseOffset)")
}
// snippet.end

// snippet.failures
do throws(SluiceClientError) {
    _ = try await client.produce(topic: "nope", records: [ProducerRecord(value: "x")])
} catch {
    switch error.code {
    case .unknownTopic, .notAuthorized: print("fix the call: \(error.message)")
    case .connectionLost: print("connection lost; in doubt: \(error.inDoubt)")
    default: print(error)
    }
}
await client.close()
// snippet.end
