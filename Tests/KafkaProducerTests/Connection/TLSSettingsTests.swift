import Foundation
import NIOCore
import Testing

@testable import KafkaProducer

@Suite struct TLSSettingsTests {
    typealias TLS = ConnectionConfiguration.TLSSettings

    @Test func verificationIsOnByDefault() {
        let tls = TLS()
        #expect(tls.verify)
        #expect(tls.caFile == nil, "system trust roots")
        #expect(tls.certificateFile == nil && tls.privateKeyFile == nil)
        #expect(tls.serverName == nil)
        #expect(tls.handshakeTimeout == .seconds(10))
    }

    @Test func defaultContextUsesTheSystemRoots() throws {
        _ = try TLS().makeContext()
        _ = try TLS(verify: false).makeContext()
    }

    @Test func serverNameDefaultsToTheBrokerHost() throws {
        #expect(try TLS().expectedServerName(for: BrokerAddress(host: "kafka-1.example.com", port: 9093)) == "kafka-1.example.com")
        #expect(try TLS(serverName: "kafka.internal").expectedServerName(for: BrokerAddress(host: "10.1.2.3", port: 9093)) == "kafka.internal")
    }

    @Test func ipAddressHostsAreCheckedByAddressNotSNI() throws {
        #expect(try TLS().expectedServerName(for: BrokerAddress(host: "127.0.0.1", port: 9093)) == nil)
        #expect(try TLS().expectedServerName(for: BrokerAddress(host: "::1", port: 9093)) == nil)
    }

    @Test func ipAddressServerNameIsRefused() {
        do {
            _ = try TLS(serverName: "192.168.0.1").expectedServerName(for: BrokerAddress(host: "kafka", port: 9093))
            Issue.record("expected an error")
        } catch {
            #expect(error.code == .invalidArgument)
        }
    }

    func expectInvalid(_ tls: TLS, mentioning text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try tls.makeContext()
            Issue.record("expected an error", sourceLocation: sourceLocation)
        } catch {
            #expect(error.code == .invalidArgument, sourceLocation: sourceLocation)
            #expect(error.message.contains(text), "\(error.message)", sourceLocation: sourceLocation)
        }
    }

    @Test func unusableFilesAreNamed() throws {
        expectInvalid(TLS(caFile: "/nonexistent/ca.pem"), mentioning: "/nonexistent/ca.pem")
        expectInvalid(
            TLS(certificateFile: "/nonexistent/client.pem", privateKeyFile: "/nonexistent/client.key"),
            mentioning: "/nonexistent/client.pem")

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-tls-unit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let notPEM = dir.appendingPathComponent("not.pem").path
        try Data("hello".utf8).write(to: URL(fileURLWithPath: notPEM))
        expectInvalid(TLS(caFile: notPEM), mentioning: notPEM)
    }

    @Test func certificateAndKeyGoTogether() {
        expectInvalid(TLS(certificateFile: "/x/client.pem"), mentioning: "go together")
        expectInvalid(TLS(privateKeyFile: "/x/client.key"), mentioning: "go together")
    }
}
