/// The idempotent producer's id and epoch (from InitProducerId).
public struct ProducerIdentity: Sendable, Hashable {
    public var producerId: Int64
    public var epoch: Int16
    public init(producerId: Int64, epoch: Int16) {
        self.producerId = producerId
        self.epoch = epoch
    }
}
