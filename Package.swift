// swift-tools-version: 6.2
//
// OrgLedger — an event-sourced organization and membership ledger.
//
// Layers, dependencies pointing down only:
//   CLMDB       the system-library target for Debian's liblmdb-dev
//   LMDB        a safe Swift wrapper over LMDB (environment, transactions, cursors, map growth)
//   LedgerCore  pure value types every layer shares: JSON, RFC 8785 canonical form, time, the event envelope
//   EventLog    the append-only, hash-chained log (LMDB and in-memory) and the group-commit writer
//   OrgDomain   pure rules: commands, events, state, decide/apply, the permission matrix (no I/O, no clock)
//   Ledger      the storage seam: the `Ledger` protocol (execute a command, typed reads), its request,
//               outcome and page types, and what stays storage-neutral above it (row rendering, audit
//               filters and formats, time-travel points)
//   LedgerLMDB  the `Ledger` on LMDB: view tables and key layouts, the command pipeline in the writer's
//               transaction, rebuild/verify (the parallel fold), import, the folder lock
//   LedgerPostgres  the ledger on PostgreSQL (issue #15, under way): so far the event log, its tree and
//               the writers' fencing epoch, keeping the same `EventLog` contract
//   Service     the HTTP/JSON API on the Unix socket over `any Ledger` (it imports no storage module;
//               scripts/test checks), the service group (due events, server)
//   orgledger   the executable: opens the LMDB ledger for `serve`, does the offline work
import PackageDescription

let package = Package(
    name: "orgledger",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "orgledger", targets: ["orgledger"]),
        .library(name: "LMDB", targets: ["LMDB"]),
        .library(name: "LedgerCore", targets: ["LedgerCore"]),
        .library(name: "EventLog", targets: ["EventLog"]),
        .library(name: "OrgDomain", targets: ["OrgDomain"]),
        .library(name: "Ledger", targets: ["Ledger"]),
        .library(name: "LedgerLMDB", targets: ["LedgerLMDB"]),
        .library(name: "LedgerPostgres", targets: ["LedgerPostgres"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        .systemLibrary(
            name: "CLMDB",
            pkgConfig: "lmdb",
            providers: [.apt(["liblmdb-dev"])]
        ),
        .target(name: "LMDB", dependencies: ["CLMDB"]),
        .target(name: "LedgerCore", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "EventLog", dependencies: ["LMDB", "LedgerCore"]),
        .target(name: "OrgDomain", dependencies: ["LedgerCore"]),
        .target(name: "Ledger", dependencies: ["LedgerCore", "OrgDomain", .product(name: "Crypto", package: "swift-crypto")]),
        .target(
            name: "LedgerLMDB",
            dependencies: ["LMDB", "LedgerCore", "EventLog", "OrgDomain", "Ledger", .product(name: "NIOPosix", package: "swift-nio")]
        ),
        .target(
            name: "LedgerPostgres",
            dependencies: [
                "EventLog", "LMDB", "LedgerCore", "OrgDomain", "Ledger", "LedgerLMDB", .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"), .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .target(
            name: "Service",
            dependencies: [
                "Ledger", "LedgerCore", "OrgDomain",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),

        // The executable: offline commands now; serve and the client with the service layer.
        .executableTarget(
            name: "orgledger",
            dependencies: [
                "EventLog", "LMDB", "LedgerCore", "OrgDomain", "Ledger", "LedgerLMDB", "LedgerPostgres", "Service",
                .product(name: "ArgumentParser", package: "swift-argument-parser"), .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),

        // A child process for the crash test: appends in a loop and prints each acknowledged seq.
        .executableTarget(
            name: "orgledger-append-loop", dependencies: ["EventLog", "LMDB", "LedgerCore", "OrgDomain", "Ledger", "LedgerLMDB"], path: "Tests/Support/AppendLoop"),

        // The benchmarks (scripts/bench, release build).
        .executableTarget(
            name: "orgledger-bench",
            dependencies: ["EventLog", "LMDB", "LedgerCore", "OrgDomain", "Ledger", "LedgerLMDB", "Service", "CLMDB", .product(name: "Histogram", package: "hdrhistogram-swift")],
            path: "Benchmarks/orgledger-bench"
        ),

        .testTarget(name: "LMDBTests", dependencies: ["LMDB"]),
        .testTarget(name: "LedgerCoreTests", dependencies: ["LedgerCore"]),
        .testTarget(
            name: "EventLogTests",
            dependencies: [
                "EventLog", "LMDB", "LedgerCore", "LedgerPostgres", "LedgerTestSupport", .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "LedgerTestSupport",
            dependencies: ["LedgerPostgres", .product(name: "PostgresNIO", package: "postgres-nio"), .product(name: "Logging", package: "swift-log")],
            path: "Tests/TestSupport"),
        .testTarget(name: "OrgDomainTests", dependencies: ["OrgDomain", "LedgerCore", "LedgerTestSupport"]),
        .testTarget(
            name: "ServiceTests",
            dependencies: [
                "Service", "Ledger", "LedgerLMDB", "LedgerPostgres", "LedgerTestSupport", "LedgerCore", "OrgDomain", "EventLog",
                .product(name: "HTTPTypes", package: "swift-http-types"), .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]
        ),
        .testTarget(name: "LedgerLMDBTests", dependencies: ["Ledger", "LedgerLMDB", "OrgDomain", "EventLog", "LMDB", "LedgerCore", "LedgerTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)

// Hummingbird's settings for every Swift target: each existential spelled `any`, and a file uses only the
// modules it imports itself (a dependency's dependency is not visible by accident).
for target in package.targets where target.type != .system {
    target.swiftSettings = (target.swiftSettings ?? []) + [.enableUpcomingFeature("ExistentialAny"), .enableUpcomingFeature("MemberImportVisibility")]
}
