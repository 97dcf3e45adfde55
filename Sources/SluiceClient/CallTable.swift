import SluiceProtocol

/// The calls of one connection waiting for replies, matched by ref: a state machine with
/// no I/O. The client registers a call before writing it, feeds every decoded reply in,
/// and performs the action that comes out (complete a waiter, hand a reply to the
/// stream, close the connection). When the connection ends, `close` hands back every
/// waiter still registered, to be failed.
///
/// Generic over the waiter so that tests can use plain values.
struct CallTable<Waiter> {
    /// What a call is waiting for; it decides which replies are valid for it.
    enum Kind: Sendable, Hashable {
        /// `produce`: `buffered`, then `acked` or `failed`.
        case produce
        /// `ping`: `pong` or `failed`.
        case ping
        /// `metadata`: `metadata` or `failed`.
        case metadata
    }

    /// What the client does after a reply.
    enum Action {
        /// A produce call was buffered on `partition`; it stays registered.
        case buffered(Waiter, ref: UInt64, partition: Int32)
        /// A produce call's final success; it is unregistered.
        case acked(Waiter, ref: UInt64, SluiceReply.Acked)
        /// A call's final failure; it is unregistered.
        case failed(Waiter, ref: UInt64, SluiceReply.Failed)
        /// A ping's answer; it is unregistered.
        case pong(Waiter, version: String)
        /// A metadata call's answer; it is unregistered.
        case metadata(Waiter, partitionCount: Int32)
        /// A `failed` for no registered call: ref 0 (about the connection: the gateway
        /// closes after it, or it refused an empty frame) or a no-ack call's rejection.
        case unmatchedFailure(ref: UInt64, SluiceReply.Failed)
        /// The reply breaks the protocol (unknown ref, a kind that does not fit the
        /// call): close the connection.
        case violation(String)
    }

    private struct Entry {
        var kind: Kind
        var waiter: Waiter
        var buffered = false
    }

    private var calls: [UInt64: Entry] = [:]
    private(set) var isClosed = false
    /// The last ref-0 failure, reported as the cause when the connection then ends.
    private(set) var connectionFailure: SluiceReply.Failed?

    /// Calls registered and not finished.
    var count: Int { calls.count }

    /// Registers a call before its request is written. False if the connection has
    /// ended (the call must not be written) or `ref` is in use (a client bug: refs come
    /// from a counter).
    mutating func register(ref: UInt64, kind: Kind, waiter: Waiter) -> Bool {
        guard !isClosed, ref != 0, calls[ref] == nil else { return false }
        calls[ref] = Entry(kind: kind, waiter: waiter)
        return true
    }

    /// Takes back a call whose request was never written (encoding failed after
    /// registering). Nil if it is not registered.
    mutating func unregister(ref: UInt64) -> Waiter? {
        calls.removeValue(forKey: ref)?.waiter
    }

    /// One decoded reply.
    mutating func receive(_ reply: SluiceReply) -> Action {
        let ref = reply.ref
        guard let entry = calls[ref] else {
            if case .failed(let f) = reply.kind {
                if ref == 0 { connectionFailure = f }
                return .unmatchedFailure(ref: ref, f)
            }
            return .violation("reply for ref \(ref), which names no call waiting on this connection: \(reply.kind)")
        }
        switch (entry.kind, reply.kind) {
        case (.produce, .buffered(let partition)):
            guard !entry.buffered else { return .violation("a second buffered reply for ref \(ref)") }
            calls[ref]!.buffered = true
            return .buffered(entry.waiter, ref: ref, partition: partition)
        case (.produce, .acked(let acked)):
            calls[ref] = nil
            return .acked(entry.waiter, ref: ref, acked)
        case (_, .failed(let failed)):
            calls[ref] = nil
            return .failed(entry.waiter, ref: ref, failed)
        case (.ping, .pong(let version)):
            calls[ref] = nil
            return .pong(entry.waiter, version: version)
        case (.metadata, .metadata(_, let count)):
            calls[ref] = nil
            return .metadata(entry.waiter, partitionCount: count)
        default:
            return .violation("reply \(reply.kind) does not answer the \(entry.kind) call with ref \(ref)")
        }
    }

    /// A call left when the connection ended.
    struct Orphan {
        var waiter: Waiter
        var ref: UInt64
        var kind: Kind
        /// `buffered` had come for it.
        var wasBuffered: Bool
    }

    /// The connection ended: every registered call, in ref order; no more registrations.
    mutating func close() -> [Orphan] {
        isClosed = true
        let orphans = calls.sorted { $0.key < $1.key }.map {
            Orphan(waiter: $0.value.waiter, ref: $0.key, kind: $0.value.kind, wasBuffered: $0.value.buffered)
        }
        calls.removeAll()
        return orphans
    }
}
