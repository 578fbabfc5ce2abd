// sqlite-bench [--dir DIR] [--rebuild-events N]
//
// Durable commands with 1, 16 and 64 submitters, each inviting fresh people into its own org as in
// `orgledger-bench --only commands`: one transaction per command (GRDB serializes writers; SQLite has no
// group commit) that checks the org's stream version, appends a hash-chained event (canonical-style JSON
// body, SHA-256 over it, prev hash from the last row) and updates the views (invitations, orgs). Then a
// rebuild of the views from an events table of N events.
import Crypto
import Foundation
import GRDB
import Histogram

var baseDir = FileManager.default.currentDirectoryPath + "/.build/sqlite-bench-data"
var rebuildEvents = 1_000_000
do {
    var args = CommandLine.arguments.dropFirst()
    while let arg = args.popFirst() {
        switch arg {
        case "--dir": baseDir = args.popFirst() ?? baseDir
        case "--rebuild-events": rebuildEvents = Int(args.popFirst() ?? "") ?? rebuildEvents
        default: FileHandle.standardError.write(Data("usage: sqlite-bench [--dir DIR] [--rebuild-events N]\n".utf8)); exit(2)
        }
    }
}

func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
func rate(_ n: Int, _ ns: UInt64) -> Double { Double(n) / (Double(ns) / 1e9) }
func fmt(_ v: Double) -> String { v >= 100 ? String(format: "%.0f", v) : String(format: "%.2f", v) }
func peakRSSMiB() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_maxrss) / 1024
}

func openPool(_ path: String) throws -> DatabasePool {
    try? FileManager.default.removeItem(atPath: path)
    try? FileManager.default.removeItem(atPath: path + "-wal")
    try? FileManager.default.removeItem(atPath: path + "-shm")
    var configuration = Configuration()
    configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
    let pool = try DatabasePool(path: path, configuration: configuration)  // WAL
    try pool.write { db in
        try db.execute(sql: """
            CREATE TABLE events(seq INTEGER PRIMARY KEY, stream TEXT NOT NULL, version INTEGER NOT NULL, type TEXT NOT NULL,
                                body TEXT NOT NULL, hash BLOB NOT NULL, UNIQUE(stream, version));
            CREATE TABLE orgs(id TEXT PRIMARY KEY, handle TEXT UNIQUE NOT NULL, version INTEGER NOT NULL, member_count INTEGER NOT NULL);
            CREATE TABLE invitations(id TEXT PRIMARY KEY, org TEXT NOT NULL, email TEXT NOT NULL, role TEXT NOT NULL, status TEXT NOT NULL);
            CREATE INDEX invitations_by_org ON invitations(org);
            """)
    }
    return pool
}

/// One command: check the stream version, append a chained event, update the views — one transaction.
func invite(_ db: Database, org: String, email: String, id: String, at: String) throws {
    let version = try Int.fetchOne(db, sql: "SELECT version FROM orgs WHERE id = ?", arguments: [org]) ?? 0
    let prev = try Data.fetchOne(db, sql: "SELECT hash FROM events ORDER BY seq DESC LIMIT 1") ?? Data(count: 32)
    let body = #"{"actor":"owner@\#(org).example","at":"\#(at)","data":{"email":"\#(email)","expires_at":"\#(at)","invitation_id":"\#(id)","role":"member"},"meta":{},"prev_hash":"\#(prev.map { String(format: "%02x", $0) }.joined())","schema_version":1,"stream":"\#(org)","type":"invitation.sent","version":\#(version + 1)}"#
    let hash = Data(SHA256.hash(data: Data(body.utf8)))
    try db.execute(sql: "INSERT INTO events(stream, version, type, body, hash) VALUES (?, ?, ?, ?, ?)", arguments: [org, version + 1, "invitation.sent", body, hash])
    try db.execute(sql: "INSERT INTO invitations(id, org, email, role, status) VALUES (?, ?, ?, 'member', 'pending')", arguments: [id, org, email])
    try db.execute(sql: "UPDATE orgs SET version = ? WHERE id = ?", arguments: [version + 1, org])
}

print("# sqlite-bench — SQLite \(try DatabaseQueue().read { try String.fetchOne($0, sql: "SELECT sqlite_version()") } ?? "?") through GRDB, WAL, synchronous=FULL")
print("")
print("| SQLite durable commands | commands | commands/s | p50 µs | p99 µs | p99.9 µs | peak RSS MiB |")
print("|---|---:|---:|---:|---:|---:|---:|")
try FileManager.default.createDirectory(atPath: baseDir, withIntermediateDirectories: true)
for submitters in [1, 16, 64] {
    let pool = try openPool(baseDir + "/commands-\(submitters).sqlite")
    try pool.write { db in
        for s in 0..<submitters {
            try db.execute(sql: "INSERT INTO orgs(id, handle, version, member_count) VALUES (?, ?, 0, 1)", arguments: ["org_b\(s)", "bench-\(s)"])
        }
    }
    let perSubmitter = submitters == 1 ? 5_000 : 100_000 / submitters
    let at = "2026-11-27T20:19:00.123Z"
    let start = now()
    let histogram = try await withThrowingTaskGroup(of: Histogram<UInt64>.self) { group in
        for s in 0..<submitters {
            group.addTask {
                var h = Histogram<UInt64>(highestTrackableValue: 60_000_000)
                for n in 0..<perSubmitter {
                    let t0 = now()
                    try await pool.write { db in try invite(db, org: "org_b\(s)", email: "p\(n)@b\(s).example", id: "inv_\(s)_\(n)", at: at) }
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
    let total = perSubmitter * submitters
    print("| \(submitters) submitters | \(total) | \(fmt(rate(total, elapsed))) | \(histogram.valueAtPercentile(50)) | \(histogram.valueAtPercentile(99)) | \(histogram.valueAtPercentile(99.9)) | \(fmt(peakRSSMiB())) |")
}

// Rebuild: derive the views again from an events table of N events (2,000 orgs, invitations).
do {
    let pool = try openPool(baseDir + "/rebuild.sqlite")
    let orgs = 2000
    try pool.write { db in
        for o in 0..<orgs {
            try db.execute(sql: "INSERT INTO orgs(id, handle, version, member_count) VALUES (?, ?, 0, 1)", arguments: ["org_\(o)", "bench-org-\(o)"])
        }
    }
    var written = 0
    while written < rebuildEvents {
        try pool.write { db in
            let end = min(rebuildEvents, written + 50_000)
            while written < end {
                let o = written % orgs
                try invite(db, org: "org_\(o)", email: "m\(written / orgs)@org\(o).example", id: "inv_\(written)", at: "2026-11-27T20:19:00.123Z")
                written += 1
            }
        }
    }
    var start = now()
    let scanned = try pool.read { db in
        var n = 0
        let cursor = try Row.fetchCursor(db, sql: "SELECT body FROM events ORDER BY seq")
        while let row = try cursor.next() { let body: String = row[0]; n += body.isEmpty ? 0 : 1 }
        return n
    }
    let scan = now() - start
    start = now()
    try pool.write { db in
        try db.execute(sql: """
            DELETE FROM invitations;
            INSERT INTO invitations(id, org, email, role, status)
                SELECT json_extract(body, '$.data.invitation_id'), stream, json_extract(body, '$.data.email'),
                       json_extract(body, '$.data.role'), 'pending'
                FROM events WHERE type = 'invitation.sent' ORDER BY seq;
            UPDATE orgs SET version = (SELECT MAX(version) FROM events WHERE stream = orgs.id);
            """)
    }
    let rebuild = now() - start
    print("")
    print("| SQLite, \(rebuildEvents) events | seconds | events/s |")
    print("|---|---:|---:|")
    print("| scan of the events table (GRDB cursor) | \(String(format: "%.2f", Double(scan) / 1e9)) | \(fmt(rate(scanned, scan))) |")
    print("| rebuild of the views in SQL (json_extract), one transaction | \(String(format: "%.2f", Double(rebuild) / 1e9)) | \(fmt(rate(rebuildEvents, rebuild))) |")
    print("")
    print("peak RSS of the whole run: \(fmt(peakRSSMiB())) MiB")
}
