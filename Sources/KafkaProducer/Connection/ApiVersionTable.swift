import KafkaWire

/// The API versions negotiated with one broker: for each API, the highest version both
/// Sluice and the broker implement, unless overridden.
package struct ApiVersionTable: Sendable, Equatable {
    package private(set) var versions: [ApiKey: Int16]

    package init(versions: [ApiKey: Int16]) {
        self.versions = versions
    }

    /// Picks versions from what the broker advertises and what Sluice implements.
    /// - Parameters:
    ///   - broker: the broker's ranges by API key (from ApiVersions).
    ///   - ours: the ranges Sluice implements.
    ///   - overrides: forced versions; each must lie in both ranges.
    package static func negotiate(
        broker: [ApiKey: ClosedRange<Int16>], ours: [ApiKey: ClosedRange<Int16>], overrides: [ApiKey: Int16] = [:]
    ) throws(KafkaClientError) -> ApiVersionTable {
        var table: [ApiKey: Int16] = [:]
        for (key, mine) in ours {
            guard let theirs = broker[key] else { continue }
            let lo = max(mine.lowerBound, theirs.lowerBound)
            let hi = min(mine.upperBound, theirs.upperBound)
            guard lo <= hi else { continue }
            table[key] = hi
        }
        for (key, forced) in overrides {
            guard let mine = ours[key], let theirs = broker[key], mine.contains(forced), theirs.contains(forced) else {
                throw KafkaClientError(
                    .unsupportedVersion,
                    "version override \(key) v\(forced) is outside what Sluice (\(ours[key].map { "\($0)" } ?? "none")) and the broker (\(broker[key].map { "\($0)" } ?? "none")) support"
                )
            }
            table[key] = forced
        }
        return ApiVersionTable(versions: table)
    }

    /// The version to use for `key`, or nil when no common version exists.
    package subscript(key: ApiKey) -> Int16? { versions[key] }
}
