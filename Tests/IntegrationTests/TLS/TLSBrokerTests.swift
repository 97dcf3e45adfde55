import Foundation
import KafkaProducer
import KafkaWire
import NIOCore
import NIOPosix
import Testing

/// Tansu behind Debian's stunnel: Tansu listens in plaintext on its own port and
/// advertises the stunnel port, where TLS is accepted with a server certificate from a
/// test CA made at test time.
struct TLSTansu {
    let certificates: TestCertificates
    let tansu: TansuBroker
    let stunnel: Stunnel

    /// The TLS address (what Tansu advertises).
    var address: BrokerAddress { BrokerAddress(host: "127.0.0.1", port: tansu.advertisedPort) }
    /// Tansu's own plaintext address.
    var plaintextAddress: BrokerAddress { BrokerAddress(host: "127.0.0.1", port: tansu.port) }

    /// - Parameters:
    ///   - requireClientCertificate: stunnel then wants a client certificate signed by the
    ///     test CA (mutual TLS).
    ///   - certificateForElsewhere: stunnel presents `elsewhereCert`, valid for another
    ///     host, instead of the one for 127.0.0.1 and localhost.
    static func start(requireClientCertificate: Bool = false, certificateForElsewhere: Bool = false) async throws -> TLSTansu {
        let certificates = try await TestCertificates.make()
        // Tansu advertises a port that was free when it started; stunnel binds it a moment
        // later, and another process may have taken it in between (EADDRINUSE). Then both
        // start again, on other ports.
        let attempts = 3
        var attempt = 1
        while true {
            let tansu: TansuBroker
            do {
                tansu = try await TansuBroker.start(advertisedPort: 0)
            } catch {
                certificates.remove()
                throw error
            }
            do {
                let stunnel = try await Stunnel.start(
                    acceptPort: tansu.advertisedPort, connectPort: tansu.port,
                    certificate: certificateForElsewhere ? certificates.elsewhereCert : certificates.serverCert,
                    key: certificateForElsewhere ? certificates.elsewhereKey : certificates.serverKey, clientCA: requireClientCertificate ? certificates.ca : nil,
                    directory: certificates.directory)
                return TLSTansu(certificates: certificates, tansu: tansu, stunnel: stunnel)
            } catch {
                tansu.stop()
                guard attempt < attempts else {
                    certificates.remove()
                    throw error
                }
                attempt += 1
                print("stunnel did not start on port \(tansu.advertisedPort) (\(error)); starting again")
            }
        }
    }

    func stop() {
        stunnel.stop()
        tansu.stop()
        certificates.remove()
    }
}

@Suite("TLS to a broker (Tansu behind stunnel)", .timeLimit(.minutes(2)))
struct TLSBrokerTests {
    static var eventLoop: any EventLoop { MultiThreadedEventLoopGroup.singleton.next() }

    static func configuration(_ tls: ConnectionConfiguration.TLSSettings) -> ConnectionConfiguration {
        var c = ConnectionConfiguration()
        c.tls = tls
        c.connectTimeout = .seconds(5)
        c.requestTimeout = .seconds(15)
        return c
    }

    static func connect(_ address: BrokerAddress, _ tls: ConnectionConfiguration.TLSSettings) async throws(KafkaClientError)
        -> BrokerConnection
    {
        try await BrokerConnection.connect(to: address, configuration: configuration(tls), eventLoop: eventLoop)
    }

    /// The error connecting fails with, and how long it took to fail.
    static func connectError(
        _ address: BrokerAddress, _ tls: ConnectionConfiguration.TLSSettings
    ) async -> (error: KafkaClientError?, elapsed: Duration) {
        let start = ContinuousClock.now
        do {
            let connection = try await connect(address, tls)
            await connection.close()
            Issue.record("connecting to \(address) with \(tls) should have failed")
            return (nil, ContinuousClock.now - start)
        } catch {
            return (error, ContinuousClock.now - start)
        }
    }

    @Test("Verified TLS: versions, metadata, produce; a TLS consumer reads the records back")
    func produceOverTLS() async throws {
        let broker = try await TLSTansu.start()
        defer { broker.stop() }
        let topic = "tls-produce"
        try await broker.tansu.createTopic(topic, partitions: 1)

        let connection = try await Self.connect(broker.address, .init(caFile: broker.certificates.ca))
        #expect(connection.isActive)
        #expect(connection.versions[.produce] != nil)
        #expect(connection.versions[.metadata] != nil)

        let metadata = try await connection.send(MetadataRequest(topicNames: [topic], allowAutoTopicCreation: false))
        #expect(metadata.brokers.map(\.port) == [Int32(broker.address.port)], "Tansu advertises the TLS port")
        let partitions = metadata.topics.first { $0.name == topic }?.partitions ?? []
        #expect(partitions.map(\.errorCode) == [.noError])

        let timestamp: Int64 = 1_700_000_000_000
        let records = (0..<3).map { i in
            ProducerRecord(
                key: ByteBuffer(string: "key-\(i)"), value: ByteBuffer(string: "over TLS \(i)"),
                headers: [RecordHeader(key: "via", value: ByteBuffer(string: "stunnel"))], timestamp: timestamp + Int64(i))
        }
        var batch = ByteBuffer()
        try RecordBatchEncoder.encode(records, into: &batch)
        let response = try await connection.send(
            ProduceRequest(acks: -1, timeoutMs: 10_000, topicData: [.init(name: topic, partitionData: [.init(index: 0, records: batch)])]))
        let result = response.responses.first?.partitionResponses.first
        #expect(result?.errorCode == .noError)
        #expect(result?.baseOffset == 0)
        await connection.close()

        let got = try await Consumer.readAll(
            bootstrap: broker.tansu.advertised, topic: topic, expect: 3, timeoutS: 30, sslCA: broker.certificates.ca)
        #expect(
            got
                == (0..<3).map { i in
                    ConsumedRecord(
                        partition: 0, offset: Int64(i), key: Array("key-\(i)".utf8), value: Array("over TLS \(i)".utf8),
                        headers: [.init("via", "stunnel")], timestamp: timestamp + Int64(i))
                })
    }

    @Test("A certificate from another CA fails promptly with .tls")
    func wrongCA() async throws {
        let broker = try await TLSTansu.start()
        defer { broker.stop() }
        let (error, elapsed) = await Self.connectError(broker.address, .init(caFile: broker.certificates.otherCA))
        #expect(error?.code == .tls, "\(String(describing: error))")
        #expect(error?.message.contains(broker.address.description) == true, "names the broker")
        #expect(error?.message.contains("did not verify") == true, "says why: \(error?.message ?? "")")
        #expect(elapsed < .seconds(20), "fails promptly (bounded by the handshake timeout, not a hang)")
    }

    @Test("By default the system trust roots are used, which do not know the test CA")
    func systemRootsRefuseTheTestCA() async throws {
        let broker = try await TLSTansu.start()
        defer { broker.stop() }
        let (error, elapsed) = await Self.connectError(broker.address, .init())
        #expect(error?.code == .tls, "\(String(describing: error))")
        #expect(elapsed < .seconds(20), "fails promptly (bounded by the handshake timeout, not a hang)")
    }

    @Test("A certificate for another name and address fails; the right serverName makes it work")
    func nameAndAddressMismatch() async throws {
        let broker = try await TLSTansu.start(certificateForElsewhere: true)
        defer { broker.stop() }
        let ca = broker.certificates.ca
        // Checked against the connected IP (no SNI), then against a name it lacks.
        for tls in [ConnectionConfiguration.TLSSettings(caFile: ca), .init(caFile: ca, serverName: "localhost")] {
            let (error, elapsed) = await Self.connectError(broker.address, tls)
            #expect(error?.code == .tls, "\(String(describing: error))")
            #expect(error?.message.contains("not valid for \(tls.serverName ?? "IP address 127.0.0.1")") == true, "\(error?.message ?? "")")
            #expect(error?.message.contains(broker.address.description) == true)
            #expect(elapsed < .seconds(20), "fails promptly (bounded by the handshake timeout, not a hang)")
        }
        // The name it carries, given as serverName: verified (and sent as SNI).
        let connection = try await Self.connect(broker.address, .init(caFile: ca, serverName: "kafka.elsewhere.invalid"))
        #expect(connection.versions[.produce] != nil)
        await connection.close()
    }

    @Test("serverName: a name the certificate carries works when connecting by IP")
    func serverNameOverride() async throws {
        let broker = try await TLSTansu.start()
        defer { broker.stop() }
        let connection = try await Self.connect(broker.address, .init(caFile: broker.certificates.ca, serverName: "localhost"))
        #expect(connection.versions[.produce] != nil)
        await connection.close()
    }

    @Test("verify: false connects despite an unknown CA and a wrong name")
    func verificationOff() async throws {
        let broker = try await TLSTansu.start()
        defer { broker.stop() }
        for tls in [
            ConnectionConfiguration.TLSSettings(verify: false),
            .init(caFile: broker.certificates.otherCA, serverName: "kafka.wrong.invalid", verify: false),
        ] {
            let connection = try await Self.connect(broker.address, tls)
            let metadata = try await connection.send(MetadataRequest(topicNames: nil))
            #expect(!metadata.brokers.isEmpty)
            await connection.close()
        }
    }

    @Test("TLS to a plaintext listener fails with .tls, within the handshake timeout")
    func plaintextListener() async throws {
        let broker = try await TLSTansu.start()
        defer { broker.stop() }
        let (error, elapsed) = await Self.connectError(
            broker.plaintextAddress, .init(caFile: broker.certificates.ca, handshakeTimeout: .seconds(2)))
        #expect(error?.code == .tls, "\(String(describing: error))")
        #expect(elapsed < .seconds(20), "fails promptly (bounded by the handshake timeout, not a hang)")
    }

    @Test("Nothing listening: .connectFailed, not .tls")
    func nothingListening() async throws {
        let reserved = try #require(RefusedPort.reserve())
        defer { reserved.release() }
        let (error, _) = await Self.connectError(BrokerAddress(host: "127.0.0.1", port: reserved.port), .init())
        #expect(error?.code == .connectFailed, "\(String(describing: error))")
    }

    @Test("Mutual TLS: without a client certificate .tls, with one it works")
    func mutualTLS() async throws {
        let broker = try await TLSTansu.start(requireClientCertificate: true)
        defer { broker.stop() }
        let (error, elapsed) = await Self.connectError(broker.address, .init(caFile: broker.certificates.ca))
        // With TLS 1.3 the refusal comes after our side of the handshake: usually as an
        // alert (.tls), but when stunnel's close overtakes its alert, all we see is the
        // connection closing. Either way it fails promptly and cleanly.
        #expect(error?.code == .tls || error?.code == .connectionClosed, "\(String(describing: error))")
        #expect(elapsed < .seconds(20), "fails promptly (bounded by the handshake timeout, not a hang)")

        let connection = try await Self.connect(
            broker.address,
            .init(caFile: broker.certificates.ca, certificateFile: broker.certificates.clientCert, privateKeyFile: broker.certificates.clientKey))
        let metadata = try await connection.send(MetadataRequest(topicNames: nil))
        #expect(!metadata.brokers.isEmpty)
        await connection.close()
    }
}
