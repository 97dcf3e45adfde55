import KafkaProducer
import KafkaWire
import Testing

@Suite("KafkaClusterError")
struct KafkaClusterErrorTests {
    @Test("each code keeps its name and becomes the engine's code of the same name, with the details")
    func toProduceError() {
        for base in KafkaClusterError.Code.Base.allCases {
            let cluster = KafkaClusterError(.init(base), "lookup failed", kafkaError: .leaderNotAvailable, partition: 2)
            let produce = ProduceError(cluster)
            #expect(cluster.code.description == base.rawValue)
            #expect(produce.code.description == cluster.code.description)
            #expect(produce.message == "lookup failed")
            #expect(produce.kafkaError == .leaderNotAvailable)
            #expect(produce.partition == 2)
            #expect(produce.persistence == .notPersisted, "a lookup sends no records")
        }
        #expect(KafkaClusterError(.noLeader, "no metadata for t/0").description == "noLeader: no metadata for t/0")
    }
}
