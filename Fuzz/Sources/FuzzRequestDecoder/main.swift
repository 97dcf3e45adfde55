// libFuzzer entry point for the socket protocol's decoding path: framing, then
// decodeRequest (and decodeReply, the client's side). Built with
// `-sanitize=fuzzer,address -parse-as-library` by scripts/fuzz; libFuzzer supplies main().
//
// Each input is checked three ways, and any disagreement traps (a finding):
// 1. The whole input as one frame's payload: decodeRequest and decodeReply must return
//    or throw, never crash; a decoded request re-encoded with encodeRequest must decode
//    to the same value (decode . encode . decode == decode); decodeRequest (which reads
//    common produce calls without protobuf-c) must agree with decodeRequestWithProtobufC:
//    the same request, or both throwing.
// 2. The input as a byte stream: SluiceFraming.readFrame splits it into frames (with a
//    small max_frame_bytes so the too-large path is reached), each decoded as in 1.
// 3. The same stream through KafkaWire's LengthPrefixedFrameDecoder in an
//    EmbeddedChannel, fed in two chunks: it must produce the same frames and the same
//    too-large verdict as SluiceFraming.

import KafkaWire
import NIOCore
import NIOEmbedded
@_spi(Testing) import SluiceProtocol

/// Small so that inputs reach the FRAME_TOO_LARGE path cheaply.
let maxFrameBytes = 4096

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRequestDecoder(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let input = ByteBuffer(bytes: UnsafeRawBufferPointer(start: start, count: count))

    // 1. One payload.
    checkPayload(input)
    _ = try? SluiceCodec.decodeReply(input)

    // 2. A stream, framed by SluiceFraming.
    var stream = input
    var frames: [ByteBuffer] = []
    var tooLarge = false
    do {
        while let frame = try SluiceFraming.readFrame(from: &stream, maxFrameBytes: maxFrameBytes) {
            frames.append(frame)
            checkPayload(frame)
        }
    } catch {
        precondition(error.code == .frameTooLarge, "framing threw \(error)")
        tooLarge = true
    }

    // 3. The gateway's channel decoder must agree.
    let channel = EmbeddedChannel(handler: ByteToMessageHandler(LengthPrefixedFrameDecoder(maxFrameBytes: maxFrameBytes)))
    let split = count == 0 ? 0 : Int(input.getInteger(at: 0, as: UInt8.self)!) % (count + 1)
    var channelFrames: [ByteBuffer] = []
    var channelTooLarge = false
    for chunk in [input.getSlice(at: 0, length: split)!, input.getSlice(at: split, length: count - split)!] {
        do {
            try channel.writeInbound(chunk)
        } catch is LengthPrefixedFrameDecoder.FrameTooLargeError {
            channelTooLarge = true
            break
        } catch {
            preconditionFailure("LengthPrefixedFrameDecoder threw \(error)")
        }
        while let frame = try? channel.readInbound(as: ByteBuffer.self) { channelFrames.append(frame) }
    }
    while let frame = try? channel.readInbound(as: ByteBuffer.self) { channelFrames.append(frame) }
    _ = try? channel.finish()
    precondition(channelFrames == frames, "framers disagree: \(channelFrames.count) vs \(frames.count) frames")
    precondition(channelTooLarge == tooLarge, "framers disagree on the size limit")
    return 0
}

/// Decodes one payload; a request that decodes must survive a re-encode unchanged.
/// The gateway's way: one arena reused for every payload, and small calls' record bytes
/// in shared blocks (it must give the same result).
nonisolated(unsafe) let arena = UnpackArena(initialBytes: 256)
nonisolated(unsafe) let slab = RecordSlab()

func checkPayload(_ payload: ByteBuffer) {
    let pooled = try? SluiceCodec.decodeRequest(payload, arena: arena, slab: slab)
    guard let request = try? SluiceCodec.decodeRequest(payload) else {
        precondition(pooled == nil, "decoding with the arena and slab succeeded where the system allocator failed")
        precondition(
            (try? SluiceCodec.decodeRequestWithProtobufC(payload)) == nil, "protobuf-c decoded what decodeRequest refused")
        return
    }
    precondition(pooled == request, "decoding with the arena and slab gave another request")
    precondition(
        (try? SluiceCodec.decodeRequestWithProtobufC(payload)) == request, "the produce fast path and protobuf-c disagree")
    var encoded = ByteBuffer()
    do {
        try SluiceCodec.encodeRequest(request, into: &encoded)
    } catch {
        preconditionFailure("a decoded request failed to encode: \(error)")
    }
    let length = encoded.readInteger(as: UInt32.self)!
    precondition(Int(length) == encoded.readableBytes, "frame length mismatch")
    let again: SluiceRequest
    do {
        again = try SluiceCodec.decodeRequest(encoded)
    } catch {
        preconditionFailure("a re-encoded request failed to decode: \(error)")
    }
    precondition(again == request, "round trip changed the request")
}
