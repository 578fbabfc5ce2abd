import EventLog
import Foundation
import LMDB
import LedgerCore
import LedgerLMDB
import Logging
import Synchronization

/// The changes of several transactions, in order.
private final class Collected: Sendable {
    private let changes = Mutex<[ChangeJournal.Change]>([])
    func append(_ more: [ChangeJournal.Change]) { changes.withLock { $0 += more } }
    var all: [ChangeJournal.Change] { changes.withLock { $0 } }
}

/// The offline commands on PostgreSQL (product spec §11): what they read is a copy of the database in
/// a data folder, and what `import` writes is a data folder sent to the database; the rest is the
/// LMDB backend's code, run on that folder.
extension PostgresLedger {
    /// Copies the database into a new temporary data folder; returns its path and its lock, which the
    /// caller holds while it reads the folder (no starting instance takes it for left behind), then
    /// removes the folder. Takes no role: the writer serving the database goes on writing.
    public static func copy(of location: PostgresLocation, logger: Logger = Logger(label: "orgledger.postgres")) throws -> (folder: String, lock: DataFolderLock) {
        try blocking {
            let ledger = try await open(location, instanceKeyPath: nil, takeOver: false, keepFolder: true, logger: logger)
            ledger.close()
            return (ledger.folder, ledger.folderLock)
        }
    }

    /// Derives every view again from the log, as `orgledger rebuild` does for a data folder, and
    /// replaces the database's views with them in one transaction (the personal-data store, idempotent
    /// answers and checkpoints are not views, and stay). Takes the writer's role for the while (the
    /// serving instances answer commands `503`, and one takes the role back once this lease lapses).
    /// Returns the head the views are at and how many rows were sent.
    public static func rebuild(_ location: PostgresLocation, progress: (@Sendable (UInt64) -> Void)? = nil, logger: Logger = Logger(label: "orgledger.postgres")) throws -> (seq: UInt64, rows: Int) {
        try blocking {
            let ledger = try await open(location, instanceKeyPath: nil, takeOver: false, checksViews: false, logger: logger)
            defer { ledger.close() }
            return try await ledger.rebuildViews(progress: progress)
        }
    }

    private func rebuildViews(progress: (@Sendable (UInt64) -> Void)?) async throws -> (seq: UInt64, rows: Int) {
        // The role first, then the events written before it was taken: nothing is written after.
        try await store.becomeWriter()
        let renewing = Task { [store] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                _ = try? await store.renewLease()
            }
        }
        defer { renewing.cancel() }
        try await catchUp()
        // The rebuild writes the working copy in several transactions; the database gets them as one.
        let collected = Collected()
        working.environment.setCommitHook { _, changes in collected.append(changes) }
        let (environment, tables) = (working.environment, working.tables)
        try await Self.onPool { try Replay.rebuild(environment: environment, tables: tables, progress: progress) }
        let head = try environment.read { txn in try tables.log.head(in: txn) }
        let written = Self.lastWrites(collected.all)
        _ = try await store.commit(ShippedBatch(fromSeq: head.seq, fromHash: head.hash.bytes, events: [], rows: written.rows, emptied: written.emptied))
        return (head.seq, written.rows.count)
    }

    /// Checks the database's log (`PostgresEventLog.verifyChain`): the first problem, if any, and how
    /// many events were checked. (Plain values: a `ChainReport` holds 32-byte-aligned hashes, which
    /// must not cross an async frame under swiftc 6.3.1.)
    public static func verifyLog(_ location: PostgresLocation, logger: Logger = Logger(label: "orgledger.postgres")) throws -> (problem: String?, events: UInt64) {
        let store = try blocking { try await PostgresEventLog.open(location, logger: logger) }
        defer { try? blocking { await store.close() } }
        let report = try store.verifyChain()
        return (report.problem?.description, report.eventsChecked)
    }

    /// Sends a data folder (a fresh import) to an empty database, in one transaction: its events and
    /// tree, and every other table as rows. Refused when the database holds a ledger already. Returns
    /// the head it sent.
    public static func publish(folder: String, to location: PostgresLocation, logger: Logger = Logger(label: "orgledger.postgres")) throws -> (seq: UInt64, hash: String) {
        let batch = try withExtendedLifetime(try Environment(path: folder)) { environment in
            let log = try LogTables(environment: environment)
            let main = try environment.openDatabase(nil, create: false)
            let names = try environment.read { txn in
                try txn.withCursor(on: main) { cursor in
                    var names: [String] = []
                    try cursor.forEach { entry in
                        names.append(String(decoding: entry.key, as: UTF8.self))
                        return true
                    }
                    return names
                }
            }
            let shipped = Set(names).subtracting(["events", "streams", "tree", "replica"]).sorted()
            let tables = try shipped.map { ($0, try environment.openDatabase($0, create: false)) }
            return try environment.read { txn in
                let head = try log.head(in: txn)
                var rows: [(table: String, key: [UInt8], value: [UInt8]?)] = []
                for (name, table) in tables {
                    try txn.withCursor(on: table) { cursor in
                        try cursor.forEach { entry in
                            rows.append((name, Array(entry.key), Array(entry.value)))
                            return true
                        }
                    }
                }
                return ShippedBatch(
                    fromSeq: 0, fromHash: ChainHash.genesis.bytes, events: try log.events(after: 0, limit: Int(head.seq), in: txn), rows: rows, emptied: [])
            }
        }
        return try blocking {
            let store = try await PostgresEventLog.open(location, logger: logger)
            do {
                guard try await onPool({ try store.head().seq }) == 0 else {
                    throw PostgresLedgerError("the database holds a ledger already: import only into an empty one")
                }
                try await store.becomeWriter()
                _ = try await store.commit(batch)
                await store.close()
            } catch {
                await store.close()
                throw error
            }
            let last = batch.events.last
            return (last?.seq ?? 0, last?.hash.hex ?? ChainHash.genesis.hex)
        }
    }
}
