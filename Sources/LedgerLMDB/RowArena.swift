#if canImport(Glibc)
import Glibc
#endif
import Ledger

/// View rows in one growing byte buffer, listed per table, sorted by key without moving any bytes.
///
/// Rebuild renders each fold thread's orgs (and their audit entries) into that thread's arena and sorts
/// it there; the arenas are then written merged, table by table in key order, with `MDB_APPEND`. Verify
/// walks the same merge against the stored tables. Against a `[Row]` of a million rows this saves two
/// heap blocks per row and all reference counting while sorting. One thread fills and sorts an arena;
/// another reads a table's list only once the owner is done with that list and done adding rows (so
/// the buffer no longer moves): `Fold` orders this with dispatch groups — hence `@unchecked Sendable`.
final class RowArena: RowSink, @unchecked Sendable {
    struct Entry {
        var start: Int
        var keyCount: UInt32
        var valueCount: UInt32
    }

    private var base: UnsafeMutableRawPointer
    private var used = 0
    private var capacity: Int
    private var scratch: [UInt8] = []
    /// One list per table, each an object of its own: another thread may read a finished table's list
    /// while the owner still sorts a different one.
    private final class EntryList {
        var items: [Entry] = []
    }

    private let lists: [EntryList] = ProjectionTables.Table.allCases.map { _ in EntryList() }

    func entries(_ table: ProjectionTables.Table) -> [Entry] { lists[table.order].items }

    init(capacity: Int = 1 << 20) {
        self.capacity = max(capacity, 4096)
        guard let base = malloc(self.capacity) else { fatalError("RowArena: out of memory (\(capacity) bytes)") }
        self.base = base
        scratch.reserveCapacity(1024)
    }

    deinit { free(base) }

    func add(_ table: ProjectionTables.Table, key: (inout [UInt8]) -> Void, value: (inout [UInt8]) -> Void) {
        lists[table.order].items.append(store(key: key, value: value))
    }

    /// Makes room for `count` rows of `table` that `add(_:at:key:value:)` will place by index.
    func reserveSlots(_ table: ProjectionTables.Table, count: Int) {
        lists[table.order].items = Array(repeating: Entry(start: 0, keyCount: 0, valueCount: 0), count: count)
    }

    /// Writes a row into a reserved slot: rows whose final order is known before they are rendered
    /// (the audit entries of a rebuild) need no sorting.
    func add(_ table: ProjectionTables.Table, at slot: Int, key: (inout [UInt8]) -> Void, value: (inout [UInt8]) -> Void) {
        lists[table.order].items[slot] = store(key: key, value: value)
    }

    /// Renders a row into the buffer (through a reused scratch array, which the writers need).
    private func store(key: (inout [UInt8]) -> Void, value: (inout [UInt8]) -> Void) -> Entry {
        scratch.removeAll(keepingCapacity: true)
        key(&scratch)
        let keyCount = scratch.count
        value(&scratch)
        let count = scratch.count
        if used + count > capacity {
            capacity = max(capacity * 2, used + count)
            guard let grown = realloc(base, capacity) else { fatalError("RowArena: out of memory (\(capacity) bytes)") }
            base = grown
        }
        scratch.withUnsafeBytes { (base + used).copyMemory(from: $0.baseAddress!, byteCount: count) }
        defer { used += count }
        return Entry(start: used, keyCount: UInt32(keyCount), valueCount: UInt32(count - keyCount))
    }

    func key(_ e: Entry) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + e.start, count: Int(e.keyCount))
    }

    func value(_ e: Entry) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + e.start + Int(e.keyCount), count: Int(e.valueCount))
    }

    /// Sorts every table's entries (but those in `presorted`) by key bytes (LMDB's default order); of
    /// equal handle keys only the one `forEachMerged` would choose is kept.
    func sort(except presorted: Set<ProjectionTables.Table> = []) {
        for table in ProjectionTables.Table.allCases where !presorted.contains(table) {
            sort(table, from: 0)
        }
        let handles = ProjectionTables.Table.handles.order
        var kept: [Entry] = []
        for entry in lists[handles].items {
            if let last = kept.last, RowArena.compare(key(last), key(entry)) == 0 {
                if !Render.isCurrentHandleRow(value(last)) { kept[kept.count - 1] = entry }
            } else {
                kept.append(entry)
            }
        }
        lists[handles].items = kept
    }

    /// Sorts the entries of `table` from index `start` on (those added since a `count(of:)`).
    /// `sharedPrefix` bytes that every key being sorted starts with (an org's id and its 0) are skipped.
    func sort(_ table: ProjectionTables.Table, from start: Int, sharedPrefix: Int = 0) {
        let base = UnsafeRawPointer(self.base)
        lists[table.order].items[start...].sort { a, b in
            RowArena.compare(
                base + a.start + sharedPrefix, Int(a.keyCount) - sharedPrefix, base + b.start + sharedPrefix, Int(b.keyCount) - sharedPrefix) < 0
        }
    }

    func count(of table: ProjectionTables.Table) -> Int { lists[table.order].items.count }

    /// Byte order, as `memcmp` then length; the first eight bytes compared inline as one big-endian
    /// word (most keys differ there, and sorting a million rows makes the call overhead count).
    @inline(__always)
    static func compare(_ a: UnsafeRawPointer, _ aCount: Int, _ b: UnsafeRawPointer, _ bCount: Int) -> Int32 {
        if aCount >= 8, bCount >= 8 {
            let x = UInt64(bigEndian: a.loadUnaligned(as: UInt64.self)), y = UInt64(bigEndian: b.loadUnaligned(as: UInt64.self))
            if x != y { return x < y ? -1 : 1 }
            let c = memcmp(a + 8, b + 8, min(aCount, bCount) - 8)
            return c != 0 ? c : (aCount < bCount ? -1 : (aCount > bCount ? 1 : 0))
        }
        let c = memcmp(a, b, min(aCount, bCount))
        return c != 0 ? c : (aCount < bCount ? -1 : (aCount > bCount ? 1 : 0))
    }

    static func compare(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int32 {
        compare(a.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, a.count, b.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, b.count)
    }

    /// One table's rows of sorted arenas merged in key order: what the table holds after a rebuild.
    /// Two orgs may render the same handle — one as its current handle, the other as a hold that ended
    /// before its release was logged; the current one wins, as in the projector. `body` returns false
    /// to stop.
    static func forEachMerged(
        _ arenas: [RowArena], in table: ProjectionTables.Table,
        _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool
    ) rethrows {
        let lists = arenas.map { $0.entries(table) }
        // Tables keyed by org come out of the fold threads in disjoint, ordered key ranges: each
        // arena's rows follow the previous one's, so no comparisons are needed.
        let nonEmpty = arenas.indices.filter { !lists[$0].isEmpty }
        if zip(nonEmpty, nonEmpty.dropFirst()).allSatisfy({ a, b in compare(arenas[a].key(lists[a].last!), arenas[b].key(lists[b].first!)) < 0 }) {
            for i in nonEmpty {
                for entry in lists[i] {
                    guard try body(arenas[i].key(entry), arenas[i].value(entry)) else { return }
                }
            }
            return
        }
        var next = [Int](repeating: 0, count: arenas.count)
        while true {
            // The arena whose next key is smallest; of equal handle keys, the current handle.
            var pick = -1
            var pickKey = UnsafeRawBufferPointer(start: nil, count: 0)
            for (i, arena) in arenas.enumerated() where next[i] < lists[i].count {
                let key = arena.key(lists[i][next[i]])
                if pick < 0 { pick = i; pickKey = key; continue }
                let c = compare(key, pickKey)
                if c < 0 {
                    pick = i; pickKey = key
                } else if c == 0, table == .handles {
                    if Render.isCurrentHandleRow(arenas[pick].value(lists[pick][next[pick]])) {
                        next[i] += 1  // this row loses to a current handle
                    } else {
                        next[pick] += 1  // a hold loses to this row
                        pick = i; pickKey = key
                    }
                }
            }
            guard pick >= 0 else { return }
            let entry = lists[pick][next[pick]]
            next[pick] += 1
            guard try body(pickKey, arenas[pick].value(entry)) else { return }
        }
    }
}
