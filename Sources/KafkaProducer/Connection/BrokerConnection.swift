import KafkaWire
import NIOCore
import NIOPosix
import NIOSSL

/// One TCP connection (optionally TLS, optionally SASL-authenticated) to one Kafka broker,
/// shared by every caller that talks to it.
///
/// Requests are pipelined: many may be in flight, each matched to its response by
/// correlation id, each with its own timeout. When the connection drops, every pending
/// request fails with `.connectionClosed` at once. API versions are negotiated when the
/// connection opens (ApiVersions) and fixed for its lifetime.
package final class BrokerConnection: Sendable {
    package let broker: BrokerAddress
    package let versions: ApiVersionTable
    package let channel: any Channel
    private let configuration: ConnectionConfiguration

    /// The versions Sluice implements, by API.
    package static let implementedVersions: [ApiKey: ClosedRange<Int16>] = [
        ApiVersionsRequest.apiKey: ApiVersionsRequest.supportedVersions,
        MetadataRequest.apiKey: MetadataRequest.supportedVersions,
        ProduceRequest.apiKey: ProduceRequest.supportedVersions,
        InitProducerIdRequest.apiKey: InitProducerIdRequest.supportedVersions,
        SaslHandshakeRequest.apiKey: SaslHandshakeRequest.supportedVersions,
        SaslAuthenticateRequest.apiKey: SaslAuthenticateRequest.supportedVersions,
    ]

    private init(broker: BrokerAddress, channel: any Channel, versions: ApiVersionTable, configuration: ConnectionConfiguration) {
        self.broker = broker
        self.channel = channel
        self.versions = versions
        self.configuration = configuration
    }

    /// Connects, does the TLS handshake (if `configuration.tls` is set), negotiates API
    /// versions, and authenticates (if `configuration.sasl` is set).
    /// - Throws: `.connectFailed` when the broker cannot be reached, `.tls` when the TLS
    ///   handshake or certificate verification fails, `.connectionClosed` when it hangs up
    ///   during negotiation, `.unsupportedVersion` for a bad override, `.authentication`
    ///   when SASL fails, `.invalidArgument` for unusable TLS files or credentials.
    package static func connect(
        to broker: BrokerAddress, configuration: ConnectionConfiguration = .init(), eventLoop: any EventLoop
    ) async throws(KafkaClientError) -> BrokerConnection {
        // TLS: the context (files read now, so a bad path fails before connecting) and
        // a promise for the end of the handshake.
        let tls = try configuration.tls.map { settings throws(KafkaClientError) in
            (settings: settings, context: try settings.makeContext(), serverName: try settings.expectedServerName(for: broker))
        }
        let handshake = tls.map { _ in eventLoop.makePromise(of: Void.self) }
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: eventLoop)
                .connectTimeout(TimeAmount(configuration.connectTimeout))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let tls, let handshake {
                            // First in the pipeline: everything after it sees plaintext.
                            try channel.pipeline.syncOperations.addHandler(
                                NIOSSLClientHandler(context: tls.context, serverHostname: tls.serverName))
                            try channel.pipeline.syncOperations.addHandler(
                                BrokerTLSHandler(
                                    broker: broker, serverName: tls.serverName, timeout: TimeAmount(tls.settings.handshakeTimeout), handshake: handshake))
                        }
                        try channel.pipeline.syncOperations.addHandler(
                            ByteToMessageHandler(LengthPrefixedFrameDecoder(maxFrameBytes: configuration.maxResponseBytes)))
                        try channel.pipeline.syncOperations.addHandler(KafkaChannelHandler(broker: broker.description))
                    }
                }
                .connect(host: broker.host, port: broker.port)
                .get()
        } catch {
            let failure = KafkaClientError(.connectFailed, "cannot connect to broker \(broker): \(Self.describe(error))")
            handshake?.fail(failure)
            throw failure
        }
        do throws(KafkaClientError) {
            if let handshake {
                do {
                    try await handshake.futureResult.get()
                } catch {
                    throw clientError(error)
                }
            }
            let versions = try await negotiateVersions(channel: channel, broker: broker, configuration: configuration)
            if let sasl = configuration.sasl {
                _ = try await SaslAuthenticator.authenticate(
                    sasl, broker: broker, versions: versions,
                    handshake: { request, version throws(KafkaClientError) in
                        try await send(request, version: version, on: channel, broker: broker, configuration: configuration, timeout: nil)
                    },
                    authenticate: { request, version throws(KafkaClientError) in
                        try await send(request, version: version, on: channel, broker: broker, configuration: configuration, timeout: nil)
                    })
            }
            return BrokerConnection(broker: broker, channel: channel, versions: versions, configuration: configuration)
        } catch {
            channel.close(promise: nil)
            throw error
        }
    }

    /// Sends a request at the negotiated version and awaits its response.
    package func send<R: KafkaRequest>(_ request: R, timeout: TimeAmount? = nil) async throws(KafkaClientError) -> R.Response {
        let version = try version(for: R.self)
        return try await Self.send(request, version: version, on: channel, broker: broker, configuration: configuration, timeout: timeout)
    }

    /// Sends a request and returns its response as a future.
    ///
    /// The request is handed to the channel before this returns, so requests sent one
    /// after the other from one thread go on the wire in that order; partition producers
    /// rely on it to keep batches in sequence with several requests in flight.
    package func sendNow<R: KafkaRequest>(_ request: R, version: Int16, timeout: TimeAmount? = nil) -> EventLoopFuture<R.Response> {
        Self.sendFuture(request, version: version, on: channel, broker: broker, configuration: configuration, timeout: timeout)
    }

    /// Sends a request the broker will not answer (Produce with acks = 0); the future
    /// completes once it is written. Ordering as `sendNow`.
    package func sendNowWithoutResponse<R: KafkaRequest>(_ request: R, version: Int16) -> EventLoopFuture<Void> {
        let promise = channel.eventLoop.makePromise(of: ByteBuffer?.self)
        Self.write(
            Self.outbound(request, version: version, expectsResponse: false, timeout: TimeAmount(configuration.requestTimeout), clientId: configuration.clientId, promise: promise),
            on: channel, broker: broker, promise: promise)
        return promise.futureResult.flatMapErrorThrowing { throw Self.clientError($0) }.map { _ in () }
    }

    /// Sends a request the broker will not answer (Produce with acks = 0); returns once written.
    package func sendWithoutResponse<R: KafkaRequest>(_ request: R) async throws(KafkaClientError) {
        let version = try version(for: R.self)
        do {
            try await sendNowWithoutResponse(request, version: version).get()
        } catch {
            throw Self.clientError(error)
        }
    }

    /// The negotiated version of an API, or `.unsupportedVersion`.
    package func version<R: KafkaRequest>(for type: R.Type) throws(KafkaClientError) -> Int16 {
        guard let version = versions[R.apiKey] else {
            throw KafkaClientError(.unsupportedVersion, "broker \(broker) shares no version of \(R.apiKey) with Sluice")
        }
        return version
    }

    /// True until the connection closes.
    package var isActive: Bool { channel.isActive }

    /// Completes when the connection has closed, for whatever reason.
    package var closeFuture: EventLoopFuture<Void> { channel.closeFuture }

    /// Closes the connection; pending requests fail with `.connectionClosed`.
    package func close() async {
        try? await channel.close()
    }

    /// Closes the connection the way a broker sees as an orderly end: our sending side
    /// first, then, once the broker has read what we sent and closed its side (or after
    /// `timeout`), the rest. Closing at once with the broker's answers still unread would
    /// make the kernel reset the connection, and a broker may then drop requests it had
    /// read but not yet stored (Tansu does, for acks = 0 requests, whose answers nobody
    /// reads).
    package func closeGracefully(timeout: TimeAmount = .seconds(2)) async {
        let channel = self.channel
        guard channel.isActive else { return }
        do {
            try await channel.close(mode: .output)
        } catch {
            try? await channel.close()
            return
        }
        let timer = channel.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
        try? await channel.closeFuture.get()
        timer.cancel()
    }

    // MARK: internals

    private static func negotiateVersions(
        channel: any Channel, broker: BrokerAddress, configuration: ConnectionConfiguration
    ) async throws(KafkaClientError) -> ApiVersionTable {
        let request = ApiVersionsRequest(clientSoftwareName: "sluice", clientSoftwareVersion: "0.1.0")
        var version = ApiVersionsRequest.supportedVersions.upperBound
        var response = try await send(request, version: version, on: channel, broker: broker, configuration: configuration, timeout: nil)
        if response.errorCode == .unsupportedVersion {
            // KIP-511: the broker answers in v0 and lists the ApiVersions versions it has.
            // A broker that lists none (older ones, and librdkafka's mock cluster, whose
            // answer to a too-new version is neither v0 nor v3) gets v0, as Kafka's own
            // client does; every broker has ApiVersions v0.
            let theirs = response.versionRange(for: .apiVersions) ?? 0...0
            let common = min(theirs.upperBound, version)
            guard common >= max(theirs.lowerBound, ApiVersionsRequest.supportedVersions.lowerBound) else {
                throw KafkaClientError(.unsupportedVersion, "broker \(broker) supports no ApiVersions version Sluice has")
            }
            version = common
            response = try await send(request, version: version, on: channel, broker: broker, configuration: configuration, timeout: nil)
        }
        guard response.errorCode == .noError else {
            throw KafkaClientError(.kafkaError, "ApiVersions to \(broker) failed", kafkaError: response.errorCode)
        }
        var brokerRanges: [ApiKey: ClosedRange<Int16>] = [:]
        for key in response.apiKeys where key.minVersion <= key.maxVersion {
            brokerRanges[key.apiKey] = key.minVersion...key.maxVersion
        }
        return try ApiVersionTable.negotiate(broker: brokerRanges, ours: implementedVersions, overrides: configuration.versionOverrides)
    }

    private static func send<R: KafkaRequest>(
        _ request: R, version: Int16, on channel: any Channel, broker: BrokerAddress, configuration: ConnectionConfiguration,
        timeout: TimeAmount?
    ) async throws(KafkaClientError) -> R.Response {
        do {
            return try await sendFuture(request, version: version, on: channel, broker: broker, configuration: configuration, timeout: timeout).get()
        } catch {
            throw clientError(error)
        }
    }

    /// Writes the request now and decodes its answer on the event loop.
    private static func sendFuture<R: KafkaRequest>(
        _ request: R, version: Int16, on channel: any Channel, broker: BrokerAddress, configuration: ConnectionConfiguration,
        timeout: TimeAmount?
    ) -> EventLoopFuture<R.Response> {
        let promise = channel.eventLoop.makePromise(of: ByteBuffer?.self)
        write(
            outbound(
                request, version: version, expectsResponse: true, timeout: timeout ?? TimeAmount(configuration.requestTimeout),
                clientId: configuration.clientId, promise: promise),
            on: channel, broker: broker, promise: promise)
        return promise.futureResult.flatMapErrorThrowing { error in
            throw clientError(error)
        }.flatMapThrowing { frame -> R.Response in
            guard var frame else {
                // Only a request the broker does not answer completes without a frame.
                throw KafkaClientError(.protocolError, "\(R.apiKey) v\(version) to \(broker): no response frame")
            }
            do {
                return try KafkaRequestEncoder.decodeResponse(R.self, version: version, from: &frame).1
            } catch {
                throw KafkaClientError(.protocolError, "cannot decode \(R.apiKey) v\(version) response from \(broker): \(error)")
            }
        }
    }

    /// Writes a request into the pipeline. A channel that has already closed has no
    /// handlers left to see the write, so its failure must fail the request here, or the
    /// caller would wait for ever. (When the handler did see it, it has completed the
    /// request already and this second completion is ignored.)
    private static func write(
        _ request: OutboundRequest, on channel: any Channel, broker: BrokerAddress, promise: EventLoopPromise<ByteBuffer?>
    ) {
        let written = channel.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenFailure { error in
            promise.fail(
                (error as? KafkaClientError)
                    ?? KafkaClientError(.connectionClosed, "\(request.description) to \(broker) not sent: \(error)"))
        }
        channel.writeAndFlush(request, promise: written)
    }

    private static func outbound<R: KafkaRequest>(
        _ request: R, version: Int16, expectsResponse: Bool, timeout: TimeAmount, clientId: String,
        promise: EventLoopPromise<ByteBuffer?>
    ) -> OutboundRequest {
        OutboundRequest(
            expectsResponse: expectsResponse,
            timeout: timeout,
            description: "\(R.apiKey) v\(version)",
            encode: { correlationId, allocator in
                // Produce requests go out gathered: their batches are written from their
                // own buffers, not copied into the request's.
                if let produce = request as? ProduceRequest {
                    return try KafkaRequestEncoder.encodeGathered(
                        produce, version: version, correlationId: correlationId, clientId: clientId, allocator: allocator)
                }
                // Header (size, key, version, correlation id, client id) and body.
                var buffer = allocator.buffer(capacity: 64 + clientId.utf8.count + request.encodedSizeHint)
                try KafkaRequestEncoder.encode(request, version: version, correlationId: correlationId, clientId: clientId, into: &buffer)
                return [buffer]
            },
            complete: { result in promise.completeWith(result.mapError { $0 as any Error }) }
        )
    }

    private static func clientError(_ error: any Error) -> KafkaClientError {
        (error as? KafkaClientError) ?? KafkaClientError(.connectionClosed, "\(error)")
    }

    private static func describe(_ error: any Error) -> String {
        if let e = error as? NIOConnectionError {
            let reasons = e.connectionErrors.map { "\($0.target): \($0.error)" }
            return reasons.isEmpty ? "\(e)" : reasons.joined(separator: "; ")
        }
        return "\(error)"
    }
}
