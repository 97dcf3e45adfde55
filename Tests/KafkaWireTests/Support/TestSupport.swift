import NIOCore

/// A buffer holding the bytes of a hex string (whitespace ignored).
func buffer(hex: String) -> ByteBuffer {
    let digits = Array(hex.utf8.filter { !$0.isWhitespace })
    precondition(digits.count % 2 == 0, "odd hex length")
    var out = ByteBuffer()
    out.reserveCapacity(digits.count / 2)
    var index = 0
    while index < digits.count {
        out.writeInteger(UInt8(nibble(digits[index]) << 4 | nibble(digits[index + 1])))
        index += 2
    }
    return out
}

private func nibble(_ c: UInt8) -> UInt8 {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
    default: preconditionFailure("not a hex digit: \(c)")
    }
}

extension UInt8 {
    fileprivate var isWhitespace: Bool { self == 0x20 || self == 0x0A || self == 0x0D || self == 0x09 }
}

extension ByteBuffer {
    /// The readable bytes as lowercase hex, for readable failure messages.
    var hex: String {
        readableBytesView.map { byte in
            let s = String(byte, radix: 16)
            return s.count == 1 ? "0" + s : s
        }.joined()
    }

    /// A buffer holding `string`'s UTF-8 bytes.
    init(text: String) {
        self.init()
        writeString(text)
    }
}

/// SplitMix64: a small seeded generator, so random tests are reproducible.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension RandomNumberGenerator {
    /// `count` random bytes.
    mutating func bytes(_ count: Int) -> [UInt8] {
        // Eight bytes per draw: per-byte draws dominate test time in debug builds.
        var out: [UInt8] = []
        out.reserveCapacity(count + 7)
        while out.count < count {
            withUnsafeBytes(of: next()) { out.append(contentsOf: $0) }
        }
        out.removeLast(out.count - count)
        return out
    }
}
