import CLMDB

/// What every transaction can do: read values and walk cursors.
///
/// Bytes handed to a closure point into LMDB's memory map. lmdb.h: "Values returned from the database are
/// valid only until a subsequent update operation, or the end of the transaction." Copy what you keep.
public protocol TransactionReading: ~Copyable {
    var rawHandle: OpaquePointer { get }
    /// Whether everything this transaction reads was committed: true for a read-only snapshot, false for
    /// a write in progress (which reads its own writes, and may yet be aborted).
    var readsOnlyCommitted: Bool { get }
    /// Where a write records its changes (nil: not recorded, and always for a read).
    var journal: ChangeJournal? { get }
}

/// A read-only snapshot. It ends (aborts, the only way to end a read transaction) when it goes out of scope.
public struct ReadTransaction: ~Copyable, TransactionReading {
    public let rawHandle: OpaquePointer
    public var readsOnlyCommitted: Bool { true }
    public var journal: ChangeJournal? { nil }

    init(handle: OpaquePointer) { self.rawHandle = handle }

    deinit { mdb_txn_abort(rawHandle) }
}

/// A write transaction. `Environment.write` commits it when its closure returns; otherwise it is aborted.
///
/// `commit` consumes the transaction: lmdb.h says a transaction handle is freed by `mdb_txn_commit` whether
/// or not it succeeds, so "commit failed, now abort it" must not compile.
public struct WriteTransaction: ~Copyable, TransactionReading {
    public let rawHandle: OpaquePointer
    public var readsOnlyCommitted: Bool { false }
    /// The environment's journal, unretained: `commit` may only `discard` a transaction whose stored
    /// properties are trivial, and the environment, which owns the journal, outlives its transactions.
    private let journalReference: Unmanaged<ChangeJournal>?
    /// How many changes the journal held when this transaction began: aborting it forgets the rest.
    private let journalMark: Int

    public var journal: ChangeJournal? { journalReference?.takeUnretainedValue() }

    init(handle: OpaquePointer, journal: ChangeJournal?) {
        self.rawHandle = handle
        self.journalReference = journal.map { Unmanaged.passUnretained($0) }
        self.journalMark = journal?.count ?? 0
    }

    consuming func commit() throws(LMDBError) {
        let handle = rawHandle
        discard self
        try check(mdb_txn_commit(handle), "mdb_txn_commit")
    }

    deinit {
        mdb_txn_abort(rawHandle)
        journal?.truncate(to: journalMark)
    }

    /// Begins a nested (child) transaction. lmdb.h on `mdb_txn_begin`: "Transactions may be nested to any
    /// level. A parent transaction and its cursors may not issue any other operations than
    /// mdb_txn_commit and mdb_txn_abort while it has active child transactions." So while the child
    /// lives, use only the child. Committing it joins its writes to this transaction; dropping it
    /// (a throw) aborts it, and this transaction is as it was before.
    public func child() throws(LMDBError) -> WriteTransaction {
        var raw: OpaquePointer?
        try check(mdb_txn_begin(mdb_txn_env(rawHandle), rawHandle, 0, &raw), "mdb_txn_begin(nested)")
        return WriteTransaction(handle: raw!, journal: journal)
    }

    /// Commits a child transaction (from `child()`) into its parent; the parent is usable again.
    public consuming func commitChild() throws(LMDBError) {
        try commit()
    }
}

extension TransactionReading where Self: ~Copyable {
    /// Opens a database handle inside this transaction (see `Environment.openDatabase`).
    func openDatabase(_ name: String?, create: Bool) throws(LMDBError) -> Database {
        var dbi: MDB_dbi = 0
        let flags = create ? UInt32(MDB_CREATE) : 0
        let rc: Int32
        if let name {
            rc = mdb_dbi_open(rawHandle, name, flags, &dbi)
        } else {
            rc = mdb_dbi_open(rawHandle, nil, flags, &dbi)
        }
        try check(rc, "mdb_dbi_open(\(name ?? "main"))")
        return Database(name: name, dbi: dbi)
    }

    /// Calls `body` with the value stored under `key`, or returns nil when there is none.
    public func withValue<R>(
        in db: Database, forKey key: some ContiguousKey, _ body: (UnsafeRawBufferPointer) throws -> R
    ) throws -> R? {
        var value = MDB_val()
        let rc = key.withKeyBytes { keyBytes in
            var k = MDB_val(mv_size: keyBytes.count, mv_data: UnsafeMutableRawPointer(mutating: keyBytes.baseAddress))
            return mdb_get(rawHandle, db.dbi, &k, &value)
        }
        if rc == MDB_NOTFOUND { return nil }
        try check(rc, "mdb_get(\(db.name ?? "main"))")
        return try body(UnsafeRawBufferPointer(start: value.mv_data, count: value.mv_size))
    }

    /// The value stored under `key`, copied out, or nil.
    public func value(in db: Database, forKey key: some ContiguousKey) throws -> [UInt8]? {
        try withValue(in: db, forKey: key) { Array($0) }
    }

    /// Opens a cursor on `db` for the duration of `body`.
    public func withCursor<R>(on db: Database, _ body: (borrowing Cursor) throws -> R) throws -> R {
        var raw: OpaquePointer?
        try check(mdb_cursor_open(rawHandle, db.dbi, &raw), "mdb_cursor_open(\(db.name ?? "main"))")
        let cursor = Cursor(handle: raw!, database: db, journal: journal)
        return try body(cursor)
    }

    /// Entry count and page figures of `db` as this transaction sees it.
    public func statistics(of db: Database) throws -> DatabaseStatistics {
        var stat = MDB_stat()
        try check(mdb_stat(rawHandle, db.dbi, &stat), "mdb_stat(\(db.name ?? "main"))")
        return DatabaseStatistics(
            entries: stat.ms_entries, depth: Int(stat.ms_depth), branchPages: stat.ms_branch_pages,
            leafPages: stat.ms_leaf_pages, overflowPages: stat.ms_overflow_pages)
    }
}

extension WriteTransaction {
    /// Stores `value` under `key`.
    public func put(in db: Database, key: some ContiguousKey, value: some ContiguousKey, flags: PutFlags = []) throws {
        let rc = key.withKeyBytes { keyBytes in
            value.withKeyBytes { valueBytes in
                var k = MDB_val(mv_size: keyBytes.count, mv_data: UnsafeMutableRawPointer(mutating: keyBytes.baseAddress))
                var v = MDB_val(mv_size: valueBytes.count, mv_data: UnsafeMutableRawPointer(mutating: valueBytes.baseAddress))
                return mdb_put(rawHandle, db.dbi, &k, &v, flags.rawValue)
            }
        }
        try check(rc, "mdb_put(\(db.name ?? "main"))")
        if let journal { journal.record(db, .put(table: db.name ?? "", key: key.withKeyBytes { Array($0) }, value: value.withKeyBytes { Array($0) })) }
    }

    /// Reserves `count` bytes under `key` and lets `fill` write them in place (`MDB_RESERVE`): no extra copy.
    /// `fill` must write every byte.
    public func put(
        in db: Database, key: some ContiguousKey, reserving count: Int, flags: PutFlags = [],
        fill: (UnsafeMutableRawBufferPointer) throws -> Void
    ) throws {
        var v = MDB_val(mv_size: count, mv_data: nil)
        let rc = key.withKeyBytes { keyBytes in
            var k = MDB_val(mv_size: keyBytes.count, mv_data: UnsafeMutableRawPointer(mutating: keyBytes.baseAddress))
            return mdb_put(rawHandle, db.dbi, &k, &v, flags.rawValue | UInt32(MDB_RESERVE))
        }
        try check(rc, "mdb_put(\(db.name ?? "main"), reserve)")
        try fill(UnsafeMutableRawBufferPointer(start: v.mv_data, count: count))
        if let journal {
            journal.record(db, .put(table: db.name ?? "", key: key.withKeyBytes { Array($0) }, value: Array(UnsafeRawBufferPointer(start: v.mv_data, count: count))))
        }
    }

    /// Deletes `key`; returns false when it was not there.
    @discardableResult
    public func delete(in db: Database, key: some ContiguousKey) throws -> Bool {
        let rc = key.withKeyBytes { keyBytes in
            var k = MDB_val(mv_size: keyBytes.count, mv_data: UnsafeMutableRawPointer(mutating: keyBytes.baseAddress))
            return mdb_del(rawHandle, db.dbi, &k, nil)
        }
        if rc == MDB_NOTFOUND { return false }
        try check(rc, "mdb_del(\(db.name ?? "main"))")
        if let journal { journal.record(db, .delete(table: db.name ?? "", key: key.withKeyBytes { Array($0) })) }
        return true
    }

    /// Removes every entry of `db`, keeping the database itself (`mdb_drop` with `del = 0`).
    public func empty(_ db: Database) throws {
        try check(mdb_drop(rawHandle, db.dbi, 0), "mdb_drop(\(db.name ?? "main"))")
        journal?.record(db, .empty(table: db.name ?? ""))
    }
}

/// Bytes usable as an LMDB key or value without copying.
public protocol ContiguousKey {
    func withKeyBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R
}

extension Array: ContiguousKey where Element == UInt8 {
    public func withKeyBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBytes(body)
    }
}

extension ArraySlice: ContiguousKey where Element == UInt8 {
    public func withKeyBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBytes(body)
    }
}

extension UnsafeRawBufferPointer: ContiguousKey {
    public func withKeyBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(self)
    }
}

extension String: ContiguousKey {
    public func withKeyBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        var copy = self
        return try copy.withUTF8 { try body(UnsafeRawBufferPointer($0)) }
    }
}
