/// The progress line `sluice produce` draws on a terminal: a bar, how much is done, the
/// rate and the time left. Pure: the caller gives the figures and the elapsed time.
struct ProgressLine {
    /// What the total counts: input bytes (a file) or records (`--count`).
    enum Unit { case bytes, records }

    var total: Int
    var unit: Unit
    var width = 30

    /// `[#####.....]  45% 1.2 MiB/2.7 MiB  8,100 rec/s  ETA 0:03`.
    func render(done: Int, records: Int, elapsedSeconds: Double) -> String {
        let fraction = total > 0 ? min(1, Double(done) / Double(total)) : 1
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let percent = Int(fraction * 100)
        let rate = elapsedSeconds > 0 ? Double(records) / elapsedSeconds : 0
        var eta = "--:--"
        if done > 0, elapsedSeconds > 0, fraction < 1 {
            eta = Self.clock(elapsedSeconds * (1 - fraction) / fraction)
        } else if fraction >= 1 {
            eta = Self.clock(0)
        }
        let amount = unit == .bytes ? "\(Self.bytes(done))/\(Self.bytes(total))" : "\(done)/\(total) records"
        return "[\(bar)] \(String(repeating: " ", count: max(0, 3 - String(percent).count)))\(percent)% \(amount)  \(Int(rate.rounded())) rec/s  ETA \(eta)"
    }

    /// `m:ss`, or `h:mm:ss` from an hour on.
    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded(.up))
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return s >= 3600 ? "\(s / 3600):\(two(s / 60 % 60)):\(two(s % 60))" : "\(s / 60):\(two(s % 60))"
    }

    /// Bytes in B, KiB, MiB or GiB with one decimal.
    static func bytes(_ n: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB"]
        var value = Double(n)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        if unit == 0 { return "\(n) B" }
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(tenths % 10) \(units[unit])"
    }
}
