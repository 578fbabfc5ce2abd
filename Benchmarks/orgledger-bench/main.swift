// orgledger-bench — the storage benchmarks of issue 2 (scripts/bench runs this in a release build).
//
//   orgledger-bench [--events N] [--single-events N] [--dir DIR]
//
// For 1, 16 and 64 concurrent submitters: append events through the group-commit writer (one event per
// append, each submitter on its own stream with an exact expected version, as commands do), then put the
// very same key/value bytes into a fresh environment with plain mdb_put in the very same batch sizes
// (the raw LMDB baseline). Then scan the whole log through the log API and with a plain cursor.
// Every figure of one run comes from the same machine in the same minutes; compare ratios, not absolutes.
import CLMDB
import EventLog
import Foundation
import Histogram
import LMDB
import LedgerCore
import OrgDomain
import Ledger
import LedgerLMDB
import Synchronization

// MARK: Arguments

var totalEvents = 1_000_000
var singleSubmitterEvents = 30_000
var rebuildEvents = 1_000_000
var rebuildRepeats = 1
var baseDir = FileManager.default.currentDirectoryPath + "/.build/bench-data"
var keepData = false
var postgresServer: String?
var suites: Set<String> = ["storage", "rebuild", "commands", "pending", "socket", "queries", "proofs", "erasure", "sync"]
do {
    var args = CommandLine.arguments.dropFirst()
    while let arg = args.popFirst() {
        switch arg {
        case "--events": totalEvents = Int(args.popFirst() ?? "") ?? totalEvents
        case "--single-events": singleSubmitterEvents = Int(args.popFirst() ?? "") ?? singleSubmitterEvents
        case "--rebuild-events": rebuildEvents = Int(args.popFirst() ?? "") ?? rebuildEvents
        case "--repeat": rebuildRepeats = max(1, Int(args.popFirst() ?? "") ?? rebuildRepeats)
        case "--dir": baseDir = args.popFirst() ?? baseDir
        case "--only": suites = Set((args.popFirst() ?? "").split(separator: ",").map(String.init))
        case "--keep": keepData = true
        case "--postgres": postgresServer = args.popFirst()
        default:
            FileHandle.standardError.write(Data("usage: orgledger-bench [--only storage|rebuild|stages|commands|pending|socket|queries|proofs|erasure|sync|postgres] [--postgres URL] [--events N] [--single-events N] [--rebuild-events N] [--repeat N] [--dir DIR] [--keep]\n".utf8))
            exit(2)
        }
    }
}

// MARK: Helpers

func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

final class BatchRecorder: Sendable {
    private let sizes = Mutex<[Int]>([])
    func record(_ size: Int) { sizes.withLock { $0.append(size) } }
    var all: [Int] { sizes.withLock { $0 } }
}

func freshFolder(_ name: String, in baseDir: String) throws -> String {
    let path = baseDir + "/" + name
    try? FileManager.default.removeItem(atPath: path)
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func peakRSSMiB() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_maxrss) / 1024
}

func rate(_ count: Int, _ nanos: UInt64) -> Double { Double(count) / (Double(nanos) / 1e9) }

func fmt(_ value: Double) -> String {
    value >= 100 ? String(format: "%.0f", value) : String(format: "%.2f", value)
}

func check(_ rc: Int32, _ what: String) {
    if rc != 0 { fatalError("\(what): \(String(cString: mdb_strerror(rc)))") }
}

/// A realistic event: a member joining, ~300 bytes of canonical JSON.
func memberJoined(_ submitter: Int, _ n: Int) -> NewEvent {
    NewEvent(
        type: "member.joined", at: Timestamp(millisecondsSinceEpoch: 1_795_810_740_123 + Int64(n)),
        actor: "inviter-\(submitter)@example.com",
        data: ["email": .string("user-\(n)@example.com"), "role": "member", "invitation_id": .string("inv_\(submitter)_\(n)_0123456789abcdef"), "invited_by": .string("inviter-\(submitter)@example.com")],
        meta: EventMeta(requestId: "req-\(submitter)-\(n)", clientIP: PersonalValue(committing: "127.0.0.1"), userAgent: PersonalValue(committing: "orgledger-bench/1")))
}

struct AppendRun {
    var appendsPerSecond: Double
    var nanos: UInt64
    var latency: Histogram<UInt64>
    var batchSizes: [Int]
}

// MARK: Group-commit appends

func appendThroughWriter(log: LMDBEventLog, submitters: Int, total: Int, batches: BatchRecorder) async throws -> AppendRun {
    let perSubmitter = total / submitters
    let start = now()
    let histograms = try await withThrowingTaskGroup(of: Histogram<UInt64>.self) { group in
        for s in 0..<submitters {
            group.addTask {
                var h = Histogram<UInt64>(highestTrackableValue: 60_000_000)  // µs
                let stream = "org_bench_\(s)"
                for n in 0..<perSubmitter {
                    let t0 = now()
                    _ = try await log.append(AppendRequest(stream: stream, expectedVersion: .exactly(UInt64(n)), events: [memberJoined(s, n)]))
                    _ = h.record((now() - t0) / 1000)
                }
                return h
            }
        }
        var all = Histogram<UInt64>(highestTrackableValue: 60_000_000)
        for try await h in group { all.add(h) }
        return all
    }
    let elapsed = now() - start
    return AppendRun(appendsPerSecond: rate(perSubmitter * submitters, elapsed), nanos: elapsed, latency: histograms, batchSizes: batches.all)
}

/// Every key/value pair the log wrote, in seq order: the events and their stream-index entries.
func readBack(_ env: Environment, _ tables: LogTables) throws -> [(event: ([UInt8], [UInt8]), index: ([UInt8], [UInt8]))] {
    var index: [UInt64: ([UInt8], [UInt8])] = [:]
    try env.read { txn in
        try txn.withCursor(on: tables.streams) { cursor in
            try cursor.forEach(from: [UInt8]?.none) { entry in
                index[UInt64(bigEndian: entry.value.loadUnaligned(as: UInt64.self))] = (Array(entry.key), Array(entry.value))
                return true
            }
        }
    }
    var out: [(event: ([UInt8], [UInt8]), index: ([UInt8], [UInt8]))] = []
    out.reserveCapacity(index.count)
    try env.read { txn in
        try txn.withCursor(on: tables.events) { cursor in
            try cursor.forEach(from: [UInt8]?.none) { entry in
                let seq = UInt64(bigEndian: entry.key.loadUnaligned(as: UInt64.self))
                out.append(((Array(entry.key), Array(entry.value)), index[seq]!))
                return true
            }
        }
    }
    return out
}

// MARK: Raw LMDB baseline

/// Puts `pairs` with plain mdb_put into a fresh environment, committing in exactly `batchSizes`.
func rawPut(_ pairs: [(event: ([UInt8], [UInt8]), index: ([UInt8], [UInt8]))], batchSizes: [Int], path: String) -> UInt64 {
    var env: OpaquePointer?
    check(mdb_env_create(&env), "create")
    check(mdb_env_set_maxdbs(env, 4), "maxdbs")
    check(mdb_env_set_mapsize(env, 8 << 30), "mapsize")
    check(mdb_env_open(env, path, UInt32(MDB_NOTLS), 0o600), "open")
    var txn: OpaquePointer?
    var events: MDB_dbi = 0, streams: MDB_dbi = 0
    check(mdb_txn_begin(env, nil, 0, &txn), "begin")
    check(mdb_dbi_open(txn, "events", UInt32(MDB_CREATE), &events), "dbi")
    check(mdb_dbi_open(txn, "streams", UInt32(MDB_CREATE), &streams), "dbi")
    check(mdb_txn_commit(txn), "commit")

    func put(_ txn: OpaquePointer?, _ dbi: MDB_dbi, _ kv: ([UInt8], [UInt8]), _ flags: Int32) {
        kv.0.withUnsafeBytes { k in
            kv.1.withUnsafeBytes { v in
                var key = MDB_val(mv_size: k.count, mv_data: UnsafeMutableRawPointer(mutating: k.baseAddress))
                var val = MDB_val(mv_size: v.count, mv_data: UnsafeMutableRawPointer(mutating: v.baseAddress))
                check(mdb_put(txn, dbi, &key, &val, UInt32(flags)), "put")
            }
        }
    }
    // Batch sizes count appends; here one append is one event.
    let start = now()
    var i = 0
    for size in batchSizes {
        check(mdb_txn_begin(env, nil, 0, &txn), "begin")
        for _ in 0..<size where i < pairs.count {
            put(txn, events, pairs[i].event, MDB_APPEND)
            put(txn, streams, pairs[i].index, 0)
            i += 1
        }
        check(mdb_txn_commit(txn), "commit")
    }
    let elapsed = now() - start
    mdb_env_close(env)
    return elapsed
}

/// A plain cursor over every event: the floor for any scan.
func rawScan(path: String) -> (count: Int, nanos: UInt64) {
    var env: OpaquePointer?
    check(mdb_env_create(&env), "create")
    check(mdb_env_set_maxdbs(env, 4), "maxdbs")
    check(mdb_env_open(env, path, UInt32(MDB_NOTLS | MDB_RDONLY), 0o600), "open")
    var txn: OpaquePointer?
    var dbi: MDB_dbi = 0
    let start = now()
    check(mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &txn), "begin")
    check(mdb_dbi_open(txn, "events", 0, &dbi), "dbi")
    var cursor: OpaquePointer?
    check(mdb_cursor_open(txn, dbi, &cursor), "cursor")
    var key = MDB_val(), val = MDB_val()
    var count = 0, bytes = 0
    var rc = mdb_cursor_get(cursor, &key, &val, MDB_FIRST)
    while rc == 0 {
        count += 1
        bytes &+= Int(val.mv_data.load(fromByteOffset: val.mv_size - 1, as: UInt8.self))  // touch the value
        rc = mdb_cursor_get(cursor, &key, &val, MDB_NEXT)
    }
    check(rc == MDB_NOTFOUND ? 0 : rc, "scan")
    mdb_cursor_close(cursor)
    mdb_txn_abort(txn)
    let elapsed = now() - start
    mdb_env_close(env)
    if bytes == -1 { print("") }
    return (count, elapsed)
}

// MARK: Main

@MainActor func storageBenchmark() async throws {
    print("# orgledger-bench — \(totalEvents) events per concurrent run, \(singleSubmitterEvents) with 1 submitter")
    print("")
    print("| submitters | appends | appends/s (writer) | raw mdb_put/s, same batches | writer / raw | mean batch | p50 µs | p99 µs | p99.9 µs |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")

    var scanPath = ""
    for submitters in [1, 16, 64] {
        let count = submitters == 1 ? singleSubmitterEvents : totalEvents
        let path = try freshFolder("writer-\(submitters)", in: baseDir)
        let batches = BatchRecorder()
        let env = try Environment(path: path)
        let log = try LMDBEventLog(environment: env, afterCommit: { size in batches.record(size) })
        let run = try await appendThroughWriter(log: log, submitters: submitters, total: count, batches: batches)
        log.close()
        let pairs = try readBack(env, log.tables)
        let rawNanos = rawPut(pairs, batchSizes: run.batchSizes, path: try freshFolder("raw-\(submitters)", in: baseDir))
        let rawRate = rate(pairs.count, rawNanos)
        let meanBatch = Double(pairs.count) / Double(run.batchSizes.count)
        print("| \(submitters) | \(pairs.count) | \(fmt(run.appendsPerSecond)) | \(fmt(rawRate)) | \(fmt(run.appendsPerSecond / rawRate)) | \(fmt(meanBatch)) | \(run.latency.valueAtPercentile(50)) | \(run.latency.valueAtPercentile(99)) | \(run.latency.valueAtPercentile(99.9)) |")
        if submitters == 64 { scanPath = path }
        try? FileManager.default.removeItem(atPath: baseDir + "/raw-\(submitters)")
        if submitters != 64 { try? FileManager.default.removeItem(atPath: path) }
    }

    print("")
    print("| scan of the 64-submitter log | events | events/s | vs plain cursor |")
    print("|---|---:|---:|---:|")
    let raw = rawScan(path: scanPath)
    let rawScanRate = rate(raw.count, raw.nanos)
    print("| plain LMDB cursor (baseline) | \(raw.count) | \(fmt(rawScanRate)) | 1.00 |")
    do {
        let env = try Environment(path: scanPath)
        let tables = try LogTables(environment: env)
        var n = 0
        var start = now()
        try env.read { txn in
            try tables.forEachEvent(after: 0, in: txn) { _, _, bytes in
                n += bytes.count > 0 ? 1 : 0
                return true
            }
        }
        var elapsed = now() - start
        print("| log scan, stored bytes (`LogTables.forEachEvent`) | \(n) | \(fmt(rate(n, elapsed))) | \(fmt(rate(n, elapsed) / rawScanRate)) |")

        n = 0
        start = now()
        var types = 0
        try env.read { txn in
            try tables.forEachEvent(after: 0, in: txn) { _, _, bytes in
                let header = try EnvelopeHeader.read(bytes)
                types &+= header.type.utf8.count
                n += 1
                return true
            }
        }
        elapsed = now() - start
        print("| log scan + envelope header (seq, stream, version, type, prev_hash) | \(n) | \(fmt(rate(n, elapsed))) | \(fmt(rate(n, elapsed) / rawScanRate)) |")

        start = now()
        let report = try env.read { txn in try tables.verify(in: txn, progress: nil) }
        elapsed = now() - start
        precondition(report.isIntact)
        print("| verify: SHA-256 + chain + stream index | \(report.eventsChecked) | \(fmt(rate(Int(report.eventsChecked), elapsed))) | \(fmt(rate(Int(report.eventsChecked), elapsed) / rawScanRate)) |")

        start = now()
        var decoded = 0
        var after: UInt64 = 0
        while true {
            let page = try env.read { txn in try tables.events(after: after, limit: 10_000, in: txn) }
            guard let last = page.last else { break }
            decoded += page.count
            after = last.seq
        }
        elapsed = now() - start
        print("| full decode to `EventEnvelope` (`events(after:limit:)`) | \(decoded) | \(fmt(rate(decoded, elapsed))) | \(fmt(rate(decoded, elapsed) / rawScanRate)) |")
    }
    try? FileManager.default.removeItem(atPath: scanPath)
    print("")
    print("peak RSS so far: \(fmt(peakRSSMiB())) MiB")

}

if suites.contains("storage") { try await storageBenchmark() }
if suites.contains("rebuild") { try rebuildBenchmark() }
if suites.contains("stages") { try replayStages() }
if suites.contains("commands") { try await commandsInProcess() }
if suites.contains("pending") { try await invitesIntoALargeOrg() }
if suites.contains("socket") { try overTheSocket() }
if suites.contains("queries") { try queries() }
if suites.contains("proofs") { try proofs() }
if suites.contains("erasure") { try await erasureOfAHeavyUser() }
if suites.contains("sync") { try directorySync() }
if suites.contains("postgres") {
    guard let postgresServer else { fatalError("--only postgres needs --postgres URL (scripts/bench starts a server for it)") }
    try postgresAgainstLMDB(server: postgresServer)
}
print("")
print("peak RSS of the whole run: \(fmt(peakRSSMiB())) MiB")
