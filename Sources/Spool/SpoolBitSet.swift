/// Which calls of a segment still wait for their outcome: one bit per sequence number
/// from the segment's first (calls are numbered densely, so a bit costs 1/8 byte a call).
struct SpoolBitSet {
    private var words: [UInt64] = []
    private(set) var count = 0

    mutating func insert(_ i: Int) {
        let (w, b) = (i >> 6, UInt64(1) << UInt64(i & 63))
        if w >= words.count { words.append(contentsOf: repeatElement(0, count: w + 1 - words.count)) }
        if words[w] & b == 0 {
            words[w] |= b
            count += 1
        }
    }

    /// True when `i` was in the set.
    @discardableResult
    mutating func remove(_ i: Int) -> Bool {
        let (w, b) = (i >> 6, UInt64(1) << UInt64(i & 63))
        guard i >= 0, w < words.count, words[w] & b != 0 else { return false }
        words[w] &= ~b
        count -= 1
        return true
    }

    func contains(_ i: Int) -> Bool {
        let w = i >> 6
        return i >= 0 && w < words.count && words[w] & (UInt64(1) << UInt64(i & 63)) != 0
    }
}
