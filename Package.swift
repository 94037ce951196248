// swift-tools-version:6.1
import PackageDescription

// Dependencies point one way: LucairWire <- LucairCore <- LucairRouter / LucairUpstreams / LucairStorage
// <- LucairGateway <- lucair. See ARCHITECTURE.md.
let package = Package(
    name: "Lucair",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "lucair", targets: ["lucair"]),
        .executable(name: "lucair-fake-upstream", targets: ["lucair-fake-upstream"]),
        .executable(name: "lucair-loadgen", targets: ["lucair-loadgen"]),
        // For the router benchmarks in bench/router (a separate package, so CI does not build ordo-one/benchmark).
        .library(name: "LucairRouter", targets: ["LucairRouter"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.33.0"),
    ],
    targets: [
        // Wire formats: OpenAI, Anthropic, SSE. Pure values and translation, no I/O.
        .target(name: "LucairWire"),
        // Domain: tiers, money, prices, configuration, usage records, errors. No I/O but config file reading.
        .target(name: "LucairCore", dependencies: [
            "LucairWire",
            .product(name: "TOMLKit", package: "TOMLKit"),
        ]),
        // Model resolution and routing decisions. Pure.
        .target(name: "LucairRouter", dependencies: ["LucairCore", "LucairWire"]),
        // The hash-chained ledger: canonical entries, Merkle trees (RFC 6962), signed checkpoints,
        // verification and inclusion proofs. Pure computation, no I/O.
        .target(name: "LucairLedger", dependencies: [
            "LucairCore", "LucairWire",
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // Upstream providers (one file per upstream kind) and managed local engines.
        .target(name: "LucairUpstreams", dependencies: [
            "LucairCore", "LucairWire",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Storage behind one protocol: SQLite (GRDB) and PostgreSQL (PostgresNIO), migrations, usage writer.
        .target(name: "LucairStorage", dependencies: [
            "LucairCore", "LucairLedger",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "GRDBSQLite", package: "GRDB.swift"),
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Billing with Stripe: webhook signatures, the API client, top-ups, auto-recharge, refunds,
        // disputes and reconciliation, over Storage.
        .target(name: "LucairBilling", dependencies: [
            "LucairCore", "LucairWire", "LucairStorage", "LucairLedger",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // HTTP gateway: thin Hummingbird handlers over the core.
        .target(name: "LucairGateway", dependencies: [
            "LucairCore", "LucairWire", "LucairRouter", "LucairUpstreams", "LucairStorage", "LucairLedger", "LucairBilling",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
        ], resources: [.copy("Resources/llamacpp-server.py"), .copy("Resources/router")]),
        .executableTarget(name: "lucair", dependencies: [
            "LucairGateway", "LucairCore", "LucairRouter", "LucairStorage", "LucairWire", "LucairLedger", "LucairBilling",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Fake OpenAI-compatible and Anthropic upstreams for tests and benchmarks.
        .target(name: "LucairFakes", dependencies: [
            "LucairWire",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "lucair-fake-upstream", dependencies: [
            "LucairFakes",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Micro-benchmarks of request-path pieces without I/O, for docs/benchmarks.md.
        .executableTarget(name: "lucair-microbench", dependencies: [
            "LucairGateway", "LucairCore", "LucairStorage", "LucairLedger",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Histogram", package: "hdrhistogram-swift"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        // The floor under Lucair's request path (its building blocks, none of its work), for bench/floor.sh.
        .executableTarget(name: "lucair-floor", dependencies: [
            "LucairUpstreams",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
        // Load generator for docs/benchmarks.md.
        .executableTarget(name: "lucair-loadgen", dependencies: [
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Histogram", package: "hdrhistogram-swift"),
        ]),
        .testTarget(name: "LucairWireTests", dependencies: ["LucairWire"], exclude: ["Golden"]),
        .testTarget(name: "LucairLedgerTests", dependencies: ["LucairLedger", "LucairCore", "LucairWire",
                                                           .product(name: "Crypto", package: "swift-crypto")]),
        .testTarget(name: "LucairRouterTests", dependencies: ["LucairRouter", "LucairCore", "LucairWire"]),
        .testTarget(name: "LucairBillingTests", dependencies: ["LucairBilling", "LucairStorage", "LucairWire"]),
        .testTarget(name: "LucairCoreTests", dependencies: ["LucairCore", "LucairWire"]),
        .testTarget(name: "LucairGatewayTests", dependencies: [
            "LucairGateway", "LucairFakes", "LucairLedger", "LucairStorage",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
    ]
)
