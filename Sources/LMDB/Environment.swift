import CLMDB
import Glibc
import Synchronization

/// An LMDB environment: one data file (`data.mdb`) and its lock file in a folder, holding named databases.
///
/// Transactions are scoped to closures (`read`, `write`) so that a transaction can never outlive its
/// environment, cross an `await`, or be used after it ended. Values handed to a closure point into the
/// memory map and are valid only inside it; copy what you keep.
///
/// **Map growth.** The map starts at `Configuration.mapSize` and doubles whenever a write fails with
/// `MDB_MAP_FULL`; the write is then run again. lmdb.h on `mdb_env_set_mapsize`: "It may be called at later
/// times if no transactions are active in this process. Note that the library does not check for this
/// condition, the caller must ensure it explicitly." Every transaction therefore holds a shared lock for its
/// lifetime and a resize takes it exclusively. The same lock adopts a size grown by another process
/// (`MDB_MAP_RESIZED`). Consequence: a thread that holds a read transaction must not open a write
/// transaction itself (it would wait for its own read to end).
///
/// **Durability.** The environment is opened with LMDB's durable defaults: a committed write transaction
/// is on disk (`fsync`) before `commit` returns. `MDB_NOSYNC`, `MDB_NOMETASYNC` and `MDB_MAPASYNC` are never set.
public final class Environment: @unchecked Sendable {
    public struct Configuration: Sendable {
        /// The initial size of the memory map; it grows by doubling as data is written.
        public var mapSize: Int = 64 << 20
        /// The map never grows past this size; a write that needs more fails with `LMDBError.mapFull`.
        public var maximumMapSize: Int = 1 << 40
        /// How many named databases may be opened.
        public var maxDatabases: Int = 64
        /// How many read transactions may be open at once, across every process using the environment.
        public var maxReaders: Int = 510
        /// Open read-only: no write transaction can begin.
        public var readOnly: Bool = false
        /// File mode for the data and lock files.
        public var fileMode: mode_t = 0o600
        /// Whether write transactions record their changes (`journal`) for a commit hook to ship.
        public var recordsChanges: Bool = false

        public init(
            mapSize: Int = 64 << 20, maximumMapSize: Int = 1 << 40, maxDatabases: Int = 64,
            maxReaders: Int = 510, readOnly: Bool = false, fileMode: mode_t = 0o600, recordsChanges: Bool = false
        ) {
            self.recordsChanges = recordsChanges
            self.mapSize = mapSize
            self.maximumMapSize = maximumMapSize
            self.maxDatabases = maxDatabases
            self.maxReaders = maxReaders
            self.readOnly = readOnly
            self.fileMode = fileMode
        }
    }

    let handle: OpaquePointer
    public let path: String
    public let configuration: Configuration
    private let resizeLock = ReadWriteLock()
    /// The changes of the write transaction in progress (with `Configuration.recordsChanges`).
    public let journal: ChangeJournal?
    private let commitHook = Mutex<CommitHook?>(nil)
    private let opened = Mutex<[String: Database]>([:])

    /// Runs inside every write transaction (but those begun with `runsCommitHook: false`) after its
    /// body and before its commit, with the journal's changes: a throw aborts the transaction.
    public typealias CommitHook = @Sendable (borrowing WriteTransaction, [ChangeJournal.Change]) throws -> Void

    /// Opens (creating if needed) the environment in the folder `path`, which must exist.
    public init(path: String, configuration: Configuration = Configuration()) throws(LMDBError) {
        var env: OpaquePointer?
        try check(mdb_env_create(&env), "mdb_env_create")
        guard let env else { throw LMDBError(code: ENOMEM, operation: "mdb_env_create") }
        // lmdb.h on mdb_env_open: "If this function fails, mdb_env_close() must be called to discard the MDB_env handle."
        do {
            try check(mdb_env_set_maxdbs(env, MDB_dbi(configuration.maxDatabases)), "mdb_env_set_maxdbs")
            try check(mdb_env_set_maxreaders(env, UInt32(configuration.maxReaders)), "mdb_env_set_maxreaders")
            try check(mdb_env_set_mapsize(env, configuration.mapSize), "mdb_env_set_mapsize")
            // MDB_NOTLS: read transactions are tied to the transaction, not the thread, so Swift tasks that hop
            // threads between transactions never trip over a thread-local reader slot.
            var flags = UInt32(MDB_NOTLS)
            if configuration.readOnly { flags |= UInt32(MDB_RDONLY) }
            try check(mdb_env_open(env, path, flags, configuration.fileMode), "mdb_env_open(\(path))")
        } catch {
            mdb_env_close(env)
            throw error
        }
        self.handle = env
        self.path = path
        self.configuration = configuration
        self.journal = configuration.recordsChanges ? ChangeJournal() : nil
    }

    /// Sets (or with nil removes) the hook every write transaction runs before it commits.
    public func setCommitHook(_ hook: CommitHook?) {
        commitHook.withLock { $0 = hook }
    }

    /// A database this environment opened, by name.
    public func openedDatabase(named name: String) -> Database? {
        opened.withLock { $0[name] }
    }

    deinit {
        mdb_env_close(handle)
    }

    // MARK: Databases

    /// Opens a named database (or the unnamed main database for `nil`), creating it when `create` is set.
    public func openDatabase(_ name: String?, create: Bool = true) throws -> Database {
        let db = try (configuration.readOnly || !create)
            ? openExistingDatabase(name)
            : write(runsCommitHook: false) { txn in try txn.openDatabase(name, create: true) }
        if let name { opened.withLock { $0[name] = db } }
        return db
    }

    /// Opens an existing database in a read-only transaction that is then *committed*: lmdb.h on
    /// `mdb_dbi_open`, "If the transaction is aborted the handle will be closed automatically" — and
    /// `read` ends its transactions by aborting them.
    private func openExistingDatabase(_ name: String?) throws -> Database {
        try resizeLock.withReadLock {
            var raw: OpaquePointer?
            try check(mdb_txn_begin(handle, nil, UInt32(MDB_RDONLY), &raw), "mdb_txn_begin(read)")
            var dbi: MDB_dbi = 0
            let rc = name.map { mdb_dbi_open(raw, $0, 0, &dbi) } ?? mdb_dbi_open(raw, nil, 0, &dbi)
            guard rc == MDB_SUCCESS else {
                mdb_txn_abort(raw)
                throw LMDBError(code: rc, operation: "mdb_dbi_open(\(name ?? "main"))")
            }
            try check(mdb_txn_commit(raw), "mdb_txn_commit(read)")
            return Database(name: name, dbi: dbi)
        }
    }

    // MARK: Transactions

    /// Runs `body` in a read-only transaction: a consistent snapshot of the last committed state.
    public func read<R>(_ body: (borrowing ReadTransaction) throws -> R) throws -> R {
        while true {
            let outcome: R? = try resizeLock.withReadLock {
                var raw: OpaquePointer?
                let rc = mdb_txn_begin(handle, nil, UInt32(MDB_RDONLY), &raw)
                if rc == MDB_MAP_RESIZED { return nil }
                try check(rc, "mdb_txn_begin(read)")
                let txn = ReadTransaction(handle: raw!)
                return try body(txn)
            }
            if let outcome { return outcome }
            try adoptGrownMap()
        }
    }

    /// Runs `body` in a write transaction and commits it when `body` returns; aborts it when `body` throws.
    ///
    /// When the map is full, the transaction is aborted, the map is doubled and `body` runs again: it must
    /// have no effect outside the transaction. Only one write transaction runs at a time; others wait.
    public func write<R>(runsCommitHook: Bool = true, _ body: (borrowing WriteTransaction) throws -> R) throws -> R {
        while true {
            let size = mapSize
            do {
                return try resizeLock.withReadLock {
                    var raw: OpaquePointer?
                    try check(mdb_txn_begin(handle, nil, 0, &raw), "mdb_txn_begin(write)")
                    // LMDB lets one write transaction live at a time: the journal is this one's alone.
                    journal?.truncate(to: 0)
                    let txn = WriteTransaction(handle: raw!, journal: runsCommitHook ? journal : nil)
                    let result = try body(txn)
                    if runsCommitHook, let hook = commitHook.withLock({ $0 }) { try hook(txn, journal?.changes ?? []) }
                    try txn.commit()
                    return result
                }
            } catch LMDBError.mapFull {
                try growMap(from: size)
            } catch LMDBError.mapResized {
                try adoptGrownMap()
            }
        }
    }

    // MARK: Map size

    /// The current size of the memory map in bytes.
    public var mapSize: Int {
        var info = MDB_envinfo()
        mdb_env_info(handle, &info)
        return info.me_mapsize
    }

    /// Doubles the map, unless another thread already grew it past `failedSize`.
    /// Call with no transaction of this thread open.
    public func growMap(from failedSize: Int) throws {
        try resizeLock.withWriteLock { () throws(LMDBError) in
            let current = mapSize
            guard current <= failedSize else { return }
            guard current < configuration.maximumMapSize else {
                throw LMDBError(code: MDB_MAP_FULL, operation: "growMap: the map is at its maximum of \(configuration.maximumMapSize) bytes")
            }
            let next = min(max(current * 2, current + (1 << 20)), configuration.maximumMapSize)
            try check(mdb_env_set_mapsize(handle, next), "mdb_env_set_mapsize(\(next))")
        }
    }

    /// Adopts a map size that another process grew (answer to `MDB_MAP_RESIZED`).
    private func adoptGrownMap() throws {
        try resizeLock.withWriteLock { () throws(LMDBError) in
            try check(mdb_env_set_mapsize(handle, 0), "mdb_env_set_mapsize(0)")
        }
    }

    // MARK: Facts

    /// Facts about the environment: map size, last used page, last transaction id, readers.
    public func info() -> EnvironmentInfo {
        var info = MDB_envinfo()
        mdb_env_info(handle, &info)
        var stat = MDB_stat()
        mdb_env_stat(handle, &stat)
        return EnvironmentInfo(
            mapSize: info.me_mapsize, lastPage: Int(info.me_last_pgno), lastTransaction: Int(info.me_last_txnid),
            maxReaders: Int(info.me_maxreaders), readers: Int(info.me_numreaders), pageSize: Int(stat.ms_psize))
    }

}

public struct EnvironmentInfo: Sendable {
    public let mapSize: Int
    public let lastPage: Int
    public let lastTransaction: Int
    public let maxReaders: Int
    public let readers: Int
    public let pageSize: Int

    /// Bytes of the data file in use (pages up to the last used one).
    public var usedBytes: Int { (lastPage + 1) * pageSize }
}

extension Environment {
    /// The environment's open flags (`mdb_env_get_flags`).
    public var flags: UInt32 {
        var flags: UInt32 = 0
        mdb_env_get_flags(handle, &flags)
        return flags
    }
}
