// swift-tools-version:6.1
import PackageDescription

// Router benchmarks (ordo-one/benchmark), kept out of the main package so that CI does not build
// the benchmark library. Run: `cd bench/router && swift package benchmark` (see docs/benchmarks.md).
let package = Package(
    name: "LucairRouterBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: "../.."),
        .package(url: "https://github.com/ordo-one/package-benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "RouterBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "LucairRouter", package: "main"),
            ],
            path: "Benchmarks/RouterBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]),
    ]
)
