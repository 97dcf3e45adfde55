// The record value types live in KafkaRecords so that the socket protocol (and its
// client) can use them without this module's compression libraries; re-exported so that
// `import KafkaWire` keeps giving them.
@_exported import KafkaRecords
