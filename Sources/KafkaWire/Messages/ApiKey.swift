/// Kafka API keys Sluice speaks.
public struct ApiKey: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int16
    public init(rawValue: Int16) { self.rawValue = rawValue }

    public static let produce = ApiKey(rawValue: 0)
    public static let metadata = ApiKey(rawValue: 3)
    public static let saslHandshake = ApiKey(rawValue: 17)
    public static let apiVersions = ApiKey(rawValue: 18)
    public static let initProducerId = ApiKey(rawValue: 22)
    public static let saslAuthenticate = ApiKey(rawValue: 36)

    public var description: String {
        switch self {
        case .produce: "Produce"
        case .metadata: "Metadata"
        case .saslHandshake: "SaslHandshake"
        case .apiVersions: "ApiVersions"
        case .initProducerId: "InitProducerId"
        case .saslAuthenticate: "SaslAuthenticate"
        default: "ApiKey(\(rawValue))"
        }
    }
}
