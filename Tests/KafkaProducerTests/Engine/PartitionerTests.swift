import Testing

@testable import KafkaProducer

@Suite struct PartitionerTests {
    /// Kafka's own vectors (UtilsTest.testMurmur2 in the Java client).
    @Test(arguments: [
        ("21", Int32(-973_932_308)),
        ("foobar", -790_332_482),
        ("a-little-bit-long-string", -985_981_536),
        ("a-little-bit-longer-string", -1_486_304_829),
        ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971),
        ("abc", 479_470_107),
    ])
    func murmur2MatchesTheJavaClient(key: String, expected: Int32) {
        #expect(Murmur2.hash(Array(key.utf8)) == expected)
    }

    @Test func hashPartitionIsToPositiveModulo() {
        // toPositive(-973932308) = 1173551340; % 7 = 1173551340 - 7*167650191 = 3
        #expect(Partitioner.hash.partition(key: Array("21".utf8), partitionCount: 7) == 3)
        for n in [1, 3, 16] {
            for i in 0..<200 {
                let p = Partitioner.hash.partition(key: Array("key-\(i)".utf8), partitionCount: n)
                #expect((0..<Int32(n)).contains(p))
                #expect(p == Partitioner.hash.partition(key: Array("key-\(i)".utf8), partitionCount: n))
            }
        }
    }

    @Test func nullKeyAndRandomStayInRange() {
        var seen = Set<Int32>()
        for _ in 0..<400 {
            let p = Partitioner.hash.partition(key: [UInt8]?.none, partitionCount: 4)
            let q = Partitioner.random.partition(key: Array("k".utf8), partitionCount: 4)
            #expect((0..<4).contains(p) && (0..<4).contains(q))
            seen.insert(q)
        }
        #expect(seen.count == 4, "400 random picks over 4 partitions hit every one")
    }
}
