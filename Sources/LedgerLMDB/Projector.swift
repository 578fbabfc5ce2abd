import EventLog
import LMDB
import Ledger
import LedgerCore
import OrgDomain
import Synchronization

/// What an event changes in the views, as a pure function of the rows its parts render to before and
/// after it: the rows to delete (keys gone) and the rows to write (new or changed). Unchanged rows are
/// not written again.
public struct RowDiff: Sendable {
    public let deleted: [Row]
    public let written: [Row]

    public init(old: [Row], new: [Row]) {
        deleted = old.filter { row in !new.contains(where: { $0.table == row.table && $0.key == row.key }) }
        written = new.filter { !old.contains($0) }
    }
}

/// Applies events to the views inside a write transaction: the rows of the state parts each event
/// touches are rendered before and after, and the difference is written. Rebuild renders whole states
/// with the same `RowSet` functions, so both paths agree by construction; verify checks they do.
public struct Projector: Sendable {
    public let tables: ProjectionTables

    public init(tables: ProjectionTables) { self.tables = tables }

    /// The parts of the state an event touches (everything, for a purge).
    public static func parts(for event: OrgEvent, before: OrgState?) -> [RowSet.Part] {
        if case .purged = event, let before { return RowSet.allParts(before) }
        return RowSet.parts(touchedBy: event) + RowSet.keyParts(whoseStatusMayChange: event, in: before)
    }

    /// The rows those parts render to in `state`.
    public static func rows(_ parts: [RowSet.Part], of state: OrgState?) -> [Row] {
        parts.flatMap { RowSet.rows($0, of: state) }
    }

    /// Writes what an event changed: `old` are the rows of `parts` rendered before the event was
    /// applied, `after` the state after it. Also writes the event's audit entry and `last_seq`.
    /// `maxAt` is the latest event time of the stream so far, which a snapshot records.
    public func project(
        _ recorded: RecordedEvent, _ event: OrgEvent, parts: [RowSet.Part], old: [Row], after: OrgState?, maxAt: Timestamp,
        in txn: borrowing WriteTransaction
    ) throws {
        let envelope = recorded.envelope
        let change = RowDiff(old: old, new: Self.rows(parts, of: after))
        for row in change.deleted { try delete(row, orgID: envelope.stream, in: txn) }
        for row in change.written { try put(row, in: txn) }
        var snapshot = RowList()
        SnapshotRow.addIfDue(after, seq: envelope.seq, maxAt: maxAt, to: &snapshot)
        for row in snapshot.rows { try put(row, in: txn) }
        let audit = Render.auditEntry(at: envelope.at, actor: envelope.actor, action: envelope.type, target: Render.target(of: event, orgID: envelope.stream))
        try txn.put(in: tables[.audit], key: Keys.audit(envelope.stream, envelope.seq), value: audit)
        try tables.setMeta(lastSeq: envelope.seq, in: txn)
    }

    /// A hold row is new only when its org renames away from that handle — its own current handle
    /// until then — and unchanged rows are not written again, so a put never lands on another org's
    /// current handle. (A rebuild, which renders every row, resolves such pairs in `RowArena`.)
    private func put(_ row: Row, in txn: borrowing WriteTransaction) throws {
        try txn.put(in: tables[row.table], key: row.key, value: row.value)
    }

    private func delete(_ row: Row, orgID: String, in txn: borrowing WriteTransaction) throws {
        if row.table == .handles {
            // Another org may have claimed a handle whose hold ended before its release was logged.
            let owner = try txn.withValue(in: tables[.handles], forKey: row.key) { try JSONParser.parse(Array($0))["org_id"]?.stringValue }
            guard owner == orgID else { return }
        }
        try txn.delete(in: tables[row.table], key: row.key)
    }
}

/// The latest state of each org, kept in memory for the writer and checked against the log on use.
///
/// An entry is trusted only while the org's stream still holds the event it was computed after (same
/// hash at the same version), so a batch that was aborted and re-run can never leave a wrong state
/// behind. A miss folds the org's stream on from the last state a reader folded, when the stream
/// still holds it, else from the latest snapshot.
public final class StateCache: Sendable {
    /// The writer's states, each after its stream's last committed event; a batch takes a state out
    /// while it changes it in place.
    private let entries = Mutex<[String: Entry]>([:])
    /// The states misses folded, where the next miss starts. Readers miss whenever the writer holds an
    /// org's state or has moved its head past their snapshot; without a base each would fold from the
    /// latest snapshot, and snapshots of a large org are far apart (`Snapshots`: every 65,536 events at
    /// 10,000 members), so a busy org's every read folded most of its stream. Kept apart from `entries`
    /// so that the writer never changes in place a state a reader holds (which would copy it).
    let bases = Mutex<[String: Entry]>([:])
    private let capacity: Int

    struct Entry {
        let head: ChainHash
        let version: UInt64
        let state: OrgState
        /// The latest event time of the stream so far (what a snapshot records, see `Snapshots`).
        let maxAt: Timestamp
    }

    public init(capacity: Int = 10_000) { self.capacity = capacity }

    /// The last event of a stream as the writer needs it: its version and hash, and the latest event
    /// time of the stream so far.
    public struct StreamHead: Sendable {
        public let version: UInt64
        public let hash: ChainHash
        public let maxAt: Timestamp
    }

    /// An org's latest state (nil when it has no events), to read.
    public func state(of orgID: String, tables: ProjectionTables, in txn: borrowing some TransactionReading & ~Copyable) throws -> OrgState? {
        guard let head = try tables.log.streamHead(orgID, in: txn) else { return nil }
        if let cached = entries.withLock({ $0[orgID] }), cached.head == head.hash { return cached.state }
        return try foldOnFromBase(orgID, head: head, tables: tables, in: txn).state
    }

    /// The state of an org for the writer to change in place: it leaves the cache (so applying events to
    /// it copies nothing) until `remember` puts the new state back. Also returns the stream's head as
    /// read (nil for a new stream): the one lookup of it a command makes.
    public func take(_ orgID: String, tables: ProjectionTables, in txn: borrowing some TransactionReading & ~Copyable) throws -> (state: OrgState?, head: StreamHead?) {
        guard let head = try tables.log.streamHead(orgID, in: txn) else { return (nil, nil) }
        if let cached = entries.withLock({ $0.removeValue(forKey: orgID) }), cached.head == head.hash {
            return (cached.state, StreamHead(version: head.version, hash: head.hash, maxAt: cached.maxAt))
        }
        let folded = try foldOnFromBase(orgID, head: head, tables: tables, in: txn)
        return (folded.state, StreamHead(version: head.version, hash: head.hash, maxAt: folded.maxAt))
    }

    public func remember(_ orgID: String, head: StreamHead, state: OrgState?) {
        entries.withLock { entries in
            if entries[orgID] == nil, entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[orgID] = state.map { Entry(head: head.hash, version: head.version, state: $0, maxAt: head.maxAt) }
        }
    }

    /// Folds an org's stream up to `head` (its last event in `txn`), starting from the base a miss left
    /// when the stream still holds it (its version and hash), else from the latest snapshot. The result
    /// becomes the base, unless one as new is there, and only when `txn` reads committed events alone:
    /// the writer's transaction sees its batch's own events, which may yet be aborted, and the state it
    /// takes is the one it changes in place (sharing it with `bases` would copy it).
    private func foldOnFromBase(
        _ orgID: String, head: (version: UInt64, seq: UInt64, hash: ChainHash), tables: ProjectionTables, in txn: borrowing some TransactionReading & ~Copyable
    ) throws -> (state: OrgState?, maxAt: Timestamp) {
        var start: (state: OrgState?, maxAt: Timestamp, version: UInt64)?
        if let base = bases.withLock({ $0[orgID] }), base.version <= head.version,
            try tables.log.event(ofStream: orgID, version: base.version, in: txn)?.hash == base.head
        {
            if base.version == head.version { return (base.state, base.maxAt) }
            // A snapshot made since the base is the shorter way (when the writer's entries answered
            // every read for a long while, the base fell far behind).
            if try SnapshotRow.latestVersion(of: orgID, tables: tables, in: txn).map({ $0 <= base.version }) ?? true {
                start = (base.state, base.maxAt, base.version)
            }
        }
        let folded = try Self.fold(orgID, tables: tables, from: start, in: txn)
        if txn.readsOnlyCommitted, let state = folded.state {
            bases.withLock { bases in
                // A newer base stays: this read's snapshot may be older. (Every base is of committed
                // events, so a newer one is a state the stream will hold.)
                guard (bases[orgID]?.version ?? 0) < head.version else { return }
                if bases[orgID] == nil, bases.count >= capacity { bases.removeAll(keepingCapacity: true) }
                bases[orgID] = Entry(head: head.hash, version: head.version, state: state, maxAt: folded.maxAt)
            }
        }
        return folded
    }

    /// The earliest time there is, where a stream's latest event time starts.
    static let noTime = Timestamp(millisecondsSinceEpoch: .min)

    /// Folds an org's own stream (never the whole log) up to the last event `point` includes (all of it
    /// without one): from `base` (a state of the stream's first `version` events) or else the latest
    /// snapshot the point includes, through the stream index, each stored envelope read on the replay
    /// fast path. Also returns the latest event time folded.
    public static func fold(
        _ orgID: String, tables: ProjectionTables, upTo point: TimeTravel.Point? = nil,
        from base: (state: OrgState?, maxAt: Timestamp, version: UInt64)? = nil, in txn: borrowing some TransactionReading & ~Copyable
    ) throws -> (state: OrgState?, maxAt: Timestamp) {
        var state: OrgState?
        var maxAt = noTime
        var fromVersion: UInt64 = 1
        if let base {
            (state, maxAt, fromVersion) = (base.state, base.maxAt, base.version + 1)
        } else if let snapshot = try SnapshotRow.latest(of: orgID, includedIn: point, tables: tables, in: txn) {
            (state, maxAt, fromVersion) = (snapshot.state, snapshot.maxAt, snapshot.version + 1)
        }
        var prefix = Array(orgID.utf8)
        prefix.append(0)
        let log = tables.log
        try txn.withCursor(on: log.streams) { index in
            var entry = try index.seek(atLeast: prefix + Keys.be64(fromVersion))
            while let current = entry, current.key.count == prefix.count + 8, current.key.starts(with: prefix) {
                let seq = Keys.readBE64(current.value)
                let keepGoing = try txn.withValue(in: log.events, forKey: Keys.be64(seq)) { value -> Bool in
                    let (view, event) = try OrgAggregate.read(stored: UnsafeRawBufferPointer(rebasing: value[32...]))
                    guard point?.includes(seq: seq, at: view.at) ?? true else { return false }
                    OrgAggregate.apply(&state, event, recordedAs: view)
                    maxAt = max(maxAt, view.at)
                    return true
                }
                guard keepGoing == true else { return }
                entry = try index.next()
            }
        }
        return (state, maxAt)
    }
}

/// A `snapshots` row: seq ‖ latest event time so far ‖ the state (`OrgState.snapshotBytes`).
enum SnapshotRow {
    /// Adds the snapshot of `state` (just after its event `seq`) when `Snapshots` says one is due.
    static func addIfDue(_ state: OrgState?, seq: UInt64, maxAt: Timestamp, to sink: inout some RowSink) {
        guard let state, Snapshots.isDue(atVersion: state.version, entries: state.snapshotEntries) else { return }
        sink.add(.snapshots, key: { Keys.appendSnapshot(state.id, version: state.version, to: &$0) }) { out in
            Keys.appendBE64(seq, to: &out)
            Keys.appendBE64(UInt64(bitPattern: maxAt.millisecondsSinceEpoch) ^ (1 << 63), to: &out)
            out.append(contentsOf: state.snapshotBytes())
        }
    }

    /// The version of an org's latest snapshot, without decoding it; nil when it has none.
    static func latestVersion(of orgID: String, tables: ProjectionTables, in txn: borrowing some TransactionReading & ~Copyable) throws -> UInt64? {
        var prefix = Array(orgID.utf8)
        prefix.append(0)
        return try txn.withCursor(on: tables[.snapshots]) { cursor in
            let entry = try cursor.seek(atLeast: prefix + Keys.be64(.max)) != nil ? try cursor.previous() : try cursor.last()
            guard let entry, entry.key.count == prefix.count + 8, entry.key.starts(with: prefix) else { return nil }
            return Keys.readBE64(UnsafeRawBufferPointer(rebasing: entry.key[prefix.count...]))
        }
    }

    /// The latest snapshot of an org that `point` includes (any, without a point).
    static func latest(
        of orgID: String, includedIn point: TimeTravel.Point?, tables: ProjectionTables, in txn: borrowing some TransactionReading & ~Copyable
    ) throws -> (version: UInt64, maxAt: Timestamp, state: OrgState)? {
        var prefix = Array(orgID.utf8)
        prefix.append(0)
        return try txn.withCursor(on: tables[.snapshots]) { cursor in
            var entry = try cursor.seek(atLeast: prefix + Keys.be64(.max)) != nil ? try cursor.previous() : try cursor.last()
            while let current = entry, current.key.count == prefix.count + 8, current.key.starts(with: prefix) {
                guard current.value.count >= 16 else { throw EnvelopeError("a snapshot of \(orgID) is damaged") }
                let seq = Keys.readBE64(current.value)
                let maxAt = Timestamp(millisecondsSinceEpoch: Int64(bitPattern: Keys.readBE64(UnsafeRawBufferPointer(rebasing: current.value[8...])) ^ (1 << 63)))
                if point?.includes(seq: seq, at: maxAt) ?? true {
                    let version = Keys.readBE64(UnsafeRawBufferPointer(rebasing: current.key[prefix.count...]))
                    return (version, maxAt, try OrgState(snapshot: UnsafeRawBufferPointer(rebasing: current.value[16...])))
                }
                entry = try cursor.previous()
            }
            return nil
        }
    }
}
