// A SluiceClient example: one record with a key and a header, then ten pipelined calls.
//
//   swift run sluice-client-example [SOCKET] [TOPIC]
//
// (defaults: /run/sluice/sluiced.sock, events). No Foundation: the binary links only
// what SluiceClient needs, which scripts/check-client-deps shows with ldd.
import SluiceClient

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@main
struct Example {
    static func main() async {
        let arguments = CommandLine.arguments
        let socket = arguments.count > 1 ? arguments[1] : "/run/sluice/sluiced.sock"
        let topic = arguments.count > 2 ? arguments[2] : "events"
        do {
            try await run(socket: socket, topic: topic)
        } catch {
            // error.code: .unknownTopic, .notAuthorized, .connectFailed, .connectionLost
            // (with error.inDoubt)...
            print("error: \(error)")
            exit(1)
        }
    }

    static func run(socket: String, topic: String) async throws(SluiceClientError) {
        let client = try await SluiceClient.connect(path: socket)
        print("connected to sluiced \(client.version)")

        // Waits for Kafka's ack; the result is the record's offset.
        let offset = try await client.produce(
            topic: topic,
            records: [ProducerRecord(key: "user-42", value: "hello from Swift", headers: [RecordHeader(key: "source", value: "example")])])
        print("produced at offset \(offset)")

        // Pipelined: enqueue returns once the gateway has buffered the call; acks later.
        var calls: [ProduceCall] = []
        for i in 0..<10 {
            calls.append(try await client.enqueue(topic: topic, records: [ProducerRecord(key: "user-42", value: "event \(i)")]))
        }
        for call in calls {
            let ack = try await call.acked()
            print("call \(call.ref): partition \(ack.partition) offset \(ack.baseOffset)")
        }
        await client.close()
    }
}
