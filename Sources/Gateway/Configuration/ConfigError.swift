/// Why a configuration could not be loaded: one struct with a code, the key involved
/// (dotted, as in the file: `listener.mode`, `producer.topics."orders".required_acks`)
/// and a message a person can act on.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong, as one of the static members (`.unknownKey`, ...). The set is
    /// extensible: a later version may add codes without breaking a library user's
    /// `switch`, which therefore needs a `default:`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The codes of this version as a closed enum: the package's own switches use it,
        /// so the compiler still finds each one that a new code must reach.
        package enum Base: String, Hashable, Sendable, CaseIterable {
            case unreadable, syntax, unknownKey, wrongType, invalidValue, missing
        }

        package let base: Base

        package init(_ base: Base) { self.base = base }

        /// The code's name (`unknownKey`); stable across versions, for logs and metric labels.
        public var description: String { base.rawValue }

        /// The file could not be read.
        public static let unreadable = Code(.unreadable)

        /// The file is not valid TOML.
        public static let syntax = Code(.syntax)

        /// A key that no option has (a typo, or an option of another version).
        public static let unknownKey = Code(.unknownKey)

        /// A value of the wrong TOML type (a string where a number is expected...).
        public static let wrongType = Code(.wrongType)

        /// A value of the right type outside its allowed range or set.
        public static let invalidValue = Code(.invalidValue)

        /// A required option has no value (`kafka.brokers`), or needs another one.
        public static let missing = Code(.missing)
    }

    /// What kind of problem; see `Code`.
    public var code: Code
    /// The key, dotted; empty when the error concerns the whole file.
    public var key: String
    /// What is wrong with the value, in the file's terms.
    public var message: String

    /// An error about `key`.
    public init(_ code: Code, key: String, _ message: String) {
        self.code = code
        self.key = key
        self.message = message
    }

    public var description: String {
        key.isEmpty ? "configuration error (\(code)): \(message)" : "configuration error (\(code)) at \(key): \(message)"
    }
}
