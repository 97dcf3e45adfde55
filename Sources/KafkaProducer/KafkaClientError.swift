import KafkaWire

/// Every error the Kafka client side of Sluice reports: one struct with a code.
package struct KafkaClientError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as one of the static members (`.connectFailed`, ...). The set is
    /// extensible: a later version may add codes without breaking a library user's
    /// `switch`, which therefore needs a `default:`.
    package struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The codes of this version as a closed enum: the package's own switches use it,
        /// so the compiler still finds each one that a new code must reach.
        package enum Base: String, Hashable, Sendable, CaseIterable {
            case connectFailed, connectionClosed, requestTimedOut, unsupportedVersion, protocolError
            case kafkaError, tls, authentication, shutdown, invalidArgument
        }

        package let base: Base

        package init(_ base: Base) { self.base = base }

        /// The code's name (`connectFailed`); stable across versions, for logs and metric labels.
        package var description: String { base.rawValue }

        /// The broker could not be reached (refused, unresolvable, connect timeout).
        package static let connectFailed = Code(.connectFailed)

        /// The connection closed or failed while the request was pending or being sent.
        package static let connectionClosed = Code(.connectionClosed)

        /// No response arrived within the request timeout.
        package static let requestTimedOut = Code(.requestTimedOut)

        /// The broker and Sluice share no version of an API (or an override is outside both).
        package static let unsupportedVersion = Code(.unsupportedVersion)

        /// The broker's bytes could not be decoded.
        package static let protocolError = Code(.protocolError)

        /// The broker answered with a Kafka error code (see `kafkaError`).
        package static let kafkaError = Code(.kafkaError)

        /// TLS handshake or certificate verification failed.
        package static let tls = Code(.tls)

        /// SASL authentication failed.
        package static let authentication = Code(.authentication)

        /// The client was shut down.
        package static let shutdown = Code(.shutdown)

        /// Invalid configuration or argument.
        package static let invalidArgument = Code(.invalidArgument)
    }

    package var code: Code
    package var message: String
    /// Kafka's error code when `code == .kafkaError`.
    package var kafkaError: KafkaErrorCode?

    package init(_ code: Code, _ message: String, kafkaError: KafkaErrorCode? = nil) {
        self.code = code
        self.message = message
        self.kafkaError = kafkaError
    }

    package var description: String {
        if let kafkaError { return "\(code) \(kafkaError): \(message)" }
        return "\(code): \(message)"
    }

    /// Whether retrying the same request (possibly elsewhere) may succeed.
    package var isRetriable: Bool {
        switch code.base {
        case .connectFailed, .connectionClosed, .requestTimedOut: true
        case .kafkaError: kafkaError?.isRetriable ?? false
        case .unsupportedVersion, .protocolError, .tls, .authentication, .shutdown, .invalidArgument: false
        }
    }
}
