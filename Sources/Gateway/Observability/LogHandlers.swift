#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging
import NIOConcurrencyHelpers

/// Log lines on standard error, as text or as one JSON object a line.
public struct GatewayLogHandler: LogHandler {
    /// Text lines or JSON objects: `log.format`'s values.
    public typealias Format = GatewayConfiguration.Log.Format

    /// Metadata every line of this handler carries (swift-log's `LogHandler`).
    public var metadata: Logger.Metadata = [:]
    /// The least level logged.
    public var logLevel: Logger.Level
    /// Metadata added at each line (swift-log's `LogHandler`).
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let format: Format

    private static let lock = NIOLock()

    /// A handler for the logger `label`.
    public init(label: String, format: Format, level: Logger.Level) {
        self.label = label
        self.format = format
        self.logLevel = level
    }

    /// Bootstraps swift-log's global system with this handler.
    public static func bootstrap(format: Format, level: Logger.Level) {
        LoggingSystem.bootstrap { label in GatewayLogHandler(label: label, format: format, level: level) }
    }

    /// One metadata value (swift-log's `LogHandler`).
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Writes one line to standard error.
    public func log(event: LogEvent) {
        var all = metadata
        if let provided = metadataProvider?.get() { all.merge(provided) { _, new in new } }
        if let m = event.metadata { all.merge(m) { _, new in new } }
        let time = Self.timestamp()
        let line: String
        switch format {
        case .text:
            let meta = all.isEmpty ? "" : " " + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            line = "\(time) \(event.level.rawValue.uppercased()) \(label): \(event.message)\(meta)\n"
        case .json:
            var fields = [
                "\"time\":\(Self.json(time))", "\"level\":\(Self.json(event.level.rawValue))", "\"logger\":\(Self.json(label))",
                "\"message\":\(Self.json("\(event.message)"))",
            ]
            for (k, v) in all.sorted(by: { $0.key < $1.key }) { fields.append("\(Self.json(k)):\(Self.json("\(v)"))") }
            line = "{" + fields.joined(separator: ",") + "}\n"
        }
        Self.lock.withLock {
            _ = line.utf8CString.withUnsafeBufferPointer { p in write(2, p.baseAddress, p.count - 1) }
        }
    }

    static func json(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 {
                    let hex = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }

    static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = ts.tv_sec
        var tm = tm()
        gmtime_r(&t, &tm)
        func pad(_ v: Int32, _ n: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, n - s.count)) + s
        }
        return "\(tm.tm_year + 1900)-\(pad(tm.tm_mon + 1, 2))-\(pad(tm.tm_mday, 2))T\(pad(tm.tm_hour, 2)):\(pad(tm.tm_min, 2)):\(pad(tm.tm_sec, 2)).\(pad(Int32(ts.tv_nsec / 1_000_000), 3))Z"
    }
}
