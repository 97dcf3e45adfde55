import NIOCore
import SluiceClient

/// How `sluice produce` turns one input line into a record, kcat's way: with a key
/// delimiter the line is split at its first occurrence into key and value (a line
/// without it is all value, with a null key, as kcat does); every record gets the
/// `--header` headers and the timestamp. Bytes, not strings: values need not be UTF-8.
struct RecordLine: Sendable {
    var keyDelimiter: [UInt8]?
    var headers: [RecordHeader]
    var timestamp: Int64

    /// A `--header K=V` argument: split at the first `=`; the key must not be empty and
    /// the value may be (`K=`).
    static func header(_ argument: String) -> RecordHeader? {
        guard let eq = argument.firstIndex(of: "="), eq != argument.startIndex else { return nil }
        return RecordHeader(key: String(argument[..<eq]), value: String(argument[argument.index(after: eq)...]))
    }

    /// The record for `line` (without its newline).
    func record(_ line: ArraySlice<UInt8>) -> ProducerRecord {
        var key: ByteBuffer?
        var value = line
        if let delimiter = keyDelimiter, let at = Self.firstIndex(of: delimiter, in: line) {
            key = ByteBuffer(bytes: line[line.startIndex..<at])
            value = line[(at + delimiter.count)...]
        }
        return ProducerRecord(key: key, value: ByteBuffer(bytes: value), headers: headers, timestamp: timestamp)
    }

    /// Where `needle` first starts in `haystack`; nil if it does not occur.
    static func firstIndex(of needle: [UInt8], in haystack: ArraySlice<UInt8>) -> Int? {
        guard !needle.isEmpty, haystack.count >= needle.count else { return nil }
        var i = haystack.startIndex
        let last = haystack.endIndex - needle.count
        while i <= last {
            if haystack[i] == needle[0] && haystack[i..<(i + needle.count)].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }
}
