import Foundation

/// `python -m sluice_harness faultproxy`: a TCP relay in front of a real broker that can
/// lose the response to a request after the broker handled it (and drop the
/// connection), as a network can, or be down for a while. Every byte still comes from
/// the real broker.
///
/// The relay keeps its port from start to stop: a broker advertising that port is
/// started after the relay (`inFrontOfTansu`), and an outage is `setDown(true)`, not a
/// stopped relay. A port picked free and bound later, or given back between two relays,
/// can be taken by another test's process in between (CI saw EADDRINUSE).
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

    /// Starts a relay on a free port; connections are reset until `setTarget`.
    static func start() async throws -> FaultProxy {
        let server = try await HarnessServer.launch(name: "faultproxy", arguments: ["faultproxy"], startupTimeout: 30)
        return FaultProxy(server: server, listen: try server.decodeHello(Hello.self).listen)
    }

    /// A Tansu broker behind a relay: Tansu advertises the relay's port, so every client
    /// connection after the bootstrap goes through the relay.
    static func inFrontOfTansu() async throws -> (tansu: TansuBroker, relay: FaultProxy) {
        let relay = try await start()
        do {
            let tansu = try await TansuBroker.start(advertisedPort: relay.port)
            try await relay.setTarget(tansu.bootstrap)
            return (tansu, relay)
        } catch {
            relay.stop()
            throw error
        }
    }

    /// Where new connections are relayed to.
    func setTarget(_ target: String) async throws {
        try await server.request("set_target", ["target": .string(target)])
    }

    /// While down, every relayed connection is closed and new ones are reset when
    /// accepted: the broker is unreachable through the relay, as if it had stopped.
    func setDown(_ down: Bool) async throws {
        try await server.request("outage", ["on": .bool(down)])
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
