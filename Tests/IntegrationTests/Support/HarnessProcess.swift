import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// Plumbing between Swift tests and the Python harness processes.
//
// Blocking pipe reads happen on dedicated `Thread`s, never on the Swift concurrency
// pool; their results reach async code through `Promise`, whose every wait has a
// timeout. Children die with us: a command server exits when its stdin reaches EOF
// (which the kernel delivers when this process dies), its watchdog notices a changed
// parent, and Tansu itself has PR_SET_PDEATHSIG=SIGKILL.

/// A value delivered once, from any thread, and awaited by any number of waiters,
/// each with its own timeout.
final class Promise<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var result: Result<Value, any Error>?
    private var waiters: [Int: CheckedContinuation<Value, any Error>] = [:]
    /// Waiters that gave up (timeout, cancellation) before they were registered.
    private var abandoned: [Int: any Error] = [:]
    private var nextToken = 0

    init() {}

    /// Delivers the result to every waiter; later calls are ignored.
    func resolve(_ result: Result<Value, any Error>) {
        let woken: [CheckedContinuation<Value, any Error>] = lock.withLock {
            guard self.result == nil else { return [] }
            self.result = result
            defer { waiters.removeAll() }
            return Array(waiters.values)
        }
        for w in woken { w.resume(with: result) }
    }

    func succeed(_ value: Value) { resolve(.success(value)) }
    func fail(_ error: any Error) { resolve(.failure(error)) }

    var isResolved: Bool { lock.withLock { result != nil } }

    /// Waits for the result. After `timeout` seconds this wait (not the promise)
    /// fails with `HarnessError.timeout(what)`; cancellation fails it with
    /// `CancellationError`.
    func value(timeout: Double, _ what: String) async throws -> Value {
        let token: Int = lock.withLock {
            nextToken += 1
            return nextToken
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Value, any Error>) in
                let ready: Result<Value, any Error>? = lock.withLock {
                    if let result { return result }
                    if let error = abandoned.removeValue(forKey: token) { return .failure(error) }
                    waiters[token] = c
                    return nil
                }
                if let ready {
                    c.resume(with: ready)
                    return
                }
                DispatchQueue.global().asyncAfter(deadline: .now() + timeout) { [self] in
                    abandon(token, HarnessError.timeout("\(what) (waited \(timeout) s)"))
                }
            }
        } onCancel: {
            abandon(token, CancellationError())
        }
    }

    private func abandon(_ token: Int, _ error: any Error) {
        let waiter: CheckedContinuation<Value, any Error>? = lock.withLock {
            if let w = waiters.removeValue(forKey: token) { return w }
            if result == nil { abandoned[token] = error }
            return nil
        }
        waiter?.resume(throwing: error)
    }
}

/// Reads a file handle to EOF on its own thread, handing over complete lines.
private func startLineReader(
    _ handle: FileHandle, name: String,
    onLine: @escaping @Sendable (Data) -> Void,
    onEOF: @escaping @Sendable () -> Void
) {
    let thread = Thread {
        var buffer = Data()
        // Plain read(2): FileHandle.read(upToCount:) waits for a full count or EOF.
        let fd = handle.fileDescriptor
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            buffer.append(contentsOf: chunk[0..<n])
            while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = Data(buffer[buffer.startIndex..<newline])
                buffer.removeSubrange(buffer.startIndex...newline)
                if !line.isEmpty { onLine(line) }
            }
        }
        if !buffer.isEmpty { onLine(buffer) }
        withExtendedLifetime(handle) {}
        onEOF()
    }
    thread.name = name
    thread.start()
}

/// Reads a file handle to EOF on its own thread into a promise.
private func startDrain(_ handle: FileHandle, name: String, into promise: Promise<Data>) {
    let thread = Thread {
        do {
            promise.succeed(try handle.readToEnd() ?? Data())
        } catch {
            promise.fail(error)
        }
    }
    thread.name = name
    thread.start()
}

/// A JSON value for harness commands.
enum JSONValue: Sendable, Encodable, Equatable {
    case int(Int)
    case string(String)
    case bool(Bool)
    case array([JSONValue])
    case null

    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .int(let v): try c.encode(v)
        case .string(let v): try c.encode(v)
        case .bool(let v): try c.encode(v)
        case .array(let v): try c.encode(v)
        case .null: try c.encodeNil()
        }
    }
}

extension JSONValue: ExpressibleByIntegerLiteral, ExpressibleByStringLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral
{
    init(integerLiteral value: Int) { self = .int(value) }
    init(stringLiteral value: String) { self = .string(value) }
    init(booleanLiteral value: Bool) { self = .bool(value) }
    init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
}

private struct ReplyStatus: Decodable {
    var ok: Bool?
    var error: String?
}

private struct ReplyID: Decodable {
    var id: Int?
}

/// A long-running `python -m sluice_harness <tansu|mock>` process: one JSON line of
/// greeting, then one JSON reply line per JSON command line.
final class HarnessServer: @unchecked Sendable {
    let name: String
    let logFile: URL
    /// The pid of the Python harness process.
    let pid: Int32

    private let process: Process
    private let stdin: FileHandle
    private let lock = NSLock()
    private var nextID = 0
    private var pending: [Int: Promise<Data>] = [:]
    private var greeting: Promise<Data>?
    private var exitMessage: String?
    private var stopped = false
    private var sawFailure = false
    private let exited: Promise<Int32>
    private var _hello: Data?

    /// Starts the server and waits (at most `startupTimeout` s) for its greeting.
    static func launch(
        name: String, arguments: [String], startupTimeout: Double = 60
    ) async throws -> HarnessServer {
        let logFile = Harness.newLogFile(name)
        let process = try Harness.process(arguments)
        let stdinPipe = Pipe()
        let stdoutPipe = Pipe()
        guard FileManager.default.createFile(atPath: logFile.path, contents: nil),
            let log = FileHandle(forWritingAtPath: logFile.path)
        else {
            throw HarnessError.setup("cannot create log file \(logFile.path)")
        }
        process.standardInput = stdinPipe
        process.standardOutput = stdoutPipe
        process.standardError = log

        let greeting = Promise<Data>()
        let exited = Promise<Int32>()
        process.terminationHandler = { p in exited.succeed(p.terminationStatus) }
        do {
            try process.run()
        } catch {
            try? log.close()
            throw HarnessError.setup("cannot start \(name): \(error)")
        }
        try? log.close()  // the child has its own copy

        let server = HarnessServer(
            name: name, process: process, stdin: stdinPipe.fileHandleForWriting,
            logFile: logFile, exited: exited, greeting: greeting)
        startLineReader(
            stdoutPipe.fileHandleForReading, name: "\(name)-stdout",
            onLine: { [weak server] line in server?.received(line) },
            onEOF: { [weak server] in server?.closed() })

        let hello: Data
        do {
            hello = try await greeting.value(timeout: startupTimeout, "\(name) start-up")
        } catch {
            server.stop()
            throw HarnessError.exited(
                "\(name) did not start: \(error)\n--- \(logFile.path) ---\n\(Harness.tail(of: logFile))")
        }
        if let status = try? JSONDecoder().decode(ReplyStatus.self, from: hello), status.ok == false {
            server.stop()
            throw HarnessError.exited(
                "\(name) failed to start: \(status.error ?? "?")\n--- \(logFile.path) ---\n"
                    + Harness.tail(of: logFile))
        }
        server.setHello(hello)
        return server
    }

    private init(
        name: String, process: Process, stdin: FileHandle, logFile: URL,
        exited: Promise<Int32>, greeting: Promise<Data>
    ) {
        self.name = name
        self.process = process
        self.stdin = stdin
        self.logFile = logFile
        self.exited = exited
        self.greeting = greeting
        self.pid = process.processIdentifier
    }

    deinit {
        stop()
    }

    private func setHello(_ data: Data) {
        lock.withLock { _hello = data }
    }

    /// The greeting line (`{"bootstrap":...}`).
    var hello: Data { lock.withLock { _hello } ?? Data() }

    /// The greeting line as a decoded value.
    func decodeHello<T: Decodable>(_ type: T.Type) throws -> T {
        let data = hello
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch {
            throw HarnessError.badReply(
                "\(name) greeting \(String(decoding: data, as: UTF8.self)): \(error)")
        }
    }

    // Called on the reader thread.
    private func received(_ line: Data) {
        let id = (try? JSONDecoder().decode(ReplyID.self, from: line))?.id
        let target: Promise<Data>? = lock.withLock {
            if let id {
                return pending.removeValue(forKey: id)
            }
            defer { greeting = nil }
            return greeting
        }
        target?.succeed(line)
    }

    // Called on the reader thread at EOF of the child's stdout.
    private func closed() {
        let message = "\(name) (pid \(pid)) closed its output\n--- \(logFile.path) ---\n"
            + Harness.tail(of: logFile)
        let waiters: [Promise<Data>] = lock.withLock {
            exitMessage = message
            var all = Array(pending.values)
            pending.removeAll()
            if let greeting { all.append(greeting) }
            greeting = nil
            return all
        }
        for w in waiters { w.fail(HarnessError.exited(message)) }
    }

    /// Sends one command and waits for its reply; throws if the reply is not ok.
    /// Returns the whole reply line for callers that need more fields.
    @discardableResult
    func request(
        _ op: String, _ arguments: [String: JSONValue] = [:], timeout: Double = 30
    ) async throws -> Data {
        var command = arguments
        command["op"] = .string(op)
        let promise = Promise<Data>()
        let (id, gone): (Int, String?) = lock.withLock {
            nextID += 1
            if exitMessage == nil && !stopped { pending[nextID] = promise }
            return (nextID, stopped ? "\(name) was stopped" : exitMessage)
        }
        if let gone { throw HarnessError.exited(gone) }
        command["id"] = .int(id)
        defer { lock.withLock { _ = pending.removeValue(forKey: id) } }
        do {
            var line = try JSONEncoder().encode(command)
            line.append(UInt8(ascii: "\n"))
            try lock.withLock { try stdin.write(contentsOf: line) }
        } catch {
            markFailure()
            throw HarnessError.exited("cannot write to \(name): \(error)")
        }
        let reply: Data
        do {
            reply = try await promise.value(timeout: timeout, "\(name) reply to \(op)")
        } catch {
            markFailure()
            throw error
        }
        let status: ReplyStatus
        do {
            status = try JSONDecoder().decode(ReplyStatus.self, from: reply)
        } catch {
            markFailure()
            throw HarnessError.badReply("\(name): \(String(decoding: reply, as: UTF8.self))")
        }
        guard status.ok == true else {
            throw HarnessError.command(op: op, message: status.error ?? "no error text")
        }
        return reply
    }

    private func markFailure() {
        lock.withLock { sawFailure = true }
    }

    /// Stops the server without waiting: closes its stdin (it then stops its broker
    /// and exits), and SIGKILLs it if it still runs 10 s later. Idempotent.
    func stop() {
        let first: Bool = lock.withLock {
            defer { stopped = true }
            return !stopped
        }
        guard first else { return }
        try? lock.withLock { try stdin.close() }
        // Logs are kept only when something went wrong.
        if !lock.withLock({ sawFailure }) { try? FileManager.default.removeItem(at: logFile) }
        let exited = self.exited
        let pid = self.pid
        DispatchQueue.global().asyncAfter(deadline: .now() + 10) {
            // The pid is ours until the termination handler has reaped it.
            if !exited.isResolved { _ = kill(pid, SIGKILL) }
        }
    }

    /// Stops the server and waits (at most `timeout` s) until it has exited.
    /// Returns its exit status.
    @discardableResult
    func stopAndWait(timeout: Double = 20) async throws -> Int32 {
        stop()
        return try await exited.value(timeout: timeout, "\(name) exit")
    }
}

/// Runs `python -m sluice_harness <arguments>` to completion.
/// Kills it (SIGKILL) and throws if it runs longer than `timeout` seconds.
func runHarnessCommand(
    _ arguments: [String], stdin input: Data? = nil, timeout: Double
) async throws -> (status: Int32, stdout: Data, stderr: Data) {
    try await runProcess(Harness.process(arguments), name: arguments.first ?? "harness", stdin: input, timeout: timeout)
}

/// Runs a configured, not yet started `process` to completion, feeding it `input` and
/// collecting its output. Kills it (SIGKILL) and throws if it runs longer than `timeout` s.
func runProcess(
    _ process: Process, name what: String, stdin input: Data? = nil, timeout: Double
) async throws -> (status: Int32, stdout: Data, stderr: Data) {
    _ = Harness.ignoreSIGPIPE
    let inPipe = Pipe()
    let outPipe = Pipe()
    let errPipe = Pipe()
    process.standardInput = inPipe
    process.standardOutput = outPipe
    process.standardError = errPipe
    let exited = Promise<Int32>()
    process.terminationHandler = { p in exited.succeed(p.terminationStatus) }
    let out = Promise<Data>()
    let err = Promise<Data>()
    do {
        try process.run()
    } catch {
        throw HarnessError.setup("cannot start \(what): \(error)")
    }
    let pid = process.processIdentifier
    startDrain(outPipe.fileHandleForReading, name: "\(what)-stdout", into: out)
    startDrain(errPipe.fileHandleForReading, name: "\(what)-stderr", into: err)
    let writer = inPipe.fileHandleForWriting
    let inputData = input ?? Data()
    let feeder = Thread {
        try? writer.write(contentsOf: inputData)
        try? writer.close()
    }
    feeder.name = "\(what)-stdin"
    feeder.start()

    let start = Date()
    func remaining() -> Double { max(0.1, timeout - Date().timeIntervalSince(start)) }
    do {
        let status = try await exited.value(timeout: remaining(), "\(what) to finish")
        let stdout = try await out.value(timeout: remaining(), "\(what) stdout")
        let stderr = try await err.value(timeout: remaining(), "\(what) stderr")
        return (status, stdout, stderr)
    } catch {
        if !exited.isResolved { _ = kill(pid, SIGKILL) }
        throw error
    }
}
