/// A broker's host and port.
public struct BrokerAddress: Hashable, Sendable, CustomStringConvertible {
    /// Host name or IP address (an IPv6 address without brackets).
    public var host: String
    /// TCP port.
    public var port: Int

    /// The broker at `host` and `port`.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST:PORT` (or `[v6]:PORT`).
    public init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (1...65535).contains(port)
        else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self.init(host: host, port: port)
    }

    /// Parses a comma-separated `HOST:PORT,...` list; nil if any entry is invalid.
    public static func parseList(_ text: String) -> [BrokerAddress]? {
        let parts = text.split(separator: ",").map { String($0.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed()) }
        guard !parts.isEmpty else { return nil }
        var out: [BrokerAddress] = []
        for p in parts {
            guard let a = BrokerAddress(p) else { return nil }
            out.append(a)
        }
        return out
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
