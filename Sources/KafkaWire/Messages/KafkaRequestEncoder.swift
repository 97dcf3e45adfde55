import NIOCore

/// Frames requests for the wire and reads response frames: the glue between the message
/// codecs and a broker connection.
///
/// A request frame is `INT32 size`, the request header (v1, or v2 for flexible versions),
/// then the body. A response frame, once the connection's frame decoder has stripped the
/// size, is the response header (v0, or v1 for flexible versions; always v0 for
/// ApiVersions) then the body.
public enum KafkaRequestEncoder {
    /// Appends one complete request frame to `buffer`: the size prefix, the header of the
    /// version's header version, then the body; the size is back-patched once the body is
    /// written, so the body is encoded only once and never copied.
    ///
    /// On error `buffer` is left as it was (nothing of the frame remains).
    public static func encode<R: KafkaRequest>(
        _ request: R, version: Int16, correlationId: Int32, clientId: String?, into buffer: inout ByteBuffer
    ) throws {
        try R.checkVersion(version)
        // The client id is an INT16-length string in every header version.
        if let clientId, clientId.utf8.count > Int(Int16.max) {
            throw KafkaWireError(.invalidLength, "client id is \(clientId.utf8.count) bytes, more than a string can hold")
        }
        let start = buffer.writerIndex
        do {
            buffer.writeInteger(Int32(0))  // size placeholder
            let header = RequestHeader(
                apiKey: R.apiKey, apiVersion: version, correlationId: correlationId, clientId: clientId)
            header.encode(into: &buffer, headerVersion: R.requestHeaderVersion(version))
            try request.encode(into: &buffer, version: version)
            let size = buffer.writerIndex - start - 4
            guard size <= Int(Int32.max) else {
                throw KafkaWireError(.invalidLength, "\(R.apiKey) request of \(size) bytes exceeds the INT32 frame size")
            }
            buffer.setInteger(Int32(size), at: start)
        } catch {
            buffer.moveWriterIndex(to: start)
            throw error
        }
    }

    /// One complete Produce request frame as the buffers to write in order: the frame
    /// with every partition's record batches left out, cut where they belong, and the
    /// batches' own buffers between the pieces. The same bytes as `encode`, without
    /// copying megabytes of batches into one buffer (a gathered write sends them).
    public static func encodeGathered(
        _ request: ProduceRequest, version: Int16, correlationId: Int32, clientId: String?, allocator: ByteBufferAllocator
    ) throws -> [ByteBuffer] {
        try ProduceRequest.checkVersion(version)
        if let clientId, clientId.utf8.count > Int(Int16.max) {
            throw KafkaWireError(.invalidLength, "client id is \(clientId.utf8.count) bytes, more than a string can hold")
        }
        var head = allocator.buffer(capacity: 128 + (clientId?.utf8.count ?? 0) + 32 * request.topicData.count
            + request.topicData.reduce(0) { $0 + $1.name.utf8.count + 16 * $1.partitionData.count })
        head.writeInteger(Int32(0))  // size placeholder
        let header = RequestHeader(
            apiKey: ProduceRequest.apiKey, apiVersion: version, correlationId: correlationId, clientId: clientId)
        header.encode(into: &head, headerVersion: ProduceRequest.requestHeaderVersion(version))
        var splices: [ProduceRequest.Splice]? = []
        try request.encode(into: &head, version: version, splices: &splices)
        let size = head.readableBytes - 4 + splices!.reduce(0) { $0 + $1.records.readableBytes }
        guard size <= Int(Int32.max) else {
            throw KafkaWireError(.invalidLength, "\(ProduceRequest.apiKey) request of \(size) bytes exceeds the INT32 frame size")
        }
        head.setInteger(Int32(size), at: head.readerIndex)
        var parts: [ByteBuffer] = []
        parts.reserveCapacity(2 * splices!.count + 1)
        var from = head.readerIndex
        for splice in splices! {
            parts.append(head.getSlice(at: from, length: splice.offset - from)!)
            if splice.records.readableBytes > 0 { parts.append(splice.records) }
            from = splice.offset
        }
        if head.writerIndex > from || parts.isEmpty { parts.append(head.getSlice(at: from, length: head.writerIndex - from)!) }
        return parts
    }

    /// Decodes one response frame (without its size prefix) to a request of type `R` sent at
    /// `version`, returning the header and the body.
    ///
    /// ApiVersions bodies go through `ApiVersionsResponse.decodeWithFallback`, since a broker
    /// answers a too-new ApiVersions request with a version 0 body. Bytes after the body are
    /// left unread in `frame` rather than rejected: they cannot affect the fields decoded.
    public static func decodeResponse<R: KafkaRequest>(
        _: R.Type, version: Int16, from frame: inout ByteBuffer
    ) throws -> (ResponseHeader, R.Response) {
        try R.checkVersion(version)
        let header = try ResponseHeader.decode(from: &frame, headerVersion: R.responseHeaderVersion(version))
        if R.Response.self == ApiVersionsResponse.self {
            let body = try ApiVersionsResponse.decodeWithFallback(from: &frame, version: version)
            guard let response = body as? R.Response else {
                throw KafkaWireError(.unsupportedVersion, "ApiVersions response type mismatch")
            }
            return (header, response)
        }
        return (header, try R.Response.decode(from: &frame, version: version))
    }

    /// The correlation id at the start of a response frame (without its size prefix), or nil
    /// if the frame is shorter than that; lets a connection find the in-flight request, and so
    /// the type and version to decode the rest with, before decoding anything else.
    public static func peekCorrelationId(_ frame: ByteBuffer) -> Int32? {
        frame.getInteger(at: frame.readerIndex, as: Int32.self)
    }
}
