import NIOCore
import NIOSSL
import NIOTLS

/// Sits right after `NIOSSLClientHandler` in a broker connection's pipeline.
///
/// - Reports the end of the TLS handshake through `handshake`: success, or a `.tls` error
///   naming the broker and the reason, so `BrokerConnection.connect` can wait for it
///   before sending ApiVersions and fail promptly with the real cause, instead of a
///   generic `.connectionClosed` or a request timeout.
/// - Bounds the handshake by `timeout`.
/// - Turns later TLS errors into `KafkaClientError`s for `KafkaChannelHandler`, which
///   then fails the pending requests with them: `.tls` for real TLS failures, but
///   `.connectionClosed` (retriable) for a peer that merely hung up without a TLS
///   close_notify, as any dropped connection.
final class BrokerTLSHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let broker: String
    /// What the certificate is checked against, for error messages.
    private let identity: String
    private let timeout: TimeAmount
    /// Pending until the handshake ends; nil afterwards.
    private var handshake: EventLoopPromise<Void>?
    private var timer: Scheduled<Void>?

    /// - Parameters:
    ///   - serverName: the name sent as SNI and checked; nil when the certificate is
    ///     checked against the broker's IP address.
    init(broker: BrokerAddress, serverName: String?, timeout: TimeAmount, handshake: EventLoopPromise<Void>) {
        self.broker = broker.description
        self.identity = serverName ?? "IP address \(broker.host)"
        self.timeout = timeout
        self.handshake = handshake
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { startTimer(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        // The handshake starts now (NIOSSL begins it on channelActive); the TCP connect
        // before it has its own timeout.
        startTimer(context: context)
        context.fireChannelActive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSUserEvent, case .handshakeCompleted = event {
            finish(.success(()))
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let translated = translate(error)
        finish(.failure(translated))
        context.fireErrorCaught(translated)
    }

    func channelInactive(context: ChannelHandlerContext) {
        // NIOSSL reports an EOF during the handshake as an error first; this is the
        // fallback should the connection go without one.
        finish(.failure(KafkaClientError(.tls, "TLS handshake with broker \(broker) failed: the connection closed")))
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        finish(.failure(KafkaClientError(.tls, "TLS handshake with broker \(broker) did not complete: the connection was torn down")))
    }

    private func startTimer(context: ChannelHandlerContext) {
        guard handshake != nil, timer == nil else { return }
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [weak self] in
            guard let self, self.handshake != nil else { return }
            self.finish(
                .failure(
                    KafkaClientError(
                        .tls,
                        "TLS handshake with broker \(self.broker) did not complete within \(self.timeout.nanoseconds / 1_000_000) ms (is it a TLS listener?)"
                    )))
            context.close(promise: nil)
        }
    }

    private func finish(_ result: Result<Void, KafkaClientError>) {
        timer?.cancel()
        timer = nil
        guard let handshake else { return }
        self.handshake = nil
        handshake.completeWith(result.mapError { $0 as any Error })
    }

    /// A `KafkaClientError` for whatever NIOSSL or the channel reported.
    private func translate(_ error: any Error) -> KafkaClientError {
        if let error = error as? KafkaClientError { return error }
        let during = handshake != nil ? "TLS handshake with broker \(broker) failed" : "TLS with broker \(broker) failed"
        switch error {
        case NIOSSLError.uncleanShutdown where handshake == nil:
            // The peer closed TCP without close_notify: a lost connection like any other.
            return KafkaClientError(.connectionClosed, "connection to \(broker) closed (without TLS close_notify)")
        case let error as NIOSSLExtraError where error == .failedToValidateHostname:
            return KafkaClientError(.tls, "\(during): the broker's certificate is not valid for \(identity) (\(error))")
        case let error as NIOSSLError:
            return KafkaClientError(.tls, "\(during): \(Self.reason(for: "\(error)"))(\(error))")
        case let error as NIOSSLExtraError:
            return KafkaClientError(.tls, "\(during): \(error)")
        case let error as BoringSSLError:
            return KafkaClientError(.tls, "\(during): \(Self.reason(for: "\(error)"))(\(error))")
        default:
            if handshake != nil {
                return KafkaClientError(.tls, "\(during): \(error)")
            }
            return KafkaClientError(.connectionClosed, "connection to \(broker) failed: \(error)")
        }
    }

    /// A readable reason for the BoringSSL error names that come up with brokers, ending
    /// in a space; empty when the raw error has to speak for itself.
    private static func reason(for raw: String) -> String {
        let reasons: [(marker: String, reason: String)] = [
            ("CERTIFICATE_VERIFY_FAILED", "the broker's certificate did not verify (not signed by a trusted CA, expired, or not yet valid) "),
            ("EOF during handshake", "the broker closed the connection during the handshake (not a TLS listener, or it refused our certificate?) "),
            ("WRONG_VERSION_NUMBER", "the broker did not answer with TLS (a plaintext listener?) "),
            ("PACKET_LENGTH_TOO_LONG", "the broker did not answer with TLS (a plaintext listener?) "),
            ("CERTIFICATE_REQUIRED", "the broker requires a client certificate "),
            ("ALERT_UNKNOWN_CA", "the broker does not trust our client certificate "),
            ("ALERT_BAD_CERTIFICATE", "the broker rejected our client certificate "),
            ("ALERT_HANDSHAKE_FAILURE", "the broker shares no protocol version or cipher with us, or rejected our certificate "),
            ("ALERT_PROTOCOL_VERSION", "the broker shares no TLS version with us (Sluice needs TLS 1.2 or later) "),
        ]
        return reasons.first { raw.contains($0.marker) }?.reason ?? ""
    }
}
