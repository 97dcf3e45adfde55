// swift-tools-version:5.4
import PackageDescription

// libFuzzer targets for Sluice, built apart from the main package (their build needs
// `-sanitize=fuzzer`, which the main build must not get). Build and run them with
// scripts/fuzz from the repository root.
let package = Package(
    name: "sluice-fuzz",
    dependencies: [
        .package(name: "sluice", path: ".."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
    ],
    targets: [
        // The socket frame and request decoder: SluiceFraming and KafkaWire's
        // LengthPrefixedFrameDecoder (compared), then SluiceCodec.decodeRequest/decodeReply.
        .executableTarget(
            name: "FuzzRequestDecoder",
            dependencies: [
                .product(name: "SluiceProtocol", package: "sluice"),
                .product(name: "KafkaWire", package: "sluice"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        )
    ],
    swiftLanguageVersions: [.v5]
)
