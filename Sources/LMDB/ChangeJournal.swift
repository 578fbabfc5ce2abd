import CLMDB
import Synchronization

/// What a write transaction changed, table by table, for an environment that is a working copy of
/// another store (the PostgreSQL ledger ships each transaction's changes before committing it).
///
/// Changes are kept in order per transaction: a nested transaction that is aborted takes its own
/// changes back with it, and a map that grows and runs the transaction again starts a fresh journal.
/// Tables named in `ignoring` are not recorded (the log's tables, shipped as the log itself).
public final class ChangeJournal: Sendable {
    public enum Change: Sendable {
        case put(table: String, key: [UInt8], value: [UInt8])
        case delete(table: String, key: [UInt8])
        /// Every entry of the table removed (`WriteTransaction.empty`).
        case empty(table: String)
    }

    private struct State {
        var changes: [Change] = []
        var ignored: Set<MDB_dbi> = []
    }

    private let state = Mutex(State())

    public init() {}

    /// Stops recording changes to `databases`.
    public func ignore(_ databases: [Database]) {
        state.withLock { $0.ignored.formUnion(databases.map(\.dbi)) }
    }

    /// The changes of the transaction in progress, in order.
    public var changes: [Change] { state.withLock { $0.changes } }

    var count: Int { state.withLock { $0.changes.count } }

    func record(_ db: Database, _ change: @autoclosure () -> Change) {
        state.withLock { state in
            guard !state.ignored.contains(db.dbi) else { return }
            state.changes.append(change())
        }
    }

    /// Forgets the changes after the first `count` (a nested transaction aborted, or a new transaction).
    func truncate(to count: Int) {
        state.withLock { state in
            if state.changes.count > count { state.changes.removeSubrange(count...) }
        }
    }
}
