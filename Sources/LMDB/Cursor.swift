import CLMDB

/// A position in one database, open for the duration of a `withCursor` closure.
///
/// Every move returns the entry it lands on, or nil at either end. Errors are thrown, never mistaken for the
/// end of the data. The bytes point into the memory map and are valid until the next write in the
/// transaction, or its end.
public struct Cursor: ~Copyable {
    public typealias Entry = (key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)

    let handle: OpaquePointer
    let database: Database
    let journal: ChangeJournal?

    init(handle: OpaquePointer, database: Database, journal: ChangeJournal?) {
        self.handle = handle
        self.database = database
        self.journal = journal
    }

    deinit { mdb_cursor_close(handle) }

    public func first() throws -> Entry? { try move(MDB_FIRST) }
    public func last() throws -> Entry? { try move(MDB_LAST) }
    public func next() throws -> Entry? { try move(MDB_NEXT) }
    public func previous() throws -> Entry? { try move(MDB_PREV) }
    public func current() throws -> Entry? { try move(MDB_GET_CURRENT) }

    /// Moves to the first entry whose key is at least `key` (`MDB_SET_RANGE`).
    public func seek(atLeast key: some ContiguousKey) throws -> Entry? {
        try key.withKeyBytes { try move(MDB_SET_RANGE, key: $0) }
    }

    /// Moves to the entry whose key is exactly `key` (`MDB_SET_KEY`).
    public func seek(exactly key: some ContiguousKey) throws -> Entry? {
        try key.withKeyBytes { try move(MDB_SET_KEY, key: $0) }
    }

    /// Calls `body` for each entry from the cursor's next position onwards (or from the first entry when
    /// `start` is nil, or from the first key at least `start`), until `body` returns false or the data ends.
    public func forEach(
        from start: (some ContiguousKey)? = [UInt8]?.none, _ body: (Entry) throws -> Bool
    ) throws {
        var entry = try start.map { try seek(atLeast: $0) } ?? first()
        while let current = entry {
            guard try body(current) else { return }
            entry = try next()
        }
    }

    /// Stores `value` under `key` through the cursor (`mdb_cursor_put`), which is left on the new entry.
    /// Only in a write transaction (LMDB refuses with `EACCES` otherwise). With `.append` over sorted
    /// keys this is a bulk load: the cursor stays at the end of the tree instead of each put searching
    /// it from the root, as `WriteTransaction.put` (`mdb_put`) does.
    public func put(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, flags: PutFlags = []) throws {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        let rc = mdb_cursor_put(handle, &k, &v, flags.rawValue)
        if rc != MDB_SUCCESS { try check(rc, "mdb_cursor_put(\(database.name ?? "main"))") }
        journal?.record(database, .put(table: database.name ?? "", key: Array(key), value: Array(value)))
    }

    private func move(_ op: MDB_cursor_op, key: UnsafeRawBufferPointer? = nil) throws -> Entry? {
        var k = MDB_val(mv_size: key?.count ?? 0, mv_data: UnsafeMutableRawPointer(mutating: key?.baseAddress))
        var v = MDB_val()
        let rc = mdb_cursor_get(handle, &k, &v, op)
        if rc == MDB_NOTFOUND { return nil }
        try check(rc, "mdb_cursor_get(\(database.name ?? "main"), op \(op.rawValue))")
        return (UnsafeRawBufferPointer(start: k.mv_data, count: k.mv_size),
                UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size))
    }
}
