/// The compression codecs a RecordBatch v2 can name in attribute bits 0-2.
///
/// Raw values are the attribute values on the wire.
public enum CompressionCodec: Int16, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case none = 0
    case gzip = 1
    case snappy = 2
    case lz4 = 3
    case zstd = 4

    /// The name Kafka configuration uses (`compression.type`).
    public var name: String {
        switch self {
        case .none: "none"
        case .gzip: "gzip"
        case .snappy: "snappy"
        case .lz4: "lz4"
        case .zstd: "zstd"
        }
    }

    /// Looks a codec up by its configuration name, ignoring case.
    public init?(name: String) {
        let lowered = name.lowercased()
        guard let codec = Self.allCases.first(where: { $0.name == lowered }) else { return nil }
        self = codec
    }

    /// The configuration name.
    public var description: String { name }
}
