// swift-tools-version: 6.2
//
// The SQLite baseline of issue #6: the same command workload and rebuild as orgledger-bench, on SQLite
// through GRDB (WAL, synchronous=FULL) with an events table and views tables — the store a Swift developer
// would reach for instead. A separate package so that GRDB never enters the product's build.
import PackageDescription

let package = Package(
    name: "sqlite-baseline",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
    ],
    targets: [
        .executableTarget(
            name: "sqlite-bench",
            dependencies: [
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        )
    ],
    swiftLanguageModes: [.v6]
)
