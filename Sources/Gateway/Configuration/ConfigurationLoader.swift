import Foundation
import TOMLKit

/// Builds the effective configuration from its sources, later ones winning: defaults,
/// the TOML file, the environment (`SLUICE_*`), `--set KEY=VALUE` assignments, then the
/// dedicated flags (applied by the caller's closure).
public enum ConfigurationLoader {
    /// The effective configuration and what deserves a warning.
    public struct Loaded: Sendable {
        public var configuration: GatewayConfiguration
        /// `SLUICE_*` variables that name no option.
        public var unknownEnvironment: [String]
    }

    /// Parses TOML text into a `ConfigValue` table; syntax errors name the line and column.
    package static func parse(toml text: String, file: String = "configuration") throws(ConfigError) -> ConfigValue {
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let e as TOMLParseError {
            throw ConfigError(
                .syntax, key: "", "\(file): line \(e.source.begin.line), column \(e.source.begin.column): \(e.description)")
        } catch {
            throw ConfigError(.syntax, key: "", "\(file): \(error)")
        }
        return try ConfigValue.from(table)
    }

    /// Reads and parses a TOML file.
    package static func read(file path: String) throws(ConfigError) -> ConfigValue {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigError(.unreadable, key: "", "cannot read \(path): \((error as NSError).localizedDescription)")
        }
        return try parse(toml: text, file: path)
    }

    /// Loads and validates.
    public static func load(
        file: String?, environment: [String: String], assignments: [String] = [],
        flags: (inout GatewayConfiguration) throws(ConfigError) -> Void = { _ throws(ConfigError) in }
    ) throws(ConfigError) -> Loaded {
        var c = GatewayConfiguration()
        if let file {
            try ConfigKeys.applyFile(try read(file: file), to: &c)
        }
        let unknown = try ConfigKeys.applyEnvironment(environment, to: &c)
        for a in assignments { try ConfigKeys.applyAssignment(a, to: &c) }
        try flags(&c)
        try c.validate()
        return Loaded(configuration: c, unknownEnvironment: unknown)
    }
}
