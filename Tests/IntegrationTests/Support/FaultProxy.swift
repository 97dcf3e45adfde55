import Foundation

/// `python -m sluice_harness faultproxy`: a TCP relay in front of a real broker that can
/// lose the response to a request after the broker handled it (and drop the
/// connection), as a network can. Every byte still comes from the real broker.
final class FaultProxy: Sendable {
    private struct Hello: Decodable { var listen: String }
    private struct Stats: Decodable { var connections: Int, requests: Int, dropped: Int, swallowed: Int }

    /// "127.0.0.1:PORT" where the proxy listens.
    let listen: String
    let server: HarnessServer

    var port: Int { parseBootstrap(listen).first?.port ?? 0 }

    private init(server: HarnessServer, listen: String) {
        self.server = server
        self.listen = listen
    }

    /// Starts a relay to `target` ("HOST:PORT") on `port` (0 = a free one).
    static func start(target: String, port: Int = 0) async throws -> FaultProxy {
        let server = try await HarnessServer.launch(
            name: "faultproxy", arguments: ["faultproxy", "--target", target, "--port", String(port)], startupTimeout: 30)
        return FaultProxy(server: server, listen: try server.decodeHello(Hello.self).listen)
    }

    /// The next `count` responses to requests of `apiKey` are lost, with the connection.
    func dropResponses(apiKey: Int16, count: Int = 1) async throws {
        try await server.request("drop_responses", ["api_key": .int(Int(apiKey)), "count": .int(count)])
    }

    /// While `on`, every response to a request of `apiKey` is thrown away and the
    /// connection kept: the broker handles the requests, the client never hears back.
    func swallowResponses(apiKey: Int16, on: Bool = true) async throws {
        try await server.request("swallow_responses", ["api_key": .int(Int(apiKey)), "on": .bool(on)])
    }

    /// How many responses were swallowed so far.
    func swallowedCount() async throws -> Int {
        let reply = try await server.request("stats")
        return try JSONDecoder().decode(Stats.self, from: reply).swallowed
    }

    /// How many responses were dropped so far.
    func droppedCount() async throws -> Int {
        let reply = try await server.request("stats")
        return try JSONDecoder().decode(Stats.self, from: reply).dropped
    }

    func stop() { server.stop() }
}
