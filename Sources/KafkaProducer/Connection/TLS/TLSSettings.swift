import NIOCore
import NIOSSL

extension ConnectionConfiguration {
    /// TLS to the broker (Kafka's SSL and SASL_SSL listeners). Defaults in brackets.
    ///
    /// The broker's certificate is verified by default, chain and name both, unlike brod,
    /// whose SSL does not check certificates unless told to. Turning verification off
    /// takes an explicit `verify: false`.
    public struct TLSSettings: Sendable, Hashable {
        /// PEM file with the CA certificates to trust for the broker's certificate
        /// [nil: the system's trust roots].
        public var caFile: String?
        /// PEM file with our certificate chain, for brokers that require client
        /// certificates (mutual TLS) [nil: none]. Needs `privateKeyFile`.
        public var certificateFile: String?
        /// PEM file with the private key of `certificateFile` [nil].
        public var privateKeyFile: String?
        /// The DNS name the broker's certificate must carry, also sent as SNI
        /// [nil: the broker's host]. When the host is an IP address and no name is given,
        /// the certificate must list that IP address (SNI cannot carry one).
        ///
        /// NIOSSL accepts a certificate if any of its subject alternative names matches
        /// either this name or the IP address connected to: a certificate that lists the
        /// broker's IP passes whatever `serverName` says.
        public var serverName: String?
        /// Whether the broker's certificate chain and name are verified [true].
        /// `false` accepts any certificate: the connection is then encrypted but open to
        /// a man in the middle. For tests only.
        public var verify: Bool
        /// How long the TLS handshake may take once TCP is connected [10 s]. Without it, a
        /// peer that never answers the ClientHello (a plaintext listener waiting for more
        /// bytes, say) would hold the connection until the first request timed out.
        public var handshakeTimeout: Duration
        /// The default of `handshakeTimeout` [10 s].
        public static let defaultHandshakeTimeout: Duration = .seconds(10)

        /// Creates TLS settings; every argument has the default documented on its property.
        public init(
            caFile: String? = nil, certificateFile: String? = nil, privateKeyFile: String? = nil,
            serverName: String? = nil, verify: Bool = true, handshakeTimeout: Duration = TLSSettings.defaultHandshakeTimeout
        ) {
            self.caFile = caFile
            self.certificateFile = certificateFile
            self.privateKeyFile = privateKeyFile
            self.serverName = serverName
            self.verify = verify
            self.handshakeTimeout = handshakeTimeout
        }

        /// Builds the SSL context: reads the CA, certificate and key files.
        ///
        /// Done for each connection: contexts are cheap next to a TLS handshake, and
        /// certificate files replaced on disk (rotated) are then picked up on reconnect.
        /// - Throws: `.invalidArgument` naming the file that cannot be used.
        func makeContext() throws(KafkaClientError) -> NIOSSLContext {
            var tls = TLSConfiguration.makeClientConfiguration()
            // Kafka's own default (ssl.enabled.protocols) is TLS 1.2 and 1.3.
            tls.minimumTLSVersion = .tlsv12
            tls.certificateVerification = verify ? .fullVerification : .none
            if let caFile {
                let roots: [NIOSSLCertificate]
                do {
                    roots = try NIOSSLCertificate.fromPEMFile(caFile)
                } catch {
                    throw KafkaClientError(.invalidArgument, "TLS: cannot read CA file \(caFile): \(error)")
                }
                guard !roots.isEmpty else {
                    throw KafkaClientError(.invalidArgument, "TLS: CA file \(caFile) holds no certificate")
                }
                tls.trustRoots = .certificates(roots)
            }
            switch (certificateFile, privateKeyFile) {
            case (nil, nil):
                break
            case (let certificateFile?, let privateKeyFile?):
                let chain: [NIOSSLCertificate]
                do {
                    chain = try NIOSSLCertificate.fromPEMFile(certificateFile)
                } catch {
                    throw KafkaClientError(.invalidArgument, "TLS: cannot read certificate file \(certificateFile): \(error)")
                }
                guard !chain.isEmpty else {
                    throw KafkaClientError(.invalidArgument, "TLS: certificate file \(certificateFile) holds no certificate")
                }
                let key: NIOSSLPrivateKey
                do {
                    key = try NIOSSLPrivateKey(file: privateKeyFile, format: .pem)
                } catch {
                    throw KafkaClientError(.invalidArgument, "TLS: cannot read private key file \(privateKeyFile): \(error)")
                }
                tls.certificateChain = chain.map { .certificate($0) }
                tls.privateKey = .privateKey(key)
            default:
                throw KafkaClientError(.invalidArgument, "TLS: certificateFile and privateKeyFile go together; only one is set")
            }
            do {
                return try NIOSSLContext(configuration: tls)
            } catch {
                throw KafkaClientError(.invalidArgument, "TLS: invalid settings: \(error)")
            }
        }

        /// The name to send as SNI and check the certificate against, or nil when the
        /// certificate is checked against the broker's IP address instead.
        /// - Throws: `.invalidArgument` for a `serverName` that is an IP address: SNI cannot
        ///   carry one, and the connected address is what an IP check would compare.
        func expectedServerName(for broker: BrokerAddress) throws(KafkaClientError) -> String? {
            if let serverName {
                guard !Self.isIPAddress(serverName) else {
                    throw KafkaClientError(
                        .invalidArgument, "TLS: serverName \(serverName) is an IP address; connect to that address instead")
                }
                return serverName
            }
            return Self.isIPAddress(broker.host) ? nil : broker.host
        }

        private static func isIPAddress(_ host: String) -> Bool {
            (try? SocketAddress(ipAddress: host, port: 0)) != nil
        }
    }
}
