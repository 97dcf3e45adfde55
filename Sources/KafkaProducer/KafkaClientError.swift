import KafkaWire

/// Every error the Kafka client side of Sluice reports: one struct with a code.
public struct KafkaClientError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        /// The broker could not be reached (refused, unresolvable, connect timeout).
        case connectFailed
        /// The connection closed or failed while the request was pending or being sent.
        case connectionClosed
        /// No response arrived within the request timeout.
        case requestTimedOut
        /// The broker and Sluice share no version of an API (or an override is outside both).
        case unsupportedVersion
        /// The broker's bytes could not be decoded.
        case protocolError
        /// The broker answered with a Kafka error code (see `kafkaError`).
        case kafkaError
        /// TLS handshake or certificate verification failed.
        case tls
        /// SASL authentication failed.
        case authentication
        /// The client was shut down.
        case shutdown
        /// Invalid configuration or argument.
        case invalidArgument
    }

    public var code: Code
    public var message: String
    /// Kafka's error code when `code == .kafkaError`.
    public var kafkaError: KafkaErrorCode?

    public init(_ code: Code, _ message: String, kafkaError: KafkaErrorCode? = nil) {
        self.code = code
        self.message = message
        self.kafkaError = kafkaError
    }

    public var description: String {
        if let kafkaError { return "\(code.rawValue) \(kafkaError): \(message)" }
        return "\(code.rawValue): \(message)"
    }

    /// Whether retrying the same request (possibly elsewhere) may succeed.
    public var isRetriable: Bool {
        switch code {
        case .connectFailed, .connectionClosed, .requestTimedOut: true
        case .kafkaError: kafkaError?.isRetriable ?? false
        default: false
        }
    }
}
