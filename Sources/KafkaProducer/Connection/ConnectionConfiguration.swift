import KafkaWire
import NIOCore

/// Settings of one broker connection. Defaults in brackets.
public struct ConnectionConfiguration: Sendable {
    /// Client id sent in every request header ["sluice"].
    public var clientId: String = "sluice"
    /// How long a TCP connect may take [5 s].
    public var connectTimeout: Duration = .seconds(5)
    /// How long a request may wait for its response, unless the call gives its own [30 s].
    public var requestTimeout: Duration = .seconds(30)
    /// Largest response frame accepted; a larger one closes the connection [256 MiB].
    public var maxResponseBytes: Int = 256 * 1024 * 1024
    /// Forces an API to a version instead of the highest both sides support. The version
    /// must be one both sides support, else connecting fails with `.unsupportedVersion`.
    public var versionOverrides: [ApiKey: Int16] = [:]
    /// TLS to the broker, verified by default [nil: plaintext].
    public var tls: TLSSettings? = nil
    /// SASL authentication after version negotiation [nil: none].
    public var sasl: SASLSettings? = nil

    public init() {}
}
