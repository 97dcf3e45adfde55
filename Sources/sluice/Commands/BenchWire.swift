#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import KafkaWire
import NIOCore
import SluiceProtocol

/// The bytes `sluice bench` sends and the little it reads back, kept cheap so that the
/// client is not what limits a benchmark.
///
/// Requests: every call of the bench carries the same records, so the `Produce` message
/// is encoded once per partition (or per key) with `SluiceCodec.encodeRequest`, and each
/// call only prepends its frame length and its `ref` field. Replies: a minimal scan of the
/// top-level fields (ref, and which member of `kind` is set); a `failed` reply is decoded
/// in full with `SluiceCodec.decodeReply` for its code and message.
enum BenchWire {
    /// `Request` without its `ref` field: field 2 (`produce`) with the encoded `Produce`.
    /// Built by encoding a request with ref 0, which proto3 leaves out of the message.
    static func produceBody(
        topic: String, partitioning: SluiceRequest.Produce.Partitioning, records: [ProducerRecord]
    ) throws(SluiceProtocolError) -> ByteBuffer {
        var frame = ByteBuffer()
        let produce = SluiceRequest.Produce(topic: topic, partitioning: partitioning, records: records)
        try SluiceCodec.encodeRequest(SluiceRequest(ref: 0, kind: .produce(produce)), into: &frame)
        guard var body = try SluiceFraming.readFrame(from: &frame, maxFrameBytes: Int(UInt32.max)) else {
            preconditionFailure("the codec wrote an incomplete frame")
        }
        precondition(body.getInteger(at: body.readerIndex, as: UInt8.self) == 0x12, "Request.produce is field 2, length-delimited")
        return body.readSlice(length: body.readableBytes)!
    }

    /// Appends one request frame: length, `ref` (field 1, varint), then `body`.
    @inline(__always)
    static func appendRequest(ref: UInt64, body: ByteBuffer, to buffer: inout ByteBuffer) {
        let refBytes = varintSize(ref)
        buffer.writeInteger(UInt32(1 + refBytes + body.readableBytes), endianness: .big)
        buffer.writeInteger(UInt8(0x08))
        var v = ref
        while v >= 0x80 {
            buffer.writeInteger(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        buffer.writeInteger(UInt8(v))
        buffer.writeImmutableBuffer(body)
    }

    @inline(__always)
    static func varintSize(_ value: UInt64) -> Int {
        var n = 1
        var v = value >> 7
        while v != 0 {
            n += 1
            v >>= 7
        }
        return n
    }

    /// What the bench needs of one reply.
    enum ReplyKind {
        case buffered, acked, failed, other
    }

    /// Reads the top-level `ref` and the `kind` member of a `Reply` payload, skipping any
    /// other field as protobuf requires. Nil when the payload does not parse.
    static func scanReply(_ payload: UnsafeRawBufferPointer) -> (ref: UInt64, kind: ReplyKind)? {
        var i = 0
        let n = payload.count
        var ref: UInt64 = 0
        var kind = ReplyKind.other
        func varint() -> UInt64? {
            var result: UInt64 = 0
            var shift: UInt64 = 0
            while i < n, shift < 64 {
                let byte = payload[i]
                i += 1
                result |= UInt64(byte & 0x7f) << shift
                if byte < 0x80 { return result }
                shift += 7
            }
            return nil
        }
        while i < n {
            guard let tag = varint() else { return nil }
            let field = tag >> 3
            switch tag & 7 {
            case 0:
                guard let value = varint() else { return nil }
                if field == 1 { ref = value }
            case 1:
                i += 8
            case 2:
                guard let length = varint(), length <= UInt64(n - i) else { return nil }
                i += Int(length)
                switch field {
                case 2: kind = .buffered
                case 3: kind = .acked
                case 4: kind = .failed
                default: kind = .other
                }
            case 5:
                i += 4
            default:
                return nil
            }
            if i > n { return nil }
        }
        return (ref, kind)
    }
}

/// Monotonic time in nanoseconds.
@inline(__always)
func monotonicNanos() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
}

/// Sleeps until the monotonic clock reads `deadline` (nanoseconds).
func sleepUntil(_ deadline: UInt64) {
    var target = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
    while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &target, nil) == EINTR {}
}

/// CPU seconds (user + system) this process has used so far, all threads.
func processCPUSeconds() -> Double {
    var usage = rusage()
    #if canImport(Glibc)
    getrusage(RUSAGE_SELF.rawValue, &usage)
    #else
    getrusage(RUSAGE_SELF, &usage)
    #endif
    func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

