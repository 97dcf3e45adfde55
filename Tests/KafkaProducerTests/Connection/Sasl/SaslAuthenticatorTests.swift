import KafkaWire
import NIOCore
import Testing

@testable import KafkaProducer

@Suite struct SaslPlainTests {
    @Test func messageIsNulUserNulPassword() throws {
        #expect(try SaslPlain.message(username: "user", password: "pass") == [0] + Array("user".utf8) + [0] + Array("pass".utf8))
        #expect(try SaslPlain.message(username: "u", password: "") == [0, UInt8(ascii: "u"), 0])
        #expect(try SaslPlain.message(username: "ü", password: "p=,") == [0, 0xC3, 0xBC, 0] + Array("p=,".utf8))
    }

    @Test func nulOrEmptyUserIsRefused() {
        for (user, password) in [("a\u{0}b", "p"), ("user", "p\u{0}"), ("", "p")] {
            do {
                _ = try SaslPlain.message(username: user, password: password)
                Issue.record("expected an error for \(user.debugDescription)")
            } catch {
                #expect(error.code == .invalidArgument)
            }
        }
    }
}

@Suite struct SASLSettingsTests {
    @Test func descriptionsNeverShowThePassword() {
        let s = ConnectionConfiguration.SASLSettings(mechanism: .scramSHA512, username: "alice", password: "hunter2-secret")
        var config = ConnectionConfiguration()
        config.sasl = s
        var dumped = ""
        dump(config, to: &dumped)
        for text in [s.description, s.debugDescription, String(describing: config), String(reflecting: config), dumped] {
            #expect(!text.contains("hunter2-secret"), "\(text)")
        }
        #expect(s.description.contains("SCRAM-SHA-512"))
        #expect(s.description.contains("alice"))
    }

    @Test func mechanismNamesAreKafkas() {
        #expect(ConnectionConfiguration.SASLSettings.Mechanism.allCases.map(\.rawValue) == ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
    }

    @Test func defaultsAreOff() {
        let c = ConnectionConfiguration()
        #expect(c.sasl == nil)
        #expect(c.tls == nil)
    }
}

/// A scripted broker for the SASL exchange: records what the client sent, answers from
/// a list.
final class ScriptedSaslBroker {
    var handshakes: [(mechanism: String, version: Int16)] = []
    var tokens: [(bytes: [UInt8], version: Int16)] = []
    var handshakeResponse = SaslHandshakeResponse(mechanisms: ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
    var authenticateResponses: [SaslAuthenticateResponse] = []

    func handshake(_ request: SaslHandshakeRequest, _ version: Int16) throws(KafkaClientError) -> SaslHandshakeResponse {
        handshakes.append((request.mechanism, version))
        return handshakeResponse
    }

    func authenticate(_ request: SaslAuthenticateRequest, _ version: Int16) throws(KafkaClientError) -> SaslAuthenticateResponse {
        tokens.append((Array(buffer: request.authBytes), version))
        guard !authenticateResponses.isEmpty else {
            throw KafkaClientError(.connectionClosed, "script ran out of responses")
        }
        return authenticateResponses.removeFirst()
    }

    static func response(_ text: String, lifetime: Int64 = 0) -> SaslAuthenticateResponse {
        SaslAuthenticateResponse(authBytes: ByteBuffer(string: text), sessionLifetimeMs: lifetime)
    }
}

@Suite struct SaslAuthenticatorTests {
    static let broker = BrokerAddress(host: "10.0.0.7", port: 9093)
    static let versions = ApiVersionTable(versions: [.saslHandshake: 1, .saslAuthenticate: 2])

    func run(
        _ settings: ConnectionConfiguration.SASLSettings, _ script: ScriptedSaslBroker,
        versions: ApiVersionTable = Self.versions, nonce: String? = RFC7677.clientNonce
    ) async throws(KafkaClientError) -> Int64 {
        try await SaslAuthenticator.authenticate(
            settings, broker: Self.broker, versions: versions, scramNonce: nonce,
            handshake: { r, v throws(KafkaClientError) in try script.handshake(r, v) },
            authenticate: { r, v throws(KafkaClientError) in try script.authenticate(r, v) })
    }

    func expectError(
        _ settings: ConnectionConfiguration.SASLSettings, _ script: ScriptedSaslBroker,
        versions: ApiVersionTable = Self.versions
    ) async -> KafkaClientError? {
        do {
            _ = try await run(settings, script, versions: versions)
            Issue.record("expected an error")
            return nil
        } catch {
            return error
        }
    }

    @Test func plainSendsOneTokenAfterTheHandshake() async throws {
        let script = ScriptedSaslBroker()
        script.authenticateResponses = [ScriptedSaslBroker.response("", lifetime: 3_600_000)]
        let lifetime = try await run(.init(mechanism: .plain, username: "user", password: "pass"), script)
        #expect(lifetime == 3_600_000)
        #expect(script.handshakes.map(\.mechanism) == ["PLAIN"])
        #expect(script.handshakes.map(\.version) == [1])
        #expect(script.tokens.map(\.bytes) == [[0] + Array("user".utf8) + [0] + Array("pass".utf8)])
        #expect(script.tokens.map(\.version) == [2])
    }

    @Test func scramRunsTheRFC7677ExchangeThroughSaslAuthenticate() async throws {
        let script = ScriptedSaslBroker()
        script.authenticateResponses = [
            ScriptedSaslBroker.response(RFC7677.serverFirst), ScriptedSaslBroker.response(RFC7677.serverFinal, lifetime: 42),
        ]
        let versions = ApiVersionTable(versions: [.saslHandshake: 1, .saslAuthenticate: 0])
        let lifetime = try await run(.init(mechanism: .scramSHA256, username: "user", password: "pencil"), script, versions: versions)
        #expect(lifetime == 42)
        #expect(script.handshakes.map(\.mechanism) == ["SCRAM-SHA-256"])
        #expect(script.tokens.map(\.bytes) == [bytes(RFC7677.clientFirst), bytes(RFC7677.clientFinal)])
        #expect(script.tokens.map(\.version) == [0, 0], "the negotiated SaslAuthenticate version")
    }

    @Test func scramWithAForgedServerSignatureFails() async {
        let script = ScriptedSaslBroker()
        script.authenticateResponses = [
            ScriptedSaslBroker.response(RFC7677.serverFirst),
            ScriptedSaslBroker.response("v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
        ]
        let e = await expectError(.init(mechanism: .scramSHA256, username: "user", password: "pencil"), script)
        #expect(e?.code == .authentication)
        #expect(e?.message.contains("10.0.0.7:9093") == true)
        #expect(e?.message.contains("signature") == true)
    }

    @Test func scramIterationFloorAppliesThroughTheAuthenticator() async {
        let script = ScriptedSaslBroker()
        script.authenticateResponses = [ScriptedSaslBroker.response("r=\(RFC7677.clientNonce)srv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1024")]
        let e = await expectError(.init(mechanism: .scramSHA512, username: "user", password: "pencil"), script)
        #expect(e?.code == .authentication)
        #expect(script.tokens.count == 1, "no client-final is sent")
    }

    @Test func mechanismNotEnabledListsTheBrokersMechanisms() async {
        let script = ScriptedSaslBroker()
        script.handshakeResponse = SaslHandshakeResponse(errorCode: .unsupportedSaslMechanism, mechanisms: ["GSSAPI", "OAUTHBEARER"])
        let e = await expectError(.init(mechanism: .scramSHA512, username: "user", password: "pencil"), script)
        #expect(e?.code == .authentication)
        #expect(e?.kafkaError == .unsupportedSaslMechanism)
        #expect(e?.message.contains("SCRAM-SHA-512") == true)
        #expect(e?.message.contains("GSSAPI, OAUTHBEARER") == true)
        #expect(e?.message.contains("10.0.0.7:9093") == true)
        #expect(script.tokens.isEmpty)
    }

    @Test func otherHandshakeErrorsAreAuthenticationErrors() async {
        let script = ScriptedSaslBroker()
        script.handshakeResponse = SaslHandshakeResponse(errorCode: .illegalSaslState, mechanisms: [])
        let e = await expectError(.init(mechanism: .plain, username: "user", password: "pencil"), script)
        #expect(e?.code == .authentication)
        #expect(e?.kafkaError == .illegalSaslState)
    }

    @Test func refusedCredentialsCarryTheBrokersMessage() async {
        let script = ScriptedSaslBroker()
        script.authenticateResponses = [
            SaslAuthenticateResponse(
                errorCode: .saslAuthenticationFailed, errorMessage: "Authentication failed: Invalid username or password",
                authBytes: ByteBuffer())
        ]
        let e = await expectError(.init(mechanism: .plain, username: "user", password: "wrong"), script)
        #expect(e?.code == .authentication)
        #expect(e?.kafkaError == .saslAuthenticationFailed)
        #expect(e?.message.contains("Invalid username or password") == true)
        #expect(e?.message.contains("user") == true)
        #expect(e?.message.contains("wrong") == false, "never the password")
    }

    @Test func brokerWithoutHandshakeV1OrAuthenticateIsRefusedBeforeSendingAnything() async {
        for versions in [
            ApiVersionTable(versions: [.saslHandshake: 0, .saslAuthenticate: 1]),
            ApiVersionTable(versions: [.saslHandshake: 1]),
            ApiVersionTable(versions: [:]),
        ] {
            let script = ScriptedSaslBroker()
            let e = await expectError(.init(mechanism: .plain, username: "u", password: "p"), script, versions: versions)
            #expect(e?.code == .authentication)
            #expect(script.handshakes.isEmpty)
        }
    }

    @Test func transportErrorsPassThrough() async {
        let script = ScriptedSaslBroker()
        script.authenticateResponses = [ScriptedSaslBroker.response(RFC7677.serverFirst)]  // then the "connection drops"
        let e = await expectError(.init(mechanism: .scramSHA256, username: "user", password: "pencil"), script)
        #expect(e?.code == .connectionClosed)
    }
}
