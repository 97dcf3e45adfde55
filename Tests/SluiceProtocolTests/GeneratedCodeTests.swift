import Foundation
import Testing

/// The committed protoc-c output must be what protoc-c makes from the committed .proto.
/// This runs protoc-c exactly as scripts/regen-proto does, into a temporary directory, and
/// compares bytes. protoc-c missing is a failure, not a skip: CI installs it
/// (scripts/bootstrap installs Debian's protobuf-c-compiler).
@Suite("Generated code")
struct GeneratedCodeTests {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // SluiceProtocolTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()

    static func findProtocC() -> URL? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for directory in path.split(separator: ":").map(String.init) + ["/usr/bin", "/usr/local/bin"] {
            let candidate = URL(fileURLWithPath: directory).appendingPathComponent("protoc-c")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return nil
    }

    @Test("Sources/CSluiceProto matches protoc-c's output for Proto/sluice/v1/sluice.proto")
    func generatedCodeIsCurrent() throws {
        guard let protocC = Self.findProtocC() else {
            Issue.record(
                "protoc-c is not installed, so the committed generated code cannot be checked: install Debian's protobuf-c-compiler (scripts/bootstrap does)"
            )
            return
        }
        let temporary = FileManager.default.temporaryDirectory
            .appendingPathComponent("sluice-regen-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: temporary, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: temporary) }

        let process = Process()
        process.executableURL = protocC
        process.currentDirectoryURL = Self.root.appendingPathComponent("Proto")
        process.arguments = ["--proto_path=.", "--c_out=\(temporary.path)", "sluice/v1/sluice.proto"]
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "protoc-c failed: \(message)")

        let pairs = [
            ("sluice/v1/sluice.pb-c.c", "Sources/CSluiceProto/sluice/v1/sluice.pb-c.c"),
            ("sluice/v1/sluice.pb-c.h", "Sources/CSluiceProto/include/sluice/v1/sluice.pb-c.h"),
        ]
        for (generated, committed) in pairs {
            let fresh = try Data(contentsOf: temporary.appendingPathComponent(generated))
            let current = try Data(contentsOf: Self.root.appendingPathComponent(committed))
            #expect(
                fresh == current,
                "\(committed) is stale (or was made by another protoc-c version): run scripts/regen-proto and commit the result"
            )
        }
    }
}
