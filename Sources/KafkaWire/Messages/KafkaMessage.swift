import NIOCore

/// A Kafka request body: encodes and decodes itself for one API version.
///
/// Decoding requests exists for round-trip tests; the client only encodes them.
/// The header (`RequestHeader`) is written separately by the connection.
public protocol KafkaRequest: Sendable, Equatable {
    associatedtype Response: KafkaResponse
    static var apiKey: ApiKey { get }
    /// The versions this codec implements.
    static var supportedVersions: ClosedRange<Int16> { get }
    /// The first flexible (compact, tagged-field) version, or nil if none is.
    static var firstFlexibleVersion: Int16? { get }

    func encode(into buffer: inout ByteBuffer, version: Int16) throws
    static func decode(from buffer: inout ByteBuffer, version: Int16) throws -> Self
    /// About how many bytes `encode` writes, to size the buffer once: a request grown
    /// from a small buffer is copied at every doubling. Need not be exact.
    var encodedSizeHint: Int { get }
}

extension KafkaRequest {
    /// Small requests: a header's worth.
    public var encodedSizeHint: Int { 256 }
}

/// A Kafka response body for one API version (header not included).
public protocol KafkaResponse: Sendable, Equatable {
    func encode(into buffer: inout ByteBuffer, version: Int16) throws
    static func decode(from buffer: inout ByteBuffer, version: Int16) throws -> Self
}

extension KafkaRequest {
    public static func isFlexible(_ version: Int16) -> Bool {
        guard let f = firstFlexibleVersion else { return false }
        return version >= f
    }

    /// Request header version: 2 for flexible versions, else 1.
    public static func requestHeaderVersion(_ version: Int16) -> Int16 {
        isFlexible(version) ? 2 : 1
    }

    /// Response header version: 1 for flexible versions, else 0. ApiVersions always
    /// answers with header v0 so that a client that does not know the broker can parse it.
    public static func responseHeaderVersion(_ version: Int16) -> Int16 {
        if apiKey == .apiVersions { return 0 }
        return isFlexible(version) ? 1 : 0
    }

    @usableFromInline
    static func checkVersion(_ version: Int16) throws {
        guard supportedVersions.contains(version) else {
            throw KafkaWireError(.unsupportedVersion, "\(apiKey) v\(version) is not implemented (have \(supportedVersions))")
        }
    }
}
