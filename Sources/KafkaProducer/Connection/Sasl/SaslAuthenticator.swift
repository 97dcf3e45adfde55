import KafkaWire
import NIOCore

/// Runs the SASL exchange on a freshly opened connection, after ApiVersions and before
/// any other request (KIP-152): SaslHandshake v1 names the mechanism, then each token
/// travels in a SaslAuthenticate request.
///
/// The transport is passed in as two functions, so the exchange runs the same over a
/// broker connection and against a scripted server in tests.
///
/// - Note: Not run against a live broker: neither Tansu nor librdkafka's mock cluster
///   speaks SASL here. SCRAM is checked against RFC 7677's example and Python's scramp.
enum SaslAuthenticator {
    /// Sends one request at the given version and returns the response.
    typealias Send<Request: KafkaRequest> = (Request, Int16) async throws(KafkaClientError) -> Request.Response

    /// Authenticates; returns the session lifetime the broker granted in ms (0: none).
    /// - Parameters:
    ///   - scramNonce: the SCRAM client nonce; random unless a test fixes it.
    /// - Throws: `.authentication` when the broker cannot do SASL the way Sluice does it,
    ///   does not enable the mechanism (the message lists the ones it does), refuses the
    ///   credentials, or fails to prove it knows them (SCRAM); `.invalidArgument` for
    ///   credentials that cannot be encoded; transport errors as they come.
    static func authenticate(
        _ settings: ConnectionConfiguration.SASLSettings,
        broker: BrokerAddress,
        versions: ApiVersionTable,
        scramNonce: String? = nil,
        handshake: Send<SaslHandshakeRequest>,
        authenticate: Send<SaslAuthenticateRequest>
    ) async throws(KafkaClientError) -> Int64 {
        let mechanism = settings.mechanism.rawValue
        // v0 would mean raw SASL tokens on the socket instead of SaslAuthenticate frames:
        // Kafka 1.0+ brokers all offer v1, so there is no point in implementing v0.
        guard let handshakeVersion = versions[.saslHandshake], handshakeVersion >= 1,
            let authenticateVersion = versions[.saslAuthenticate]
        else {
            throw KafkaClientError(
                .authentication, "broker \(broker) offers no SaslHandshake v1 and SaslAuthenticate: cannot authenticate with SASL \(mechanism)")
        }

        let handshakeResponse = try await handshake(SaslHandshakeRequest(mechanism: mechanism), handshakeVersion)
        switch handshakeResponse.errorCode {
        case .noError:
            break
        case .unsupportedSaslMechanism:
            let offered = handshakeResponse.mechanisms.isEmpty ? "none" : handshakeResponse.mechanisms.joined(separator: ", ")
            throw KafkaClientError(
                .authentication, "broker \(broker) does not enable SASL mechanism \(mechanism); it enables: \(offered)",
                kafkaError: handshakeResponse.errorCode)
        default:
            throw KafkaClientError(
                .authentication, "SaslHandshake \(mechanism) to \(broker) failed", kafkaError: handshakeResponse.errorCode)
        }

        /// One round trip; a broker-side error ends the exchange.
        func exchange(_ token: [UInt8], step: String) async throws(KafkaClientError) -> SaslAuthenticateResponse {
            let response = try await authenticate(SaslAuthenticateRequest(authBytes: ByteBuffer(bytes: token)), authenticateVersion)
            guard response.errorCode == .noError else {
                let reason = response.errorMessage.map { ": \($0)" } ?? ""
                throw KafkaClientError(
                    .authentication,
                    "broker \(broker) refused SASL \(mechanism) authentication of user \(settings.username) at \(step)\(reason)",
                    kafkaError: response.errorCode)
            }
            return response
        }

        switch settings.mechanism {
        case .plain:
            let token = try SaslPlain.message(username: settings.username, password: settings.password)
            return try await exchange(token, step: "PLAIN").sessionLifetimeMs
        case .scramSHA256, .scramSHA512:
            var scram = ScramClient(
                hash: settings.mechanism == .scramSHA256 ? .sha256 : .sha512,
                username: settings.username, password: settings.password, clientNonce: scramNonce)
            /// ScramClient's errors do not know the broker: name it.
            func step<T>(_ body: () throws(KafkaClientError) -> T) throws(KafkaClientError) -> T {
                do {
                    return try body()
                } catch {
                    throw KafkaClientError(error.code, "broker \(broker): \(error.message)", kafkaError: error.kafkaError)
                }
            }
            let clientFirst = try step { () throws(KafkaClientError) in try scram.clientFirstMessage() }
            let serverFirst = try await exchange(clientFirst, step: "client-first")
            let clientFinal = try step { () throws(KafkaClientError) in
                try scram.clientFinalMessage(serverFirst: Array(buffer: serverFirst.authBytes))
            }
            let serverFinal = try await exchange(clientFinal, step: "client-final")
            try step { () throws(KafkaClientError) in try scram.verifyServerFinal(Array(buffer: serverFinal.authBytes)) }
            return serverFinal.sessionLifetimeMs
        }
    }
}
