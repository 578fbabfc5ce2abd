import EventLog
import Foundation
import LMDB
import Ledger
import LedgerCore
import LedgerLMDB
import Logging
import NIOPosix
import OrgDomain
import Synchronization

/// The ledger on PostgreSQL (product spec §11): PostgreSQL holds all of it — the log, the tree, and
/// every other table as rows (`PostgresSchema`) — and each instance answers from a working copy, an
/// LMDB folder of its own that holds the same tables, kept in step with the database.
///
/// Why a working copy: the command pipeline, the views and every read are the LMDB backend's, tested
/// once, and not written a second time in SQL; reads cost what they cost on LMDB (no round trip), on
/// every instance. The copy is never the truth: it is made fresh at each start from the database, and
/// nothing is committed to it that the database has not committed first.
///
/// - Writing: one instance writes (the fencing epoch of `PostgresEventLog`). Its batch runs in the
///   working copy's write transaction as on LMDB; before that transaction commits, its commit hook
///   (`ship`) sends the sealed events and the journal of rows written to PostgreSQL in one transaction
///   (`PostgresEventLog.commit`), which checks the epoch and that the batch was sealed on the database's
///   head. Only if that commits does the working copy commit; if it fails nothing is acknowledged.
/// - Following: the other instances answer reads and refuse commands (`LedgerError.notWriter`: `503`,
///   `Retry-After`). They wake on the writer's NOTIFY, or every second without it, and copy what is new
///   (`PostgresEventLog.changes`, one snapshot) into their working copy in one transaction.
/// - Taking over: a follower whose writer's lease has lapsed raises the epoch, catches up, and writes.
public final class PostgresLedger: Sendable {
    public let store: PostgresEventLog
    /// The working copy (a temporary folder, removed by `close`).
    public let working: LMDBLedger
    public let folder: String
    /// Whether `close` leaves the folder (an offline command's copy of the database).
    private let keepsFolder: Bool
    /// Held while the working copy lives: tells a later instance the folder is not left behind.
    let folderLock: DataFolderLock
    /// The working copy's own table: the revision of the database's rows it holds. Not shipped.
    private let replica: Database
    private let status = Mutex(Status())
    private let logger: Logger

    private struct Status {
        /// Whether this instance is the writer now.
        var writes = false
        /// Whether the working copy may be behind the database although this instance wrote last (a
        /// commit whose outcome is unknown, or a batch sealed on an old head): catch up before writing.
        var behind = false
        var closed = false
    }

    private static let revisionKey = Array("rev".utf8)
    /// Events copied per transaction of the working copy while catching up.
    static let pageSize = 10_000

    private init(store: PostgresEventLog, working: LMDBLedger, folder: String, folderLock: DataFolderLock, keepsFolder: Bool, replica: Database, logger: Logger) {
        self.folderLock = folderLock
        self.store = store
        self.working = working
        self.folder = folder
        self.keepsFolder = keepsFolder
        self.replica = replica
        self.logger = logger
    }

    /// Connects, makes the working copy, copies the database into it, and takes the writer's role if
    /// no writer holds it (with `takeOver`). `instanceKeyPath`: the instance key every instance of the
    /// ledger shares, made there when missing only while the database holds no event; nil for a copy
    /// that only reads what the database holds (verify, export), which gets a key of its own.
    /// `keepFolder`: the working copy stays after `close` (an offline command reads it, then removes it).
    public static func open(
        _ location: PostgresLocation, instanceKeyPath: String?, requestContextRetentionDays: Int? = 90, origin: String? = nil,
        afterCommit: (@Sendable (Int) -> Void)? = nil, takeOver: Bool = true, keepFolder: Bool = false, checksViews: Bool = true,
        logger: Logger = Logger(label: "orgledger.postgres")
    ) async throws -> PostgresLedger {
        let store = try await PostgresEventLog.open(location, logger: logger)
        do {
            let headSeq = try await onPool { try store.head().seq }
            if let instanceKeyPath, headSeq > 0, !FileManager.default.fileExists(atPath: instanceKeyPath) {
                throw PostgresLedgerError(
                    "\(instanceKeyPath) does not exist and the database holds a ledger: give every instance the instance key its first instance made")
            }
            let folder = try temporaryFolder()
            let working: LMDBLedger, folderLock: DataFolderLock
            do {
                folderLock = try DataFolderLock(folder: folder)
                working = try LMDBLedger(
                    path: folder, configuration: .init(recordsChanges: true), requestContextRetentionDays: requestContextRetentionDays, origin: origin,
                    instanceKeyPath: instanceKeyPath, afterCommit: afterCommit)
            } catch {
                try? FileManager.default.removeItem(atPath: folder)
                throw error
            }
            let replica = try working.environment.openDatabase("replica")
            // The log's tables go to PostgreSQL as the log; the replica table is this copy's own.
            working.environment.journal?.ignore([working.log.tables.events, working.log.tables.streams, working.log.tables.tree, replica])
            let ledger = PostgresLedger(
                store: store, working: working, folder: folder, folderLock: folderLock, keepsFolder: keepFolder, replica: replica, logger: logger)
            do {
                try await ledger.catchUp()
                if checksViews { try ledger.checkViews() }
                if let instanceKeyPath { try ledger.checkInstanceKey(instanceKeyPath) }
                working.environment.setCommitHook { [ledger] txn, changes in try ledger.ship(txn, changes) }
                if takeOver { try await ledger.takeOverIfLapsed() }
            } catch {
                ledger.close()
                throw error
            }
            return ledger
        } catch {
            await store.close()
            throw error
        }
    }

    /// Whether this instance writes now.
    public var isWriter: Bool { status.withLock { $0.writes } }

    public func close() {
        let wasClosed = status.withLock { status in
            defer { status.closed = true; status.writes = false }
            return status.closed
        }
        guard !wasClosed else { return }
        working.environment.setCommitHook(nil)
        working.close()
        if !keepsFolder { try? FileManager.default.removeItem(atPath: folder) }
        let store = store
        Task { await store.close() }
    }

    // MARK: Writing

    /// The commit hook of the working copy: sends the transaction's events and rows to PostgreSQL, and
    /// records the revision that made in the working copy. A transaction that changed nothing sends
    /// nothing. Runs on the thread that commits (the group-commit writer's, or a pool thread), which
    /// it holds until PostgreSQL answers.
    private func ship(_ txn: borrowing WriteTransaction, _ changes: [ChangeJournal.Change]) throws {
        let log = working.log.tables
        // What the working copy held before this transaction: what the database must still hold.
        let from = try working.environment.read { txn in try log.head(in: txn) }
        let head = try log.head(in: txn)
        let events = head.seq > from.seq ? try log.events(after: from.seq, limit: Int(head.seq - from.seq), in: txn) : []
        let written = Self.lastWrites(changes)
        let batch = ShippedBatch(fromSeq: from.seq, fromHash: from.hash.bytes, events: events, rows: written.rows, emptied: written.emptied)
        guard !batch.isEmpty else { return }
        guard status.withLock({ $0.writes }) else { throw LedgerError(.notWriter, "this instance is not the writer") }
        let revision: Int64
        do {
            revision = try Self.blocking { [store] in try await store.commit(batch) }
        } catch let error as FencedWriter {
            status.withLock { $0.writes = false }
            logger.warning("another instance writes now; following it", metadata: ["reason": "\(error)"])
            throw LedgerError(.notWriter, error.description, cause: error)
        } catch let error as StaleWorkingCopy {
            status.withLock { $0.behind = true }
            throw LedgerError(.io, error.description, cause: error)
        } catch {
            // Committed or not, nobody can say (the connection dropped at COMMIT): the working copy
            // catches up from the database before the next batch, which then holds it or not.
            status.withLock { $0.behind = true }
            throw LedgerError(.io, "the database did not confirm the commit: \(error)", cause: error)
        }
        try txn.put(in: replica, key: Self.revisionKey, value: Keys.be64(UInt64(revision)))
    }

    /// The journal reduced to what the database needs: each row's last value (nil: deleted), and the
    /// tables emptied (their earlier rows dropped: only what was written after the emptying counts).
    static func lastWrites(_ changes: [ChangeJournal.Change]) -> (rows: [(table: String, key: [UInt8], value: [UInt8]?)], emptied: [String]) {
        var last: [String: [[UInt8]: [UInt8]?]] = [:]
        var emptied: [String] = []
        for change in changes {
            switch change {
            case .put(let table, let key, let value): last[table, default: [:]][key] = .some(value)
            case .delete(let table, let key): last[table, default: [:]][key] = .some(nil)
            case .empty(let table):
                last[table] = nil
                if !emptied.contains(table) { emptied.append(table) }
            }
        }
        var rows: [(table: String, key: [UInt8], value: [UInt8]?)] = []
        for (table, keys) in last.sorted(by: { $0.key < $1.key }) {
            for (key, value) in keys.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) { rows.append((table, key, value)) }
        }
        return (rows, emptied)
    }

    // MARK: Following

    /// Copies what the database holds past the working copy into it, page by page, until it holds the
    /// head the last page saw.
    func catchUp() async throws {
        while true {
            let done = try await Self.onPool { [self] in
                let (seq, revision) = try working.environment.read { txn in
                    (try working.log.tables.head(in: txn).seq, try txn.withValue(in: replica, forKey: Self.revisionKey) { Keys.readBE64($0) } ?? 0)
                }
                let changes = try store.changes(afterSeq: seq, afterRev: Int64(revision), limit: Self.pageSize)
                try apply(changes)
                return changes.complete
            }
            if done { break }
        }
        status.withLock { $0.behind = false }
    }

    /// Writes a page of the database's changes into the working copy, in one transaction that ships
    /// nothing: the events (each checked to extend the chain), and with the last page the rows and
    /// the revision.
    private func apply(_ changes: PulledChanges) throws {
        let environment = working.environment, log = working.log.tables
        try environment.write(runsCommitHook: false) { txn in
            var head = try log.head(in: txn)
            for (hashBytes, bytes) in changes.events {
                let hash = hashBytes.withUnsafeBytes { ChainHash(bytes: $0) }
                let header = try bytes.withUnsafeBytes { try EnvelopeHeader.read($0) }
                guard hashBytes.count == 32, bytes.withUnsafeBytes({ ChainHash.of($0) }) == hash, header.seq == head.seq + 1, header.prevHash == head.hash else {
                    throw LedgerError(.corrupt, "the database's event at seq \(head.seq + 1) does not extend the chain the working copy holds")
                }
                let envelope = try bytes.withUnsafeBytes { try EventEnvelope.decode($0).envelope }
                try log.write(RecordedEvent(envelope: envelope, hash: hash, canonicalBytes: bytes), in: txn)
                head = LogHead(seq: header.seq, hash: hash)
            }
            guard changes.complete else { return }
            guard head.seq == changes.headSeq, head.hash.bytes == changes.headHash else {
                throw LedgerError(.corrupt, "the database's head (seq \(changes.headSeq)) is not the chain the working copy holds (seq \(head.seq))")
            }
            for row in changes.rows {
                guard let table = environment.openedDatabase(named: row.table) else {
                    throw LedgerError(.corrupt, "the database holds rows of a table this version does not know: \(row.table)")
                }
                if let value = row.value { try txn.put(in: table, key: row.key, value: value) } else { try txn.delete(in: table, key: row.key) }
            }
            try txn.put(in: replica, key: Self.revisionKey, value: Keys.be64(UInt64(changes.rev)))
        }
    }

    /// The views must be of this version's format and at the log's head (the writer updates both in
    /// one transaction); a database written by another version waits for `rebuild --store`.
    private func checkViews() throws {
        let tables = working.tables
        let (format, lastSeq, head) = try working.environment.read { txn in
            (try tables.storedFormatVersion(in: txn), try tables.lastAppliedSeq(in: txn), try tables.log.head(in: txn).seq)
        }
        guard head == 0 || (format == ProjectionTables.formatVersion && lastSeq == head) else {
            throw PostgresLedgerError(
                "the database's views are "
                    + (format == ProjectionTables.formatVersion ? "at seq \(lastSeq), its log at seq \(head)" : "of format \(format.map(String.init) ?? "none"), this version's is \(ProjectionTables.formatVersion)")
                    + ": run orgledger rebuild --store on it first")
        }
    }

    /// The key must be the one the ledger's checkpoints were signed with: with another, every lookup by
    /// email would miss (each returning person a new user) and this instance would sign a second
    /// history. (A ledger with no checkpoint yet is a few hundred milliseconds old: nothing to compare.)
    private func checkInstanceKey(_ path: String) throws {
        let log = working.log.tables
        guard let latest = try working.environment.read({ txn in try log.latestCheckpoint(in: txn) }) else { return }
        do {
            _ = try SignedNote.Verifier(working.checkpointVerifierKey).verify(latest.note)
        } catch {
            throw PostgresLedgerError(
                "the database's checkpoints were not signed with \(path) (or under this --origin): every instance of one ledger needs the key and the origin its first instance had")
        }
    }

    /// Takes the writer's role if its lease has lapsed (or nobody held it), then catches up.
    private func takeOverIfLapsed() async throws {
        guard try await store.takeOverIfLapsed() != nil else { return }
        try await catchUp()
        status.withLock { $0.writes = !$0.closed }
        // The views' format goes to the database with the first writer (the working copy set it before
        // it shipped anything): an instance of a later version then finds it, and asks for a rebuild.
        let (environment, tables) = (working.environment, working.tables)
        try await Self.onPool { try environment.write { txn in try tables.setFormatVersion(in: txn) } }
        logger.notice("this instance writes now")
    }

    /// Follows the writer, or renews this writer's lease; takes over when the writer's lease lapses.
    /// When cancelled (the service stops) a writer gives its role up at once, so that a standby, or
    /// this instance started again, need not wait for the lease to run out.
    public func maintain() async {
        while !Task.isCancelled, !status.withLock({ $0.closed }) {
            do {
                let (writes, behind) = status.withLock { ($0.writes, $0.behind) }
                if behind { try await catchUp() }
                if writes {
                    if try await !store.renewLease() {
                        status.withLock { $0.writes = false }
                        logger.warning("another instance writes now; following it")
                    }
                    try await Task.sleep(for: .seconds(1))
                } else {
                    let seq = try working.environment.read { txn in try working.log.tables.head(in: txn).seq }
                    _ = try await store.seq(after: seq, timeout: .seconds(1))
                    try await catchUp()
                    try await takeOverIfLapsed()
                }
            } catch is CancellationError {
                break
            } catch {
                logger.error("following the database failed; trying again", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
            }
        }
        let wrote = status.withLock { status in
            defer { status.writes = false }
            return status.writes
        }
        if wrote {
            // A task of its own: this one is cancelled, and the release must still reach the database.
            let store = store
            await Task { await store.releaseLease() }.value
        }
    }

    // MARK: Helpers

    /// Runs blocking work (LMDB transactions, the log's synchronous reads) on NIO's thread pool, never
    /// on Swift's cooperative threads.
    static func onPool<R: Sendable>(_ body: @escaping @Sendable () throws -> R) async throws -> R {
        try await NIOThreadPool.singleton.runIfActive(body)
    }

    /// Waits for async work from a thread that may block (the writer's, a pool thread).
    static func blocking<R: Sendable>(_ body: @escaping @Sendable () async throws -> R) throws -> R {
        let result = Mutex<Result<R, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            let outcome: Result<R, any Error>
            do { outcome = .success(try await body()) } catch { outcome = .failure(error) }
            result.withLock { $0 = outcome }
            done.signal()
        }
        done.wait()
        return try result.withLock { $0! }.get()
    }

    static let workingPrefix = "orgledger-working-"

    /// A new working folder (0700) in the temporary directory. First removes the ones their instances
    /// left behind when killed: a working copy holds personal values, and must not outlive its instance.
    /// A folder's instance holds its lock (`DataFolderLock`) while it lives, so a folder whose lock this
    /// process can take is nobody's.
    private static func temporaryFolder() throws -> String {
        let directory = NSTemporaryDirectory()
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where name.hasPrefix(workingPrefix) {
            let path = directory + "/" + name
            // No lock file yet: a folder being made this very moment.
            guard FileManager.default.fileExists(atPath: path + "/orgledger.lock"), let lock = try? DataFolderLock(folder: path) else { continue }
            try? FileManager.default.removeItem(atPath: path)
            withExtendedLifetime(lock) {}
        }
        var template = Array((directory + "/" + workingPrefix + "XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw PostgresLedgerError("cannot make a working folder: \(String(cString: strerror(errno)))") }
        return String(cString: made)
    }
}
