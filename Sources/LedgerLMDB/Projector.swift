import EventLog
import LMDB
import Ledger
import LedgerCore
import OrgDomain

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
    public func project(
        _ recorded: RecordedEvent, _ event: OrgEvent, parts: [RowSet.Part], old: [Row], after: OrgState?, in txn: borrowing WriteTransaction
    ) throws {
        let envelope = recorded.envelope
        let new = Self.rows(parts, of: after)
        for row in old where !new.contains(where: { $0.table == row.table && $0.key == row.key }) {
            try delete(row, orgID: envelope.stream, in: txn)
        }
        for row in new where !old.contains(row) {
            try put(row, in: txn)
        }
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
/// An entry is trusted only while the org's stream still ends with the event it was computed after
/// (same hash), so a batch that was aborted and re-run can never leave a wrong state behind: a miss
/// re-folds the org's own stream.
public final class StateCache: Sendable {
    private let entries = Mutex<[String: (head: ChainHash, state: OrgState)]>([:])
    private let capacity: Int

    public init(capacity: Int = 10_000) { self.capacity = capacity }

    public func state(of orgID: String, log: LogTables, in txn: borrowing some TransactionReading & ~Copyable) throws -> OrgState? {
        guard let head = try log.streamHead(orgID, in: txn) else { return nil }
        if let cached = entries.withLock({ $0[orgID] }), cached.head == head.hash { return cached.state }
        let state = try Self.fold(orgID, log: log, upTo: { _, _ in true }, in: txn)
        remember(orgID, head: head.hash, state: state)
        return state
    }

    /// The state of an org for the writer to change in place: it leaves the cache (so applying events to
    /// it copies nothing) until `remember` puts the new state back.
    /// Also returns the stream's head as read (nil for a new stream): the one lookup of it a command makes.
    public func take(_ orgID: String, log: LogTables, in txn: borrowing some TransactionReading & ~Copyable) throws -> (state: OrgState?, head: StreamHead?) {
        guard let head = try log.streamHead(orgID, in: txn) else { return (nil, nil) }
        let streamHead = StreamHead(version: head.version, hash: head.hash)
        if let cached = entries.withLock({ $0.removeValue(forKey: orgID) }), cached.head == head.hash { return (cached.state, streamHead) }
        return (try Self.fold(orgID, log: log, upTo: { _, _ in true }, in: txn), streamHead)
    }

    /// The last event of a stream, as far as the writer needs it.
    public struct StreamHead: Sendable {
        public let version: UInt64
        public let hash: ChainHash
    }

    public func remember(_ orgID: String, head: ChainHash, state: OrgState?) {
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            if let state { entries[orgID] = (head, state) } else { entries[orgID] = nil }
        }
    }

    /// Folds an org's own stream (not the whole log) up to the last event `include` accepts: through the
    /// stream index, reading each stored envelope on the replay fast path (no full decode).
    public static func fold(
        _ orgID: String, log: LogTables, upTo include: (_ seq: UInt64, _ at: Timestamp) -> Bool,
        in txn: borrowing some TransactionReading & ~Copyable
    ) throws -> OrgState? {
        var state: OrgState?
        var prefix = Array(orgID.utf8)
        prefix.append(0)
        try txn.withCursor(on: log.streams) { index in
            var entry = try index.seek(atLeast: prefix)
            while let current = entry, current.key.count == prefix.count + 8, current.key.starts(with: prefix) {
                let seq = Keys.readBE64(current.value)
                let keepGoing = try txn.withValue(in: log.events, forKey: Keys.be64(seq)) { value -> Bool in
                    let (view, event) = try OrgAggregate.read(stored: UnsafeRawBufferPointer(rebasing: value[32...]))
                    guard include(seq, view.at) else { return false }
                    OrgAggregate.apply(&state, event, recordedAs: view)
                    return true
                }
                guard keepGoing == true else { return }
                entry = try index.next()
            }
        }
        return state
    }
}

import Synchronization
