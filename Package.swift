// swift-tools-version:6.1
import PackageDescription

/// Sluice: a per-host Kafka produce gateway.
///
/// Layers, one module each:
/// - `KafkaRecords`: the record value types (`ProducerRecord`, `RecordHeader`) that the
///   engine and the socket protocol share; on NIOCore only. KafkaWire re-exports it.
/// - `KafkaWire`: Kafka protocol codecs over `ByteBuffer`, record batches, compression. No I/O.
/// - `Spool`: the durable local spool, an append-only segmented log of produce calls on
///   disk (docs/spool.md); plain blocking file I/O, run on a thread of its own.
/// - `KafkaProducer`: broker connections and the producer engine.
/// - `SluiceProtocol`: the socket protocol (docs/protocol.md) over the protobuf-c code
///   generated from Proto/ into `CSluiceProto`. Not on KafkaWire: it links no compression
///   library, so neither does `SluiceClient`.
/// - `SluiceClient`: the Swift client library of the socket protocol, on SluiceProtocol
///   and NIO.
/// - `Gateway`: the Unix-socket server speaking protocol v1 over the engine: framing,
///   call references, back-pressure, peer credentials, configuration, metrics, lifecycle.
/// - executables: `sluice` (CLI), `sluiced` (the daemon).
let package = Package(
    name: "sluice",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "KafkaRecords", targets: ["KafkaRecords"]),
        .library(name: "KafkaWire", targets: ["KafkaWire"]),
        .library(name: "KafkaProducer", targets: ["KafkaProducer"]),
        .library(name: "SluiceProtocol", targets: ["SluiceProtocol"]),
        .library(name: "SluiceClient", targets: ["SluiceClient"]),
        .library(name: "Gateway", targets: ["Gateway"]),
        .executable(name: "sluice", targets: ["sluice"]),
        .executable(name: "sluiced", targets: ["sluiced"]),
        .executable(name: "sluice-client-example", targets: ["sluice-client-example"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        // `swift package generate-documentation` for the DocC catalogs (scripts/check-docs);
        // a command plugin, so nothing of it is built into the products.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // System C libraries, found with pkg-config; Debian package names as providers.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CSnappy", pkgConfig: "snappy", providers: [.apt(["libsnappy-dev"])]),
        .systemLibrary(name: "CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(
            name: "CProtobufC", pkgConfig: "libprotobuf-c", providers: [.apt(["libprotobuf-c-dev"])]),
        // CRC32C with the SSE4.2 instruction and a portable table fallback.
        .target(name: "CCRC32C"),
        // protoc-c's output for Proto/sluice/v1/sluice.proto, committed; regenerate with
        // scripts/regen-proto (a test fails when it is stale).
        .target(name: "CSluiceProto", dependencies: ["CProtobufC"]),

        .target(
            name: "KafkaRecords",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")]
        ),
        .target(
            name: "KafkaWire",
            dependencies: [
                "KafkaRecords", "CZlib", "CSnappy", "CLZ4", "CZstd", "CCRC32C",
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .target(
            name: "Spool",
            dependencies: [
                "KafkaRecords", "KafkaWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        .target(
            name: "KafkaProducer",
            dependencies: [
                "KafkaWire", "Spool",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "SluiceProtocol",
            dependencies: [
                "CSluiceProto", "CProtobufC", "KafkaRecords",
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // The Swift client: SluiceProtocol and NIO, no Kafka codecs (scripts/check-client-deps
        // shows that its target closure has no compression library).
        .target(
            name: "SluiceClient",
            dependencies: [
                "SluiceProtocol", "KafkaRecords",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        .target(
            name: "Gateway",
            dependencies: [
                "KafkaWire", "KafkaProducer", "SluiceProtocol", "Spool",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "TOMLKit", package: "TOMLKit"),
            ]
        ),
        .executableTarget(
            name: "sluiced",
            dependencies: [
                "Gateway", "Spool",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "sluice",
            dependencies: [
                "KafkaWire", "KafkaProducer", "SluiceProtocol", "SluiceClient",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The README's Swift example; its binary shows what a SluiceClient program links.
        .executableTarget(
            name: "sluice-client-example",
            dependencies: ["SluiceClient"],
            path: "Examples/SluiceClientExample"
        ),

        // Unit tests: no I/O beyond memory.
        // Fixtures/ holds the Python scripts that regenerate reference bytes.
        .testTarget(name: "KafkaWireTests", dependencies: ["KafkaWire"], exclude: ["Fixtures"]),
        // The spool's log in a temporary directory (the one unit suite that touches files).
        .testTarget(
            name: "SpoolTests",
            dependencies: [
                "Spool", "KafkaRecords",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "KafkaProducerTests",
            dependencies: ["KafkaProducer", "KafkaWire"]
        ),
        .testTarget(
            name: "SluiceProtocolTests",
            dependencies: [
                "SluiceProtocol", "CSluiceProto", "KafkaWire",
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // The client's call table (replies matched to calls), no I/O.
        .testTarget(
            name: "SluiceClientTests",
            dependencies: ["SluiceClient", "SluiceProtocol"]
        ),
        // The CLI's pure parts: input lines to records, the progress line.
        .testTarget(name: "sluiceTests", dependencies: ["sluice"]),
        // The gateway's pure parts: the connection state machine (injected clock),
        // configuration, authorization rules.
        .testTarget(
            name: "GatewayTests",
            dependencies: [
                "Gateway", "KafkaProducer", "KafkaWire", "SluiceProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ]
        ),
        // Integration tests: real brokers (Tansu, librdkafka's mock cluster) started by
        // the harness in tools/harness, read back with confluent-kafka's consumer.
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "KafkaProducer", "KafkaWire", "Gateway", "SluiceProtocol", "SluiceClient", "Spool",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
