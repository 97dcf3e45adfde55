import NIOCore

/// ApiVersions request (key 18), versions 0-3; version 3 is flexible.
///
/// The first request on every connection: the broker answers with the version range it
/// supports for each API, and the client picks, per API, the highest version both know.
public struct ApiVersionsRequest: KafkaRequest {
    public typealias Response = ApiVersionsResponse
    public static let apiKey = ApiKey.apiVersions
    public static let supportedVersions: ClosedRange<Int16> = 0...3
    public static let firstFlexibleVersion: Int16? = 3

    /// The client's software name (v3+). Brokers validate it (letters, digits, `.` and `-`,
    /// starting and ending alphanumeric) and answer INVALID_REQUEST to an empty or bad one,
    /// so a v3 request must set it. The empty default is Kafka's default for the field.
    public var clientSoftwareName: String
    /// The client's software version (v3+); validated like `clientSoftwareName`.
    public var clientSoftwareVersion: String
    /// Tagged fields of the request (v3+), kept raw.
    public var taggedFields: [TaggedField]

    /// Creates a request; set both names for v3.
    public init(clientSoftwareName: String = "", clientSoftwareVersion: String = "", taggedFields: [TaggedField] = []) {
        self.clientSoftwareName = clientSoftwareName
        self.clientSoftwareVersion = clientSoftwareVersion
        self.taggedFields = taggedFields
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) throws {
        let flexible = try Self.checkedFlexible(version)
        // v0-v2 bodies are empty; the fields only exist from v3, which is also flexible.
        guard flexible else { return }
        try buffer.writeMessageString(clientSoftwareName, flexible: true, "client software name")
        try buffer.writeMessageString(clientSoftwareVersion, flexible: true, "client software version")
        buffer.writeTaggedFields(taggedFields)
    }

    public static func decode(from buffer: inout ByteBuffer, version: Int16) throws -> ApiVersionsRequest {
        guard try checkedFlexible(version) else { return ApiVersionsRequest() }
        return ApiVersionsRequest(
            clientSoftwareName: try buffer.readKafkaString(flexible: true, "client software name"),
            clientSoftwareVersion: try buffer.readKafkaString(flexible: true, "client software version"),
            taggedFields: try buffer.readTaggedFields()
        )
    }
}

/// ApiVersions response, versions 0-3; version 3 is flexible.
///
/// Its header is always response header v0 (see `KafkaRequest.responseHeaderVersion`). A
/// broker that does not support the requested version answers UNSUPPORTED_VERSION with a
/// **version 0** body, so clients should decode with `decodeWithFallback(from:version:)`.
public struct ApiVersionsResponse: KafkaResponse {
    /// The version range of one API the broker supports.
    public struct ApiVersion: Sendable, Equatable {
        /// The API (any key the broker sends, known to Sluice or not).
        public var apiKey: ApiKey
        /// The lowest supported version, inclusive.
        public var minVersion: Int16
        /// The highest supported version, inclusive.
        public var maxVersion: Int16
        /// Tagged fields (v3+), kept raw.
        public var taggedFields: [TaggedField]

        /// Creates an entry.
        public init(apiKey: ApiKey, minVersion: Int16, maxVersion: Int16, taggedFields: [TaggedField] = []) {
            self.apiKey = apiKey
            self.minVersion = minVersion
            self.maxVersion = maxVersion
            self.taggedFields = taggedFields
        }
    }

    /// A feature the broker supports (tagged field 0, v3+).
    public struct SupportedFeature: Sendable, Equatable {
        /// The feature name.
        public var name: String
        /// The lowest supported version, inclusive.
        public var minVersion: Int16
        /// The highest supported version, inclusive.
        public var maxVersion: Int16
        /// Tagged fields, kept raw.
        public var taggedFields: [TaggedField]

        /// Creates an entry.
        public init(name: String, minVersion: Int16, maxVersion: Int16, taggedFields: [TaggedField] = []) {
            self.name = name
            self.minVersion = minVersion
            self.maxVersion = maxVersion
            self.taggedFields = taggedFields
        }
    }

    /// A cluster-wide finalized feature (tagged field 2, v3+). On the wire the max level
    /// comes before the min level.
    public struct FinalizedFeature: Sendable, Equatable {
        /// The feature name.
        public var name: String
        /// The finalized max version level.
        public var maxVersionLevel: Int16
        /// The finalized min version level.
        public var minVersionLevel: Int16
        /// Tagged fields, kept raw.
        public var taggedFields: [TaggedField]

        /// Creates an entry.
        public init(name: String, maxVersionLevel: Int16, minVersionLevel: Int16, taggedFields: [TaggedField] = []) {
            self.name = name
            self.maxVersionLevel = maxVersionLevel
            self.minVersionLevel = minVersionLevel
            self.taggedFields = taggedFields
        }
    }

    /// Tags of the top-level tagged fields this codec decodes into typed properties.
    enum Tag {
        static let supportedFeatures: UInt32 = 0
        static let finalizedFeaturesEpoch: UInt32 = 1
        static let finalizedFeatures: UInt32 = 2
        static let zkMigrationReady: UInt32 = 3
        static let known: ClosedRange<UInt32> = 0...3
    }

    /// The top-level error (UNSUPPORTED_VERSION when the request version was too high).
    public var errorCode: KafkaErrorCode
    /// The APIs the broker supports.
    public var apiKeys: [ApiVersion]
    /// Throttle time (v1+; 0 before).
    public var throttleTimeMs: Int32
    /// Supported features (tag 0, v3+; empty when absent).
    public var supportedFeatures: [SupportedFeature]
    /// Epoch of the finalized features (tag 1, v3+; -1, "unknown", when absent).
    public var finalizedFeaturesEpoch: Int64
    /// Finalized features (tag 2, v3+; empty when absent).
    public var finalizedFeatures: [FinalizedFeature]
    /// Set by a KRaft controller ready for ZooKeeper migration (tag 3, v3+; false when absent).
    public var zkMigrationReady: Bool
    /// Top-level tagged fields with tags this codec does not know, kept raw so a round trip
    /// preserves them. Entries with tags 0-3 are ignored when encoding: the typed
    /// properties above own those tags.
    public var taggedFields: [TaggedField]

    /// Creates a response; the defaults are what versions lacking a field decode to.
    public init(
        errorCode: KafkaErrorCode = .noError,
        apiKeys: [ApiVersion],
        throttleTimeMs: Int32 = 0,
        supportedFeatures: [SupportedFeature] = [],
        finalizedFeaturesEpoch: Int64 = -1,
        finalizedFeatures: [FinalizedFeature] = [],
        zkMigrationReady: Bool = false,
        taggedFields: [TaggedField] = []
    ) {
        self.errorCode = errorCode
        self.apiKeys = apiKeys
        self.throttleTimeMs = throttleTimeMs
        self.supportedFeatures = supportedFeatures
        self.finalizedFeaturesEpoch = finalizedFeaturesEpoch
        self.finalizedFeatures = finalizedFeatures
        self.zkMigrationReady = zkMigrationReady
        self.taggedFields = taggedFields
    }

    /// The version range the broker supports for `key`, or nil when it does not list the API
    /// (or lists a malformed range with min > max, which no version can satisfy).
    public func versionRange(for key: ApiKey) -> ClosedRange<Int16>? {
        guard let entry = apiKeys.first(where: { $0.apiKey == key }), entry.minVersion <= entry.maxVersion else {
            return nil
        }
        return entry.minVersion...entry.maxVersion
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) throws {
        let flexible = try ApiVersionsRequest.checkedFlexible(version)
        buffer.writeInteger(errorCode.rawValue)
        buffer.writeMessageArray(apiKeys, flexible: flexible) { buf, entry in
            buf.writeInteger(entry.apiKey.rawValue)
            buf.writeInteger(entry.minVersion)
            buf.writeInteger(entry.maxVersion)
            buf.writeTagSection(entry.taggedFields, flexible: flexible)
        }
        if version >= 1 { buffer.writeInteger(throttleTimeMs) }
        if flexible { buffer.writeTaggedFields(try topLevelTags()) }
    }

    /// The top-level tag section: typed fields that differ from their defaults (as Kafka
    /// writes them), plus the raw unknown ones. `writeTaggedFields` sorts them by tag.
    private func topLevelTags() throws -> [TaggedField] {
        var tags = taggedFields.filter { !Tag.known.contains($0.tag) }
        if !supportedFeatures.isEmpty {
            var data = ByteBuffer()
            try data.writeMessageArray(supportedFeatures, flexible: true) { buf, f in
                try buf.writeMessageString(f.name, flexible: true, "feature name")
                buf.writeInteger(f.minVersion)
                buf.writeInteger(f.maxVersion)
                buf.writeTaggedFields(f.taggedFields)
            }
            tags.append(TaggedField(tag: Tag.supportedFeatures, data: data))
        }
        if finalizedFeaturesEpoch != -1 {
            var data = ByteBuffer()
            data.writeInteger(finalizedFeaturesEpoch)
            tags.append(TaggedField(tag: Tag.finalizedFeaturesEpoch, data: data))
        }
        if !finalizedFeatures.isEmpty {
            var data = ByteBuffer()
            try data.writeMessageArray(finalizedFeatures, flexible: true) { buf, f in
                try buf.writeMessageString(f.name, flexible: true, "feature name")
                buf.writeInteger(f.maxVersionLevel)
                buf.writeInteger(f.minVersionLevel)
                buf.writeTaggedFields(f.taggedFields)
            }
            tags.append(TaggedField(tag: Tag.finalizedFeatures, data: data))
        }
        if zkMigrationReady {
            var data = ByteBuffer()
            data.writeKafkaBool(true)
            tags.append(TaggedField(tag: Tag.zkMigrationReady, data: data))
        }
        return tags
    }

    public static func decode(from buffer: inout ByteBuffer, version: Int16) throws -> ApiVersionsResponse {
        let flexible = try ApiVersionsRequest.checkedFlexible(version)
        let errorCode = KafkaErrorCode(try buffer.readKafkaInt(Int16.self, "error code"))
        // A null api_keys array is invalid; reading it as nullable and rejecting nil keeps a
        // v0 body misread as v3 from passing as an empty list.
        guard
            let apiKeys = try buffer.readKafkaNullableArray(flexible: flexible, "api keys", { buf in
                ApiVersion(
                    apiKey: ApiKey(rawValue: try buf.readKafkaInt(Int16.self, "api key")),
                    minVersion: try buf.readKafkaInt(Int16.self, "min version"),
                    maxVersion: try buf.readKafkaInt(Int16.self, "max version"),
                    taggedFields: try buf.readTagSection(flexible: flexible)
                )
            })
        else { throw KafkaWireError(.invalidLength, "null api keys array") }
        var response = ApiVersionsResponse(errorCode: errorCode, apiKeys: apiKeys)
        if version >= 1 { response.throttleTimeMs = try buffer.readKafkaInt(Int32.self, "throttle time") }
        if flexible {
            for field in try buffer.readTaggedFields() {
                var data = field.data
                switch field.tag {
                case Tag.supportedFeatures:
                    response.supportedFeatures = try data.readKafkaArray(flexible: true, "supported features") { buf in
                        SupportedFeature(
                            name: try buf.readKafkaString(flexible: true, "feature name"),
                            minVersion: try buf.readKafkaInt(Int16.self, "feature min version"),
                            maxVersion: try buf.readKafkaInt(Int16.self, "feature max version"),
                            taggedFields: try buf.readTaggedFields()
                        )
                    }
                case Tag.finalizedFeaturesEpoch:
                    response.finalizedFeaturesEpoch = try data.readKafkaInt(Int64.self, "finalized features epoch")
                case Tag.finalizedFeatures:
                    response.finalizedFeatures = try data.readKafkaArray(flexible: true, "finalized features") { buf in
                        FinalizedFeature(
                            name: try buf.readKafkaString(flexible: true, "feature name"),
                            maxVersionLevel: try buf.readKafkaInt(Int16.self, "feature max level"),
                            minVersionLevel: try buf.readKafkaInt(Int16.self, "feature min level"),
                            taggedFields: try buf.readTaggedFields()
                        )
                    }
                case Tag.zkMigrationReady:
                    response.zkMigrationReady = try data.readKafkaBool()
                default:
                    response.taggedFields.append(field)
                }
            }
        }
        return response
    }

    /// Decodes a response body as a client must: with the requested version, except that a
    /// broker which does not support that version answers UNSUPPORTED_VERSION with a version 0
    /// body (listing its own ApiVersions range so the client can retry lower).
    ///
    /// The fallback is taken only for that error code, and only if the v0 reading uses the
    /// whole body. Kafka's Java client retries v0 after any failure, but a v1/v2 body cut
    /// before its throttle time *is* a valid v0 body, so that rule would turn a damaged
    /// answer into a plausible one. `buffer` must hold exactly the response body.
    public static func decodeWithFallback(from buffer: inout ByteBuffer, version: Int16) throws -> ApiVersionsResponse {
        if version > 0,
            buffer.getInteger(at: buffer.readerIndex, as: Int16.self) == KafkaErrorCode.unsupportedVersion.rawValue,
            let v0 = wholeV0(buffer)
        {
            buffer.moveReaderIndex(to: buffer.writerIndex)
            return v0
        }
        return try decode(from: &buffer, version: version)
    }

    /// `body` decoded as v0 if that reading uses every byte, else nil.
    private static func wholeV0(_ body: ByteBuffer) -> ApiVersionsResponse? {
        var copy = body
        guard let v0 = try? decode(from: &copy, version: 0), copy.readableBytes == 0 else { return nil }
        return v0
    }
}
