/// How a call without an explicit partition picks one.
public enum Partitioner: Sendable, Equatable {
    /// Kafka's Java-client hash: `toPositive(murmur2(key)) % partitions`, so keyed
    /// records land where Java (and librdkafka's `murmur2_random`) producers put them.
    /// For a null (empty) key this function gives a random partition, as
    /// `murmur2_random` does. The engine itself does not call it for keyless calls:
    /// it sticks to one partition per topic for a while (`StickyPartitioner`).
    case hash
    /// A uniformly random partition.
    case random

    /// The partition for `key` among `partitionCount` partitions.
    package func partition<Key: Collection>(key: Key?, partitionCount: Int) -> Int32 where Key.Element == UInt8 {
        precondition(partitionCount > 0, "partition count must be positive")
        switch self {
        case .hash:
            guard let key, !key.isEmpty else { return Int32.random(in: 0..<Int32(partitionCount)) }
            return Int32(Murmur2.toPositive(Murmur2.hash(key)) % Int32(partitionCount))
        case .random:
            return Int32.random(in: 0..<Int32(partitionCount))
        }
    }
}

/// Murmur2 (32-bit), exactly as `org.apache.kafka.common.utils.Utils.murmur2`.
package enum Murmur2 {
    package static func hash<Bytes: Collection>(_ data: Bytes) -> Int32 where Bytes.Element == UInt8 {
        let bytes = Array(data)
        let length = bytes.count
        let m: UInt32 = 0x5bd1_e995
        let r: UInt32 = 24
        var h: UInt32 = 0x9747_b28c ^ UInt32(truncatingIfNeeded: length)
        let blocks = length / 4
        for i in 0..<blocks {
            let j = i * 4
            var k = UInt32(bytes[j]) | UInt32(bytes[j + 1]) << 8 | UInt32(bytes[j + 2]) << 16 | UInt32(bytes[j + 3]) << 24
            k &*= m
            k ^= k >> r
            k &*= m
            h &*= m
            h ^= k
        }
        let tail = length & ~3
        switch length % 4 {
        case 3:
            h ^= UInt32(bytes[tail + 2]) << 16
            h ^= UInt32(bytes[tail + 1]) << 8
            h ^= UInt32(bytes[tail])
            h &*= m
        case 2:
            h ^= UInt32(bytes[tail + 1]) << 8
            h ^= UInt32(bytes[tail])
            h &*= m
        case 1:
            h ^= UInt32(bytes[tail])
            h &*= m
        default:
            break
        }
        h ^= h >> 13
        h &*= m
        h ^= h >> 15
        return Int32(bitPattern: h)
    }

    /// Java's `Utils.toPositive`: clears the sign bit (not `abs`, which overflows).
    package static func toPositive(_ n: Int32) -> Int32 { n & 0x7fff_ffff }
}
