/// The idempotent producer's id and epoch (from InitProducerId).
package struct ProducerIdentity: Sendable, Hashable {
    package var producerId: Int64
    package var epoch: Int16
    package init(producerId: Int64, epoch: Int16) {
        self.producerId = producerId
        self.epoch = epoch
    }
}
