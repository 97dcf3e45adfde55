import TOMLKit

/// A configuration value, from a TOML file or from text (an environment variable or a
/// `--set KEY=VALUE` flag). Text is converted to the type each option wants, so
/// `SLUICE_LIMITS_RECENT_OUTCOMES=100` works like `recent_outcomes = 100`.
package indirect enum ConfigValue: Sendable, Equatable {
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)
    case array([ConfigValue])
    case table([(String, ConfigValue)])
    /// Text from the environment or a flag: converted on use.
    case text(String)

    package static func == (a: ConfigValue, b: ConfigValue) -> Bool {
        switch (a, b) {
        case (.string(let x), .string(let y)), (.text(let x), .text(let y)): return x == y
        case (.int(let x), .int(let y)): return x == y
        case (.double(let x), .double(let y)): return x == y
        case (.bool(let x), .bool(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.table(let x), .table(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    /// The TOML name of this value's type, for error messages.
    var typeName: String {
        switch self {
        case .string, .text: "string"
        case .int: "integer"
        case .double: "float"
        case .bool: "boolean"
        case .array: "array"
        case .table: "table"
        }
    }

    // MARK: typed access (errors name the key)

    func string(_ key: String) throws(ConfigError) -> String {
        switch self {
        case .string(let s), .text(let s): return s
        default: throw ConfigError(.wrongType, key: key, "expected a string, found \(typeName)")
        }
    }

    func int(_ key: String) throws(ConfigError) -> Int {
        switch self {
        case .int(let i): return i
        case .text(let s):
            let t = s.trimmingWhitespace()
            if let i = Int(t) { return i }
            if t.hasPrefix("0o"), let i = Int(t.dropFirst(2), radix: 8) { return i }
            if t.hasPrefix("0x"), let i = Int(t.dropFirst(2), radix: 16) { return i }
            throw ConfigError(.wrongType, key: key, "expected an integer, found \"\(s)\"")
        default: throw ConfigError(.wrongType, key: key, "expected an integer, found \(typeName)")
        }
    }

    func int(_ key: String, in range: ClosedRange<Int>) throws(ConfigError) -> Int {
        let i = try int(key)
        guard range.contains(i) else {
            throw ConfigError(.invalidValue, key: key, "\(i) is outside \(range.lowerBound)...\(range.upperBound)")
        }
        return i
    }

    func bool(_ key: String) throws(ConfigError) -> Bool {
        switch self {
        case .bool(let b): return b
        case .text(let s):
            switch s.trimmingWhitespace().lowercased() {
            case "true", "1", "yes", "on": return true
            case "false", "0", "no", "off": return false
            default: throw ConfigError(.wrongType, key: key, "expected true or false, found \"\(s)\"")
            }
        default: throw ConfigError(.wrongType, key: key, "expected a boolean, found \(typeName)")
        }
    }

    /// An array; text is split at commas (empty text is an empty array).
    func array(_ key: String) throws(ConfigError) -> [ConfigValue] {
        switch self {
        case .array(let a): return a
        case .text(let s):
            let t = s.trimmingWhitespace()
            if t.isEmpty { return [] }
            return t.split(separator: ",").map { .text(String($0).trimmingWhitespace()) }
        default: throw ConfigError(.wrongType, key: key, "expected an array, found \(typeName)")
        }
    }

    func table(_ key: String) throws(ConfigError) -> [(String, ConfigValue)] {
        guard case .table(let t) = self else {
            throw ConfigError(.wrongType, key: key, "expected a table, found \(typeName)")
        }
        return t
    }

    func strings(_ key: String) throws(ConfigError) -> [String] {
        var out: [String] = []
        for (i, v) in try array(key).enumerated() { out.append(try v.string("\(key)[\(i)]")) }
        return out
    }

    func ints(_ key: String, in range: ClosedRange<Int>) throws(ConfigError) -> [Int] {
        var out: [Int] = []
        for (i, v) in try array(key).enumerated() { out.append(try v.int("\(key)[\(i)]", in: range)) }
        return out
    }

    // MARK: TOML

    /// Converts a parsed TOML document, keeping key order.
    static func from(_ table: TOMLTable, key: String = "") throws(ConfigError) -> ConfigValue {
        var entries: [(String, ConfigValue)] = []
        for name in table.keys {
            guard let v = table[name] else { continue }
            let path = ConfigKeys.join(key, name)
            entries.append((name, try from(v, key: path)))
        }
        return .table(entries)
    }

    private static func from(_ value: any TOMLValueConvertible, key: String) throws(ConfigError) -> ConfigValue {
        switch value.type {
        case .string: return .string(value.string ?? "")
        case .int: return .int(value.int ?? 0)
        case .double: return .double(value.double ?? 0)
        case .bool: return .bool(value.bool ?? false)
        case .table:
            guard let t = value.table else { return .table([]) }
            return try from(t, key: key)
        case .array:
            guard let a = value.array else { return .array([]) }
            var out: [ConfigValue] = []
            for (i, element) in a.enumerated() { out.append(try from(element, key: "\(key)[\(i)]")) }
            return .array(out)
        default:
            throw ConfigError(.wrongType, key: key, "dates and times are not used by any option")
        }
    }
}

extension String {
    /// The string as a TOML basic string, quotes and escapes included (how keys of
    /// per-topic tables are written: `producer.topics."orders.eu"`).
    var tomlQuoted: String {
        var out = "\""
        for ch in unicodeScalars {
            switch ch {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default:
                if ch.value < 0x20 || ch.value == 0x7f {
                    out += "\\u" + String(repeating: "0", count: 4 - String(ch.value, radix: 16).count) + String(ch.value, radix: 16)
                } else {
                    out.unicodeScalars.append(ch)
                }
            }
        }
        return out + "\""
    }

    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}
