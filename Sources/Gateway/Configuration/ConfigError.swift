/// Why a configuration could not be loaded: one struct with a code, the key involved
/// (dotted, as in the file: `listener.mode`, `producer.topics."orders".required_acks`)
/// and a message a person can act on.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, Equatable {
        /// The file could not be read.
        case unreadable
        /// The file is not valid TOML.
        case syntax
        /// A key that no option has (a typo, or an option of another version).
        case unknownKey
        /// A value of the wrong TOML type (a string where a number is expected...).
        case wrongType
        /// A value of the right type outside its allowed range or set.
        case invalidValue
        /// A required option has no value (`kafka.brokers`), or needs another one.
        case missing
    }

    public var code: Code
    /// The key, dotted; empty when the error concerns the whole file.
    public var key: String
    public var message: String

    public init(_ code: Code, key: String, _ message: String) {
        self.code = code
        self.key = key
        self.message = message
    }

    public var description: String {
        key.isEmpty ? "configuration error (\(code.rawValue)): \(message)" : "configuration error (\(code.rawValue)) at \(key): \(message)"
    }
}
