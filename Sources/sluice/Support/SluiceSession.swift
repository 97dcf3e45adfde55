import Foundation
import NIOCore
import SluiceProtocol

/// A blocking client session with `sluiced`: writes requests, reads replies. Used by the
/// CLI's socket subcommands (one thread, pipelined up to a window of unfinished calls).
final class SluiceSession {
    private let socket: UnixStreamSocket
    private var inbound = ByteBuffer()
    let path: String

    init(path: String, replyTimeoutMs: Int = 60_000) throws(CLIFailure) {
        self.path = path
        socket = try UnixStreamSocket.connect(path: path)
        socket.setReceiveTimeout(milliseconds: replyTimeoutMs)
    }

    deinit { socket.closeSocket() }

    /// Writes requests in one go.
    func send(_ requests: [SluiceRequest]) throws(CLIFailure) {
        var out = ByteBuffer()
        for r in requests {
            do {
                try SluiceCodec.encodeRequest(r, into: &out)
            } catch {
                throw CLIFailure("cannot encode request \(r.ref): \(error)")
            }
        }
        guard socket.writeAll(&out) else { throw CLIFailure("\(path): the gateway closed the connection") }
    }

    /// The next reply (blocking, bounded by the reply timeout).
    func nextReply() throws(CLIFailure) -> SluiceReply {
        while true {
            do {
                if let frame = try SluiceFraming.readFrame(from: &inbound) {
                    return try SluiceCodec.decodeReply(frame)
                }
            } catch {
                throw CLIFailure("\(path): bad reply from the gateway: \(error)")
            }
            switch socket.readSome(into: &inbound) {
            case .bytes: continue
            case .timedOut: throw CLIFailure("\(path): no reply from the gateway in time")
            case .closed: throw CLIFailure("\(path): the gateway closed the connection")
            case .failed(let e): throw CLIFailure("\(path): read failed: \(String(cString: strerror(e)))")
            }
        }
    }

    /// Sends one request and returns its first reply.
    func call(_ request: SluiceRequest) throws(CLIFailure) -> SluiceReply {
        try send([request])
        return try nextReply()
    }
}

extension SluiceReply.Failed {
    /// `CODE: message [kafka error n] (possibly persisted)`, for the terminal.
    var summary: String {
        var s = "\(code.protoName): \(message)"
        if kafkaError != 0 { s += " [kafka error \(kafkaError)]" }
        // Whether a retry could duplicate is what the person at the terminal needs.
        if persistence == .possiblyPersisted { s += " (possibly persisted)" }
        return s
    }
}
