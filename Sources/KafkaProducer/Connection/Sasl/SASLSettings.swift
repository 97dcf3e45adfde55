extension ConnectionConfiguration {
    /// SASL authentication of each broker connection (Kafka's SASL_PLAINTEXT and SASL_SSL
    /// listeners), done right after API versions are negotiated and before any other
    /// request. Kafka's own framing is used: SaslHandshake v1, then the mechanism's tokens
    /// in SaslAuthenticate requests.
    ///
    /// - Important: PLAIN sends the password as is: use it only together with `tls`.
    ///   SCRAM never sends the password, but without TLS the rest of the traffic is still
    ///   readable and alterable on the way.
    /// - Note: Sessions are not re-authenticated (KIP-368). A broker with
    ///   `connections.max.reauth.ms` set closes the connection when the session ends,
    ///   and it is reopened like any other lost connection.
    /// - Note: The exchanges are tested against the RFC 7677 example and an independent
    ///   SCRAM server (Python's scramp), not against a live Kafka broker: neither test
    ///   broker available to this project (Tansu, librdkafka's mock cluster) speaks SASL.
    public struct SASLSettings: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible,
        CustomReflectable
    {
        /// The SASL mechanisms Sluice implements.
        public enum Mechanism: String, Sendable, Hashable, CaseIterable {
            /// RFC 4616: user name and password in one message.
            case plain = "PLAIN"
            /// RFC 5802 / RFC 7677 SCRAM with SHA-256.
            case scramSHA256 = "SCRAM-SHA-256"
            /// RFC 5802 SCRAM with SHA-512.
            case scramSHA512 = "SCRAM-SHA-512"
        }

        /// The mechanism to use; the broker must have it enabled.
        public var mechanism: Mechanism
        /// The user name, sent as UTF-8 (not SASLprep-normalised, as Kafka's Java client).
        public var username: String
        /// The password, used as UTF-8 (not SASLprep-normalised, as Kafka's Java client).
        public var password: String

        /// Creates SASL settings. There are no defaults: every field is needed.
        public init(mechanism: Mechanism, username: String, password: String) {
            self.mechanism = mechanism
            self.username = username
            self.password = password
        }

        /// Names the mechanism and the user, never the password, so configurations can be
        /// logged safely.
        public var description: String { "SASL \(mechanism.rawValue) as \(username)" }

        /// Like `description`: keeps the password out of `debugPrint` and of a containing
        /// value's default description.
        public var debugDescription: String {
            "SASLSettings(mechanism: \(mechanism.rawValue), username: \(username), password: <redacted>)"
        }

        /// Keeps the password out of `dump` and other reflection.
        public var customMirror: Mirror {
            Mirror(self, children: ["mechanism": mechanism, "username": username, "password": "<redacted>"])
        }
    }
}
