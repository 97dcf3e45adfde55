import KafkaWire
import NIOCore
import Testing

@testable import KafkaProducer

/// Sluice's SCRAM client against an independent server implementation, Python's scramp
/// (`python -m sluice_harness scram-server`).
///
/// This stands in for a live broker: neither Tansu nor librdkafka's mock cluster speaks
/// SASL here, so SASL has not been run against a Kafka broker.
@Suite("SCRAM against scramp", .timeLimit(.minutes(1)))
struct ScramInteropTests {
    static let mechanisms: [ScramClient.Hash] = [.sha256, .sha512]

    @Test("Full exchange, both hashes, user names that need escaping", arguments: mechanisms)
    func exchange(hash: ScramClient.Hash) async throws {
        let server = try await ScramServer.start()
        defer { server.stop() }
        for (user, iterations) in [("user", 4096), ("a=b,c", 4096), ("=,=", 8192), ("ünï", 16384)] {
            try await server.begin(mechanism: hash.mechanism, username: user, password: "pencil", iterations: iterations)
            var client = ScramClient(hash: hash, username: user, password: "pencil")
            let (serverFirst, seenUser) = try await server.clientFirst(try client.clientFirstMessage())
            #expect(seenUser == user, "the server unescaped the saslname to the same user")
            let final = try await server.clientFinal(try client.clientFinalMessage(serverFirst: serverFirst))
            #expect(final.authenticated, "\(final.error ?? "")")
            try client.verifyServerFinal(final.message)
            #expect(client.isAuthenticated)
        }
    }

    @Test("A wrong password fails on both sides", arguments: mechanisms)
    func wrongPassword(hash: ScramClient.Hash) async throws {
        let server = try await ScramServer.start()
        defer { server.stop() }
        try await server.begin(mechanism: hash.mechanism, username: "user", password: "pencil")
        var client = ScramClient(hash: hash, username: "user", password: "crayon")
        let (serverFirst, _) = try await server.clientFirst(try client.clientFirstMessage())
        let final = try await server.clientFinal(try client.clientFinalMessage(serverFirst: serverFirst))
        #expect(!final.authenticated, "the server must refuse the proof")
        #expect(String(decoding: final.message, as: UTF8.self).hasPrefix("e="))
        do {
            try client.verifyServerFinal(final.message)
            Issue.record("the client must not accept the exchange")
        } catch {
            #expect(error.code == .authentication)
        }
        #expect(!client.isAuthenticated)
    }

    /// The whole SASL exchange as BrokerConnection runs it, with scramp behind a broker
    /// that answers like Kafka: a refused proof becomes SASL_AUTHENTICATION_FAILED.
    @Test("SaslAuthenticator over scramp", arguments: [("pencil", true), ("crayon", false)])
    func authenticator(password: String, succeeds: Bool) async throws {
        let server = try await ScramServer.start()
        defer { server.stop() }
        for mechanism in [ConnectionConfiguration.SASLSettings.Mechanism.scramSHA256, .scramSHA512] {
            try await server.begin(mechanism: mechanism.rawValue, username: "alice", password: "pencil")
            var round = 0
            let settings = ConnectionConfiguration.SASLSettings(mechanism: mechanism, username: "alice", password: password)
            do {
                _ = try await SaslAuthenticator.authenticate(
                    settings, broker: BrokerAddress(host: "127.0.0.1", port: 9093),
                    versions: ApiVersionTable(versions: [.saslHandshake: 1, .saslAuthenticate: 2]),
                    handshake: { request, _ throws(KafkaClientError) in
                        SaslHandshakeResponse(mechanisms: [request.mechanism])
                    },
                    authenticate: { request, _ throws(KafkaClientError) in
                        round += 1
                        do {
                            if round == 1 {
                                let (first, _) = try await server.clientFirst(Array(buffer: request.authBytes))
                                return SaslAuthenticateResponse(authBytes: ByteBuffer(bytes: first))
                            }
                            let final = try await server.clientFinal(Array(buffer: request.authBytes))
                            guard final.authenticated else {
                                return SaslAuthenticateResponse(
                                    errorCode: .saslAuthenticationFailed, errorMessage: final.error, authBytes: ByteBuffer())
                            }
                            return SaslAuthenticateResponse(authBytes: ByteBuffer(bytes: final.message))
                        } catch {
                            throw KafkaClientError(.connectionClosed, "scram server: \(error)")
                        }
                    })
                #expect(succeeds, "\(mechanism) with the wrong password must fail")
            } catch {
                #expect(!succeeds, "\(mechanism): \(error)")
                #expect(error.code == .authentication)
                #expect(error.kafkaError == .saslAuthenticationFailed)
            }
            #expect(round == 2)
        }
    }
}
