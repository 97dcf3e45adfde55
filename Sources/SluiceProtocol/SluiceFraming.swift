import NIOCore

/// The socket's framing: every message is a 4-byte unsigned big-endian length `N`, then
/// `N` bytes of protobuf. `N = 0` is a valid (empty) message.
///
/// The same rule as KafkaWire's `LengthPrefixedFrameDecoder`, as a plain function: the
/// gateway's connections frame their input with it (`InboundFrames`), as do clients
/// reading replies, tools, tests and the fuzz target.
public enum SluiceFraming {
    /// The gateway's default `max_frame_bytes`: 16 MiB.
    public static let defaultMaxFrameBytes = 16 * 1024 * 1024

    /// Bytes of the length prefix.
    public static let lengthPrefixBytes = 4

    /// Takes the first whole frame off the front of `buffer` and returns its payload (a
    /// slice of `buffer`'s storage, no copy), or nil with `buffer` unchanged when the
    /// frame has not fully arrived yet.
    ///
    /// Throws `frameTooLarge` as soon as the 4 length bytes claim more than
    /// `maxFrameBytes`, without waiting for or allocating the payload; `buffer` is then
    /// left unchanged (the stream cannot be resynchronised: close the connection).
    public static func readFrame(
        from buffer: inout ByteBuffer,
        maxFrameBytes: Int = defaultMaxFrameBytes
    ) throws(SluiceProtocolError) -> ByteBuffer? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, endianness: .big, as: UInt32.self) else {
            return nil
        }
        guard UInt64(length) <= UInt64(max(0, maxFrameBytes)) else {
            throw SluiceProtocolError(
                .frameTooLarge, "frame of \(length) bytes exceeds max_frame_bytes (\(maxFrameBytes))")
        }
        guard let payload = buffer.getSlice(at: buffer.readerIndex + lengthPrefixBytes, length: Int(length)) else {
            return nil
        }
        buffer.moveReaderIndex(forwardBy: lengthPrefixBytes + Int(length))
        return payload
    }
}
