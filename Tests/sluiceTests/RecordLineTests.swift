import NIOCore
import SluiceClient
import Testing

@testable import sluice

@Suite("sluice produce: input lines to records")
struct RecordLineTests {
    static func bytes(_ s: String) -> ArraySlice<UInt8> { Array(s.utf8)[...] }

    @Test("a key delimiter splits at its first occurrence; the rest, delimiters too, is the value")
    func splitsAtFirstDelimiter() {
        let line = RecordLine(keyDelimiter: Array("::".utf8), headers: [], timestamp: 7)
        let r = line.record(Self.bytes("user-1::a::b"))
        #expect(r.key == ByteBuffer(string: "user-1"))
        #expect(r.value == ByteBuffer(string: "a::b"))
        #expect(r.timestamp == 7)
        let empty = line.record(Self.bytes("::v"))
        #expect(empty.key == ByteBuffer(string: ""), "an empty key (null on the wire)")
        #expect(line.record(Self.bytes("k::")).value == ByteBuffer(string: ""))
    }

    @Test("a line without the delimiter is all value with a null key, as kcat does; without a delimiter every line is")
    func noDelimiter() {
        let line = RecordLine(keyDelimiter: Array(",".utf8), headers: [], timestamp: 0)
        let r = line.record(Self.bytes("no comma here"))
        #expect(r.key == nil && r.value == ByteBuffer(string: "no comma here"))
        let plain = RecordLine(keyDelimiter: nil, headers: [], timestamp: 0).record(Self.bytes("a,b"))
        #expect(plain.key == nil && plain.value == ByteBuffer(string: "a,b"))
    }

    @Test("bytes are kept as they are: a carriage return, bytes that are not UTF-8")
    func binarySafe() {
        let raw: [UInt8] = [0xFF, 0x00, UInt8(ascii: "\t"), 0xC3, UInt8(ascii: "\r")]
        let line = RecordLine(keyDelimiter: [UInt8(ascii: "\t")], headers: [], timestamp: 0)
        let r = line.record(raw[...])
        #expect(r.key.map { Array($0.readableBytesView) } == [0xFF, 0x00])
        #expect(r.value.map { Array($0.readableBytesView) } == [0xC3, UInt8(ascii: "\r")])
    }

    @Test("every record gets the headers, in order")
    func headers() {
        let hs = [RecordHeader(key: "a", value: "1"), RecordHeader(key: "a", value: "2")]
        let r = RecordLine(keyDelimiter: nil, headers: hs, timestamp: 0).record(Self.bytes("v"))
        #expect(r.headers == hs)
    }

    @Test("--header KEY=VALUE splits at the first '='; an empty key or no '=' is refused")
    func headerArguments() {
        #expect(RecordLine.header("trace=abc=def") == RecordHeader(key: "trace", value: "abc=def"))
        #expect(RecordLine.header("empty=") == RecordHeader(key: "empty", value: ""))
        #expect(RecordLine.header("=v") == nil)
        #expect(RecordLine.header("novalue") == nil)
    }

    @Test("firstIndex finds a multi-byte needle, overlapping starts included, and nothing in short input")
    func search() {
        #expect(RecordLine.firstIndex(of: Array("aab".utf8), in: Self.bytes("aaab")) == 1)
        #expect(RecordLine.firstIndex(of: Array("xyz".utf8), in: Self.bytes("xy")) == nil)
        let slice = Array("--k=v".utf8)[2...]
        #expect(RecordLine.firstIndex(of: Array("=".utf8), in: slice) == 3, "indices of the slice")
    }
}
