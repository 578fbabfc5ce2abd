import EventLog
import LMDB
import LedgerCore
import OrgDomain

/// The first place where the views differ from a fresh replay of the log.
public struct ProjectionProblem: Sendable, Hashable, CustomStringConvertible {
    public let row: String
    public let reason: String
    public var description: String { "\(row): \(reason)" }
}

/// Folds events, in log order, into every org's state, yielding each event's audit row.
struct Folder {
    private(set) var states: [String: OrgState] = [:]
    private(set) var lastSeq: UInt64 = 0

    /// The fast path: read the envelope's members in one pass, parse only `data`, fold in place, and
    /// splice the audit row from the stored bytes.
    mutating func feed(seq: UInt64, bytes: UnsafeRawBufferPointer) throws -> Row {
        let view = try EnvelopeView.read(bytes)
        let event = try OrgEvent(type: view.type, data: try view.data(in: bytes))
        let actor: Actor = view.actor == "system" ? .system : .user(Email(trusted: view.actor))
        apply(&states[view.stream], event, EventContext(at: view.at, actor: actor, version: view.version))
        lastSeq = seq
        return Row(table: .audit, key: Keys.audit(view.stream, seq), value: Render.auditRow(bytes, view, target: Render.target(of: event, orgID: view.stream)))
    }
}

/// Fresh replays of the log: to rebuild the views, and to check them.
public enum Replay {
    /// Events per rebuild transaction. LMDB keeps a transaction's dirty pages in a sorted list, so one
    /// huge transaction slows down as it grows; chunks keep each one small.
    static let chunk = 100_000

    /// Every row of every table but `audit` for these states, unsorted, with handle clashes resolved as
    /// the projector resolves them (a current handle wins over another org's ended hold).
    static func viewRows(_ states: [String: OrgState]) -> [Row] {
        var rows: [Row] = []
        var handles: [[UInt8]: Row] = [:]
        for org in states.values {
            for row in RowSet.allRows(of: org) {
                if row.table == .handles {
                    if let existing = handles[row.key], (try? JSONParser.parse(existing.value)["held_until"]?.isNull) == true { continue }
                    handles[row.key] = row
                } else {
                    rows.append(row)
                }
            }
        }
        rows.append(contentsOf: handles.values)
        return rows
    }

    /// Drops and re-derives every view from the log.
    ///
    /// In steps: empty the views and forget the format version; then, chunk by chunk, fold events in a
    /// read transaction and write their audit rows (sorted, for locality) in a write transaction; last,
    /// write every other view (sorted, appended to the empty tables) with `last_seq` and the format
    /// version. A rebuild cut short leaves no format version behind, so the next start rebuilds again.
    /// Write transactions only put precomputed rows, so a map growth that re-runs one is harmless.
    public static func rebuild(environment: Environment, tables: ProjectionTables, progress: ((UInt64) -> Void)? = nil) throws {
        try environment.write { txn in
            for table in ProjectionTables.Table.allCases { try txn.empty(tables[table]) }
            try txn.empty(tables.meta)
        }
        var folder = Folder()
        while true {
            var audit: [Row] = []
            audit.reserveCapacity(chunk)
            try environment.read { txn in
                try tables.log.forEachEvent(after: folder.lastSeq, in: txn) { seq, _, bytes in
                    audit.append(try folder.feed(seq: seq, bytes: bytes))
                    return audit.count < chunk
                }
            }
            guard !audit.isEmpty else { break }
            audit.sort()
            try environment.write { txn in
                for row in audit { try txn.put(in: tables[.audit], key: row.key, value: row.value) }
            }
            progress?(folder.lastSeq)
        }
        let views = viewRows(folder.states).sorted()
        try environment.write { txn in
            for row in views { try txn.put(in: tables[row.table], key: row.key, value: row.value, flags: .append) }
            try tables.setMeta(lastSeq: folder.lastSeq, in: txn)
            try tables.setFormatVersion(in: txn)
        }
    }

    /// Compares every view with a fresh replay; returns the first differing row, or nil.
    public static func verify(tables: ProjectionTables, in txn: borrowing some TransactionReading & ~Copyable, progress: ((UInt64) -> Void)? = nil) throws -> ProjectionProblem? {
        var problem: ProjectionProblem?
        var auditCount = 0
        var folder = Folder()
        try tables.log.forEachEvent(after: 0, in: txn) { seq, _, bytes in
            let expected = try folder.feed(seq: seq, bytes: bytes)
            auditCount += 1
            if seq & 0x3FFF == 0 { progress?(seq) }
            let stored = try txn.value(in: tables[.audit], forKey: expected.key)
            if stored == nil {
                problem = ProjectionProblem(row: expected.name, reason: "missing")
            } else if stored != expected.value {
                problem = ProjectionProblem(row: expected.name, reason: "differs from a fresh replay")
            }
            return problem == nil
        }
        if let problem { return problem }
        let storedAudit = try txn.statistics(of: tables[.audit]).entries
        if storedAudit != auditCount {
            return ProjectionProblem(row: "audit", reason: "holds \(storedAudit) rows for \(auditCount) events")
        }
        let stored = try tables.lastAppliedSeq(in: txn)
        if stored != folder.lastSeq {
            return ProjectionProblem(row: "projection_meta[last_seq]", reason: "is \(stored), the log ends at \(folder.lastSeq)")
        }
        // The other tables, side by side in key order.
        let expected = viewRows(folder.states).sorted()
        var index = 0
        for table in ProjectionTables.Table.allCases.sorted() where table != .audit {
            var found: ProjectionProblem?
            try txn.withCursor(on: tables[table]) { cursor in
                try cursor.forEach(from: [UInt8]?.none) { entry in
                    let actual = Row(table: table, key: Array(entry.key), value: Array(entry.value))
                    if index < expected.count, expected[index].table == table, expected[index] < actual, expected[index].key != actual.key {
                        found = ProjectionProblem(row: expected[index].name, reason: "missing")
                        return false
                    }
                    guard index < expected.count, expected[index].table == table, expected[index].key == actual.key else {
                        found = ProjectionProblem(row: actual.name, reason: "not in a fresh replay")
                        return false
                    }
                    if expected[index].value != actual.value {
                        found = ProjectionProblem(row: actual.name, reason: "differs from a fresh replay")
                        return false
                    }
                    index += 1
                    return true
                }
            }
            if let found { return found }
            if index < expected.count, expected[index].table == table {
                return ProjectionProblem(row: expected[index].name, reason: "missing")
            }
        }
        return nil
    }
}
