import EventLog
import LMDB
import LedgerCore
import LedgerPostgres
import LedgerTestSupport
import Logging
import NIOCore
import PostgresNIO
import Testing

/// What only the PostgreSQL log has to show beyond the shared contract: fencing between instances on
/// one database, the same chain and tree as LMDB's, and a verify that finds what was changed behind it.
@Suite("PostgreSQL event log")
struct PostgresLogTests {
    @Test("a writer another instance replaced writes nothing, even with its connection open")
    func replacedWriterIsFenced() async throws {
        let database = try await TestDatabase.make()
        let first = try await PostgresEventLog.open(database.location, asWriter: true)
        let second = try await PostgresEventLog.open(database.location)
        let steps = try await Self.fencingScenario(first, second)
        await first.close()
        await second.close()
        await database.drop()
        #expect(steps == ["first wrote seq 1", "first fenced, head seq 1", "second wrote seq 2", "second fenced, head seq 3", "chain intact, 3 events"])
    }

    static func fencingScenario(_ first: PostgresEventLog, _ second: PostgresEventLog) async throws -> [String] {
        var steps: [String] = []
        steps.append("first wrote seq \(try await first.append(AppendRequest(stream: "org_a", expectedVersion: .any, events: [event()])).lastSeq)")
        try await second.becomeWriter()
        let refusal = await thrownError { try await first.append(AppendRequest(stream: "org_a", expectedVersion: .any, events: [event()])) }
        steps.append("\(refusal is FencedWriter ? "first fenced" : "first: \(String(describing: refusal))"), head seq \(try second.head().seq)")
        steps.append("second wrote seq \(try await second.append(AppendRequest(stream: "org_a", expectedVersion: .any, events: [event()])).lastSeq)")
        // Taking the role back works the same way round.
        try await first.becomeWriter()
        _ = try await first.append(AppendRequest(stream: "org_b", expectedVersion: .noStream, events: [event()]))
        let again = await thrownError { try await second.append(AppendRequest(stream: "org_a", expectedVersion: .any, events: [event()])) }
        steps.append("\(again is FencedWriter ? "second fenced" : "second: \(String(describing: again))"), head seq \(try first.head().seq)")
        let report = try first.verifyChain(progress: nil)
        steps.append(report.isIntact ? "chain intact, \(report.eventsChecked) events" : "chain broken: \(String(describing: report.problem))")
        return steps
    }

    @Test("a takeover that commits while an append waits for the head row fences that append")
    func takeoverDuringAnAppend() async throws {
        let database = try await TestDatabase.make()
        let writer = try await PostgresEventLog.open(database.location, asWriter: true)
        _ = try await writer.append(AppendRequest(stream: "org_a", expectedVersion: .any, events: [event()]))
        // Another instance's transaction holds the head row while the append starts, then raises the epoch.
        let other = try await PostgresConnection.connect(configuration: database.location.configuration, id: 8, logger: Logger(label: "test"))
        try await other.query("BEGIN", logger: Logger(label: "test"))
        try await other.query("SELECT seq FROM orgledger_head WHERE id = 1 FOR UPDATE", logger: Logger(label: "test"))
        let pending = Task { try await writer.append(AppendRequest(stream: "org_a", expectedVersion: .any, events: [event()])) }
        try await Task.sleep(for: .milliseconds(500))
        try await other.query("UPDATE orgledger_head SET epoch = epoch + 1 WHERE id = 1", logger: Logger(label: "test"))
        try await other.query("COMMIT", logger: Logger(label: "test"))
        let refusal = await thrownError { try await pending.value }
        let head = try writer.head().seq
        try await other.close()
        await writer.close()
        await database.drop()
        #expect(refusal is FencedWriter, "\(String(describing: refusal))")
        #expect(head == 1)
    }

    @Test("a standby takes over only once the writer's lease has lapsed, and the old writer is fenced")
    func standbyTakesOverALapsedLease() async throws {
        let database = try await TestDatabase.make()
        let writer = try await PostgresEventLog.open(database.location)
        let standby = try await PostgresEventLog.open(database.location)
        let steps = try await Self.takeoverScenario(writer, standby)
        await writer.close()
        await standby.close()
        await database.drop()
        #expect(steps == [
            "standby refused while the lease holds", "writer renewed", "standby refused after the renewal", "standby refused after an append",
            "standby took over", "old writer fenced", "old writer's renewal refused", "standby wrote seq 3", "second standby refused",
        ])
    }

    static func takeoverScenario(_ writer: PostgresEventLog, _ standby: PostgresEventLog) async throws -> [String] {
        var steps: [String] = []
        // Leases of 4 s, and every check 1.5 s or more from an expiry: a slow machine delays the checks,
        // and a late check of a refusal is the one that could go wrong.
        let lease = Duration.seconds(4)
        try await writer.becomeWriter(lease: lease)
        _ = try await writer.append(AppendRequest(stream: "org_a", expectedVersion: .any, events: [event()]))
        steps.append(try await standby.takeOverIfLapsed(lease: lease) == nil ? "standby refused while the lease holds" : "standby took over early")
        try await Task.sleep(for: .seconds(2))
        steps.append(try await writer.renewLease(lease) ? "writer renewed" : "writer's renewal refused")
        try await Task.sleep(for: .seconds(2))
        // 4 s after the start, when the first lease ends, but 2 s after the renewal: it still holds.
        steps.append(try await standby.takeOverIfLapsed(lease: lease) == nil ? "standby refused after the renewal" : "standby took over early")
        try await Task.sleep(for: .seconds(1))
        // An append extends the lease as a renewal does (to 9 s): at 7.5 s it holds, though the renewal's ended at 6.
        _ = try await writer.append(AppendRequest(stream: "org_a", expectedVersion: .any, events: [event()]))
        try await Task.sleep(for: .milliseconds(2_500))
        steps.append(try await standby.takeOverIfLapsed(lease: lease) == nil ? "standby refused after an append" : "standby took over early")
        try await Task.sleep(for: .seconds(3))
        steps.append(try await standby.takeOverIfLapsed(lease: lease) != nil ? "standby took over" : "standby refused")
        let refusal = await thrownError { try await writer.append(AppendRequest(stream: "org_a", expectedVersion: .any, events: [event()])) }
        steps.append(refusal is FencedWriter ? "old writer fenced" : "old writer: \(String(describing: refusal))")
        steps.append(try await writer.renewLease(lease) ? "old writer renewed" : "old writer's renewal refused")
        steps.append("standby wrote seq \(try await standby.append(AppendRequest(stream: "org_a", expectedVersion: .any, events: [event()])).lastSeq)")
        // The new writer's lease holds against the next standby (here the old writer, restarted).
        steps.append(try await writer.takeOverIfLapsed(lease: lease) == nil ? "second standby refused" : "second standby took over")
        return steps
    }

    @Test("the same appends give LMDB's hashes and LMDB's tree, node for node")
    func sameChainAndTreeAsLMDB() async throws {
        let database = try await TestDatabase.make()
        let postgres = try await PostgresEventLog.open(database.location, asWriter: true)
        let folder = try TemporaryFolder()
        let lmdb = try LMDBEventLog(path: folder.path)
        defer {
            lmdb.close()
            folder.remove()
        }
        // Appends of one and of many events, over a size that is no power of two.
        for i in 0..<40 {
            let events = (0...(i % 4)).map { event("t", ["i": .int(Int64($0))]) }
            let request = AppendRequest(stream: "org_\(i % 3)", expectedVersion: .any, events: events)
            _ = try await lmdb.append(request)
            _ = try await postgres.append(request)
        }
        let lmdbNodes = try lmdb.environment.read { txn in
            var nodes: [[UInt8]] = []
            try txn.withCursor(on: lmdb.tables.tree) { cursor in try cursor.forEach { nodes.append(Array($0.value)); return true } }
            return nodes
        }
        let postgresNodes = try await Self.treeNodes(database.location)
        let heads = (try lmdb.head(), try postgres.head())
        let report = try postgres.verifyChain(progress: nil)
        // Roots and proofs read from PostgreSQL's nodes are LMDB's, at every size.
        let size = heads.1.seq
        var differing: [String] = []
        try lmdb.environment.read { txn in
            for n in 1...size {
                if try lmdb.tables.root(size: n, in: txn) != (try postgres.root(size: n)) { differing.append("root \(n)") }
                let seq = 1 + (n * 37 + 11) % n
                if try lmdb.tables.inclusionProof(seq: seq, size: n, in: txn) != (try postgres.inclusionProof(seq: seq, size: n)) { differing.append("inclusion \(seq) in \(n)") }
                if try lmdb.tables.consistencyProof(from: (n + 1) / 2, to: n, in: txn) != (try postgres.consistencyProof(from: (n + 1) / 2, to: n)) {
                    differing.append("consistency \((n + 1) / 2) to \(n)")
                }
            }
        }
        let pastTheHead = (try? postgres.root(size: size + 1)) == nil
        // Numbers no tree has are refused, never trapped on.
        let emptyRoot = try postgres.root(size: 0)
        var accepted: [String] = []
        if (try? postgres.inclusionProof(seq: 0, size: 3)) != nil { accepted.append("inclusion 0 in 3") }
        if (try? postgres.inclusionProof(seq: 4, size: 3)) != nil { accepted.append("inclusion 4 in 3") }
        if (try? postgres.consistencyProof(from: 0, to: 2)) != nil { accepted.append("consistency 0 to 2") }
        if (try? postgres.consistencyProof(from: 3, to: 2)) != nil { accepted.append("consistency 3 to 2") }
        if (try? postgres.root(size: .max)) != nil { accepted.append("root of UInt64.max") }
        await postgres.close()
        await database.drop()
        #expect(heads.0 == heads.1)
        #expect(postgresNodes == lmdbNodes)
        #expect(report.isIntact)
        #expect(differing.isEmpty, "\(differing.prefix(5))")
        #expect(pastTheHead)
        #expect(emptyRoot == MerkleTree.emptyRoot)
        #expect(accepted.isEmpty, "\(accepted)")
    }

    @Test("verify while appends go on finds the log intact, every time")
    func verifyDuringAppends() async throws {
        let database = try await TestDatabase.make()
        let log = try await PostgresEventLog.open(database.location, asWriter: true)
        let appends = Task {
            for i in 0..<300 { _ = try await log.append(AppendRequest(stream: "org_\(i % 5)", expectedVersion: .any, events: [event(), event()])) }
        }
        var problems: [String] = []
        var checks = 0
        repeat {
            if let problem = try log.verifyChain(progress: nil).problem { problems.append(problem.description) }
            checks += 1
            try await Task.sleep(for: .milliseconds(20))
        } while try log.head().seq < 600
        try await appends.value
        let final = try log.verifyChain(progress: nil)
        await log.close()
        await database.drop()
        #expect(problems.isEmpty)
        #expect(checks > 3)
        #expect(final.isIntact && final.eventsChecked == 600)
    }

    @Test("a follower waiting for the log to grow wakes on the writer's notification, and without one by polling")
    func followersWake() async throws {
        let database = try await TestDatabase.make()
        let writer = try await PostgresEventLog.open(database.location, asWriter: true)
        let follower = try await PostgresEventLog.open(database.location)
        // Nothing comes: the wait ends at its timeout with the head as it is.
        let idle = try await follower.seq(after: 0, timeout: .milliseconds(300))
        // A poll of a minute: only the notification can end this wait in seconds.
        let clock = ContinuousClock()
        let started = clock.now
        let waiting = Task { try await follower.seq(after: 0, timeout: .seconds(120), poll: .seconds(60)) }
        try await Task.sleep(for: .milliseconds(500))
        _ = try await writer.append(AppendRequest(stream: "org_a", expectedVersion: .any, events: [event()]))
        let woken = try await waiting.value
        let notified = clock.now - started
        // A writer that sends no notification (as on a server without NOTIFY): the poll alone.
        let quiet = try await PostgresEventLog.open(database.location, asWriter: true, notifies: false)
        let polling = Task { try await follower.seq(after: 1, timeout: .seconds(60), poll: .milliseconds(100)) }
        try await Task.sleep(for: .milliseconds(300))
        _ = try await quiet.append(AppendRequest(stream: "org_a", expectedVersion: .any, events: [event()]))
        let polled = try await polling.value
        await quiet.close()
        await writer.close()
        await follower.close()
        await database.drop()
        #expect(idle == 0)
        #expect(woken == 1)
        #expect(notified < .seconds(30), "woke after \(notified): the poll, not the notification")
        #expect(polled == 2)
    }

    @Test("store URLs: TCP or a socket folder; a password is never shown; what is not supported is refused")
    func storeURLs() throws {
        let tcp = try PostgresLocation(url: "postgres://ledger:s3cret@db.example:6543/orgs")
        #expect(tcp.configuration.host == "db.example" && tcp.configuration.port == 6543 && tcp.configuration.database == "orgs")
        #expect(tcp.configuration.password == "s3cret" && !tcp.description.contains("s3cret"))
        let socket = try PostgresLocation(url: "postgresql://ledger@localhost/orgs?host=/run/postgresql")
        #expect(socket.configuration.unixSocketPath == "/run/postgresql/.s.PGSQL.5432")
        for bad in ["postgress://u:s3cret@h/db", "postgres://u:s3cret@h/db?sslmode=require", "postgres://u:s3cret@h/db?password=s3cret",
                    "postgres://u@h/db?host=relative", "postgres://u:s3cret@h/", "postgres://:s3cret@h/db", "postgres://u@h:0/db", "http://u@h/db"] {
            do {
                _ = try PostgresLocation(url: bad)
                Issue.record("accepted \(bad)")
            } catch {
                #expect(!error.description.contains("s3cret"), "\(bad): \(error)")
            }
        }
    }

    @Test("verify names a changed event, a changed tree node, and a node too many")
    func verifyFindsTampering() async throws {
        let database = try await TestDatabase.make()
        let log = try await PostgresEventLog.open(database.location, asWriter: true)
        for i in 0..<20 { _ = try await log.append(AppendRequest(stream: "org_\(i % 2)", expectedVersion: .any, events: [event("t", ["i": .int(Int64(i))])])) }
        var reasons: [String] = []
        reasons.append(try log.verifyChain(progress: nil).problem?.reason ?? "intact")
        // Each later change is one verify meets earlier (events before the tree, a node before the count).
        for tampering in [
            "INSERT INTO orgledger_tree (position, hash) VALUES (1000, decode(repeat('07', 32), 'hex'))",
            "UPDATE orgledger_tree SET hash = decode(repeat('07', 32), 'hex') WHERE position = 5",
            "UPDATE orgledger_events SET stream = 'org_x' WHERE seq = 9",
            "UPDATE orgledger_events SET bytes = overlay(bytes placing '\\x20'::bytea from 3 for 1) WHERE seq = 7",
        ] {
            try await TestDatabase.run(tampering, on: database.location)
            reasons.append(try log.verifyChain(progress: nil).problem?.reason ?? "intact")
        }
        await log.close()
        await database.drop()
        #expect(reasons[0] == "intact")
        #expect(reasons[1].contains("past the log's"))
        #expect(reasons[2].contains("node 5 does not match"))
        #expect(reasons[3].contains("the stream index says org_x"))
        #expect(reasons[4].contains("do not match their hash"))
    }

    static func treeNodes(_ location: PostgresLocation) async throws -> [[UInt8]] {
        let connection = try await PostgresConnection.connect(configuration: location.configuration, id: 9, logger: Logger(label: "test"))
        let rows = try await connection.query("SELECT hash FROM orgledger_tree ORDER BY position", logger: Logger(label: "test")).collect()
        try await connection.close()
        return try rows.map { Array(try $0.decode(ByteBuffer.self).readableBytesView) }
    }

}
