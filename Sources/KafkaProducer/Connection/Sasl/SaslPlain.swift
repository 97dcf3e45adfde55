/// SASL PLAIN (RFC 4616): one message, `authzid NUL authcid NUL passwd`, with an empty
/// authorization id as Kafka's Java client sends it.
enum SaslPlain {
    /// The single client message: `\0user\0password`.
    /// - Throws: `.invalidArgument` if the user name or password contains NUL, which would
    ///   shift the fields.
    static func message(username: String, password: String) throws(KafkaClientError) -> [UInt8] {
        guard !username.isEmpty else {
            throw KafkaClientError(.invalidArgument, "SASL PLAIN: the user name is empty")
        }
        guard !username.utf8.contains(0), !password.utf8.contains(0) else {
            throw KafkaClientError(.invalidArgument, "SASL PLAIN: the user name and password must not contain NUL")
        }
        return [0] + Array(username.utf8) + [0] + Array(password.utf8)
    }
}
