/// Keyless calls under `Partitioner.hash`: the core's use of `StickyPartitioner`.
extension ProducerCore {
    /// The partition of a keyless call to `topic`: the topic's sticky partition.
    func keylessPartition(topic: String, partitionCount: Int, settings: ProducerSettings) -> Int32 {
        if keyless[topic] == nil {
            keyless[topic] = StickyPartitioner(switchBytes: settings.stickyPartitionBytes, random: SystemRandomNumberGenerator())
        }
        let partitions = self.partitions
        // Mutated in place (a copy would copy the partitioner's round on every call).
        return keyless[topic]!.partition(partitionCount: partitionCount) { p in
            guard let producer = partitions[TopicPartitionKey(topic: topic, partition: p)] else { return 0 }
            let depth = producer.assumeIsolated { $0.depth }
            return depth.pending + depth.buffered
        }
    }

    /// A keyless call went to the partition `keylessPartition` gave; `held`: that
    /// partition's buffer was full.
    func keylessAppended(topic: String, bytes: Int, held: Bool) {
        keyless[topic]?.appended(bytes: bytes, held: held)
    }
}
