/// Why a spool operation failed: a code, and a message naming the file or the limit.
public struct SpoolError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong, as one of the static members. Extensible, as `ProduceError.Code`:
    /// a `switch` over it needs a `default:`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The codes of this version, for the package's own exhaustive switches.
        package enum Base: String, Hashable, Sendable, CaseIterable {
            case full, diskFull, io, locked, invalidArgument, closed
        }

        package let base: Base

        package init(_ base: Base) { self.base = base }

        /// The code's stable name (`full`), for logs and metric labels.
        public var description: String { base.rawValue }

        /// The spool holds `max_bytes`: nothing more is appended until acks free a segment.
        public static let full = Code(.full)
        /// The file system is out of space (ENOSPC, EDQUOT) below `max_bytes`.
        public static let diskFull = Code(.diskFull)
        /// Any other failed system call (the message names it and the errno).
        public static let io = Code(.io)
        /// Another process holds the spool directory's lock.
        public static let locked = Code(.locked)
        /// A bad option (size, path) or an entry that cannot be framed.
        public static let invalidArgument = Code(.invalidArgument)
        /// The log was closed (or a write failed and left it unusable).
        public static let closed = Code(.closed)
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
