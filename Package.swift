// swift-tools-version: 6.2
import PackageDescription

// The five services, declared the same way by `service(...)` below.
// Each lives in `Services/<Folder>/` and ships as a lowercase executable (`concert`, `queue`, …).
// The gateway also ships the box-office web page, `Services/Gateway/Public`, and the API's
// OpenAPI document, `Services/Gateway/openapi.yaml`, as resources.
let services: [(folder: String, executable: String, extra: [Target.Dependency], resources: [Resource])] = [
    ("Gateway", "gateway", [
        .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "AsyncHTTPClient", package: "async-http-client"),
        .product(name: "Metrics", package: "swift-metrics"),
        .product(name: "Prometheus", package: "swift-prometheus"),
        .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "Yams", package: "Yams"),
    ], [.copy("Public"), .copy("openapi.yaml")]),
    ("Queue", "queue", [.product(name: "Crypto", package: "swift-crypto")], []),
    ("Concert", "concert", [], []),
    ("Payment", "payment", [.product(name: "Crypto", package: "swift-crypto")], []),
    ("Reservation", "reservation", [], []),
]

/// What every service target depends on: the shared modules only, never another service.
let sharedDependencies: [Target.Dependency] = [
    "ServiceKit", "Messaging", "Contracts",
    .product(name: "ArgumentParser", package: "swift-argument-parser"),
    .product(name: "Logging", package: "swift-log"),
    .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
    .product(name: "GRDB", package: "GRDB.swift"),
]

func service(_ folder: String, extra: [Target.Dependency], resources: [Resource]) -> Target {
    .executableTarget(
        name: "\(folder)Service",
        dependencies: sharedDependencies + extra,
        path: "Services/\(folder)",
        resources: resources
    )
}

/// Services a service's tests also run in-process, as the real peers it calls.
let testPeers: [String: [String]] = ["Reservation": ["Concert", "Payment", "Queue"]]

/// What a service's tests use beyond the service and the harness: the gateway's run its HTTP
/// rules in process with HummingbirdTesting.
let testExtras: [String: [Target.Dependency]] = ["Gateway": [.product(name: "HummingbirdTesting", package: "hummingbird")]]

/// A service's own test target, `Tests/<Folder>Tests`. Every service has one. (Named, not found by
/// looking at the disk: SwiftPM caches a manifest by its text, so a new folder would go unseen.)
func serviceTests(_ folder: String) -> [Target] {
    let path = "Tests/\(folder)Tests"
    let peers: [Target.Dependency] = (testPeers[folder] ?? []).map { .target(name: "\($0)Service") }
    return [.testTarget(
        name: "\(folder)Tests",
        dependencies: [.target(name: "\(folder)Service"), "TestSupport", .product(name: "GRDB", package: "GRDB.swift")] + peers
            + (testExtras[folder] ?? []),
        path: path
    )]
}

let package = Package(
    name: "concert-ticketing",
    platforms: [.macOS(.v15)],
    products: services.map { .executable(name: $0.executable, targets: ["\($0.folder)Service"]) }
        + [.executable(name: "loadgen", targets: ["LoadGen"]), .executable(name: "chaos", targets: ["Chaos"])],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.0"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.2.0"),
        .package(url: "https://github.com/swift-otel/swift-w3c-trace-context", from: "1.0.0"),
        // Only the OTLP/HTTP exporter: the gRPC one would build grpc-swift for nothing.
        .package(url: "https://github.com/swift-otel/swift-otel", from: "1.6.0", traits: ["OTLPHTTP"]),
    ],
    targets: [
        .systemLibrary(
            name: "CZeroMQ",
            path: "Shared/CZeroMQ",
            pkgConfig: "libzmq",
            providers: [.apt(["libzmq3-dev"])]
        ),
        .target(name: "ZeroMQ", dependencies: ["CZeroMQ"], path: "Shared/ZeroMQ"),
        .target(
            name: "Messaging",
            dependencies: [
                "ZeroMQ",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "W3CTraceContext", package: "swift-w3c-trace-context"),
            ],
            path: "Shared/Messaging"
        ),
        .target(name: "Contracts", dependencies: ["Messaging", .product(name: "Crypto", package: "swift-crypto")], path: "Shared/Contracts"),
        .target(
            name: "ServiceKit",
            dependencies: [
                "Messaging", "Contracts",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "OTel", package: "swift-otel"),
            ],
            path: "Shared/ServiceKit"
        ),
        // Test helpers shared by the test targets: free ports, temporary folders, real processes.
        .target(
            name: "TestSupport",
            dependencies: [
                "ServiceKit", "Messaging",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            path: "Tests/TestSupport"
        ),
        // The load generator and the baselines of `make bench`; it runs the stack with the test harness.
        .executableTarget(
            name: "LoadGen",
            dependencies: [
                "TestSupport", "ServiceKit", "Messaging", "Contracts", "ZeroMQ",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Benchmarks/LoadGen"
        ),
        // The chaos run (issue 6): virtual users booking through the gateway while processes are
        // killed and frozen, then every promise checked on the SQLite files. Runs the stack with the harness.
        .executableTarget(
            name: "Chaos",
            dependencies: [
                "TestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Tests/Chaos"
        ),
        .testTarget(name: "ZeroMQTests", dependencies: ["ZeroMQ"], path: "Tests/ZeroMQTests"),
        .testTarget(
            name: "MessagingTests",
            dependencies: [
                "Messaging", "ZeroMQ", "TestSupport",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "W3CTraceContext", package: "swift-w3c-trace-context"),
            ],
            path: "Tests/MessagingTests"
        ),
        .testTarget(
            name: "ServiceKitTests",
            dependencies: [
                "ServiceKit", "TestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "W3CTraceContext", package: "swift-w3c-trace-context"),
            ],
            path: "Tests/ServiceKitTests"
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["TestSupport", "Contracts", .product(name: "GRDB", package: "GRDB.swift")],
            path: "Tests/EndToEndTests"
        ),
    ]
        + services.map { service($0.folder, extra: $0.extra, resources: $0.resources) }
        + services.flatMap { serviceTests($0.folder) },
    swiftLanguageModes: [.v6]
)
