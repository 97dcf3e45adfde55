import Foundation

/// A test CA with server and client certificates, and an unrelated CA, made by openssl
/// (`python -m sluice_harness certs`) in a fresh temp directory. Nothing is committed:
/// each test run makes its own and removes them with `remove()`.
struct TestCertificates: Sendable {
    /// The directory holding the files.
    let directory: URL
    /// The test CA.
    let ca: String
    /// Server certificate signed by `ca`: SAN IP:127.0.0.1 and DNS:localhost.
    let serverCert: String
    let serverKey: String
    /// Server certificate signed by `ca` for another host: SAN DNS:kafka.elsewhere.invalid
    /// and IP:192.0.2.1, so it matches neither 127.0.0.1 nor localhost.
    let elsewhereCert: String
    let elsewhereKey: String
    /// Client certificate signed by `ca` (clientAuth), for mutual TLS.
    let clientCert: String
    let clientKey: String
    /// A CA that signed none of the above.
    let otherCA: String

    private struct Paths: Decodable {
        var ca: String
        var server_cert: String
        var server_key: String
        var elsewhere_cert: String
        var elsewhere_key: String
        var client_cert: String
        var client_key: String
        var other_ca: String
    }

    /// Generates the certificates (about 0.3 s).
    static func make() async throws -> TestCertificates {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("sluice-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        do {
            let result = try await runHarnessCommand(["certs", "--dir", directory.path], timeout: 60)
            guard result.status == 0 else {
                throw HarnessError.exited(
                    "certs exited with \(result.status): \(String(decoding: result.stderr, as: UTF8.self))")
            }
            let p = try JSONDecoder().decode(Paths.self, from: result.stdout)
            return TestCertificates(
                directory: directory, ca: p.ca, serverCert: p.server_cert, serverKey: p.server_key,
                elsewhereCert: p.elsewhere_cert, elsewhereKey: p.elsewhere_key,
                clientCert: p.client_cert, clientKey: p.client_key, otherCA: p.other_ca)
        } catch {
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
    }

    /// Deletes the directory and everything in it (keys included).
    func remove() {
        try? FileManager.default.removeItem(at: directory)
    }
}

/// Debian's stunnel in front of a plaintext broker: TLS on 127.0.0.1:`acceptPort`,
/// forwarded to 127.0.0.1:`connectPort`; run in the foreground by
/// `python -m sluice_harness stunnel`, which stops it (SIGTERM, then SIGKILL) when
/// stopped itself, and with PR_SET_PDEATHSIG so it never outlives the tests.
final class Stunnel: Sendable {
    /// "127.0.0.1:PORT" where TLS is accepted.
    let accept: String
    /// The stunnel process id.
    let pid: Int32
    let server: HarnessServer

    private struct Greeting: Decodable {
        var accept: String
        var pid: Int32
    }

    private init(server: HarnessServer, accept: String, pid: Int32) {
        self.server = server
        self.accept = accept
        self.pid = pid
    }

    /// Starts stunnel and waits until it accepts connections.
    /// - Parameters:
    ///   - clientCA: when given, clients must present a certificate signed by it.
    ///   - directory: where its config and pid file go (the test's temp directory).
    static func start(
        acceptPort: Int, connectPort: Int, certificate: String, key: String, clientCA: String? = nil,
        directory: URL, startupTimeout: Double = 30
    ) async throws -> Stunnel {
        let runDirectory = directory.appendingPathComponent("stunnel-\(acceptPort)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true)
        var arguments = [
            "stunnel", "--accept-port", String(acceptPort), "--connect-port", String(connectPort),
            "--cert", certificate, "--key", key, "--dir", runDirectory.path,
        ]
        if let clientCA { arguments += ["--client-ca", clientCA] }
        let server = try await HarnessServer.launch(name: "stunnel", arguments: arguments, startupTimeout: startupTimeout)
        let hello = try server.decodeHello(Greeting.self)
        return Stunnel(server: server, accept: hello.accept, pid: hello.pid)
    }

    /// Stops stunnel; does not wait. Idempotent.
    func stop() { server.stop() }

    /// Stops stunnel and waits for its harness to exit.
    func stopAndWait() async throws { try await server.stopAndWait() }

    deinit { server.stop() }
}

/// An independent SCRAM server: Python's scramp, run by
/// `python -m sluice_harness scram-server`. One exchange at a time.
final class ScramServer: Sendable {
    let server: HarnessServer

    private init(server: HarnessServer) {
        self.server = server
    }

    static func start() async throws -> ScramServer {
        ScramServer(server: try await HarnessServer.launch(name: "scram-server", arguments: ["scram-server"]))
    }

    /// Starts a fresh exchange; the server knows `username` with `password`.
    func begin(mechanism: String, username: String, password: String, iterations: Int = 4096) async throws {
        try await server.request(
            "start",
            [
                "mechanism": .string(mechanism), "username": .string(username), "password": .string(password),
                "iterations": .int(iterations),
            ])
    }

    struct FirstReply: Decodable {
        var message: String
        /// The user name as the server understood it (saslname unescaped).
        var username: String?
    }

    struct FinalReply: Decodable {
        var message: String
        var authenticated: Bool
        var error: String?
    }

    /// Hands over client-first; returns server-first and the user name the server read.
    func clientFirst(_ message: [UInt8]) async throws -> (message: [UInt8], username: String?) {
        let data = try await server.request("client_first", ["message": .string(Data(message).base64EncodedString())])
        let reply = try JSONDecoder().decode(FirstReply.self, from: data)
        return (try Self.bytes(reply.message), reply.username)
    }

    /// Hands over client-final; returns server-final (`v=...` or `e=...`).
    func clientFinal(_ message: [UInt8]) async throws -> (message: [UInt8], authenticated: Bool, error: String?) {
        let data = try await server.request("client_final", ["message": .string(Data(message).base64EncodedString())])
        let reply = try JSONDecoder().decode(FinalReply.self, from: data)
        return (try Self.bytes(reply.message), reply.authenticated, reply.error)
    }

    func stop() { server.stop() }

    deinit { server.stop() }

    private static func bytes(_ base64: String) throws -> [UInt8] {
        guard let data = Data(base64Encoded: base64) else { throw HarnessError.badReply("bad base64 \(base64)") }
        return Array(data)
    }
}
