import KafkaRecords
import NIOCore

extension ProducerRecord {
    /// A record from strings (UTF-8).
    ///
    /// - Parameters:
    ///   - key: nil for a null key (the protocol also sends an empty key as null).
    ///   - value: the record's value.
    ///   - headers: the record's headers, in order (keys may repeat).
    ///   - timestamp: CreateTime in milliseconds since the Unix epoch; 0 lets the gateway
    ///     stamp the call's arrival time.
    public init(key: String? = nil, value: String, headers: [RecordHeader] = [], timestamp: Int64 = 0) {
        self.init(key: key.map { ByteBuffer(string: $0) }, value: ByteBuffer(string: value), headers: headers, timestamp: timestamp)
    }
}

extension RecordHeader {
    /// A header with a UTF-8 value. (The socket protocol has no null header value: nil
    /// is sent as empty.)
    public init(key: String, value: String) {
        self.init(key: key, value: ByteBuffer(string: value))
    }
}
