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

/// Fresh replays of the log: to rebuild the views, and to check them.
public enum Replay {
    /// Folds every event of the log into org states, calling `eachEvent` with each envelope, its event
    /// and the audit row it yields.
    static func fold(
        log: LogTables, in txn: borrowing some TransactionReading & ~Copyable, progress: ((UInt64) -> Void)?,
        eachEvent: (EventEnvelope, Row) throws -> Void
    ) throws -> (states: [String: OrgState], lastSeq: UInt64) {
        var states: [String: OrgState] = [:]
        var lastSeq: UInt64 = 0
        try log.forEachEvent(after: 0, in: txn) { seq, _, bytes in
            let envelope = try EventEnvelope.decode(bytes).envelope
            let (event, context) = try envelope.orgEvent()
            states[envelope.stream] = apply(states[envelope.stream], event, context)
            try eachEvent(envelope, Row(table: .audit, key: Keys.audit(envelope.stream, seq), value: Render.encode(Render.audit(envelope, event))))
            lastSeq = seq
            if seq & 0x3FFF == 0 { progress?(seq) }
            return true
        }
        return (states, lastSeq)
    }

    /// Every row of every table but `audit` for these states, sorted, with handle clashes resolved as the
    /// projector resolves them (a current handle wins over another org's ended hold).
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
        return rows.sorted()
    }

    /// Drops and re-derives every view from the log, in one write transaction.
    public static func rebuild(environment: Environment, tables: ProjectionTables, progress: ((UInt64) -> Void)? = nil) throws {
        try environment.write { txn in
            for table in ProjectionTables.Table.allCases { try txn.empty(tables[table]) }
            try txn.empty(tables.meta)
            let (states, lastSeq) = try fold(log: tables.log, in: txn, progress: progress) { _, audit in
                try txn.put(in: tables[.audit], key: audit.key, value: audit.value)
            }
            for row in viewRows(states) {
                try txn.put(in: tables[row.table], key: row.key, value: row.value)
            }
            try tables.setMeta(lastSeq: lastSeq, in: txn)
            try tables.setFormatVersion(in: txn)
        }
    }

    /// Compares every view with a fresh replay; returns the first differing row, or nil.
    public static func verify(tables: ProjectionTables, in txn: borrowing some TransactionReading & ~Copyable, progress: ((UInt64) -> Void)? = nil) throws -> ProjectionProblem? {
        var problem: ProjectionProblem?
        var auditCount = 0
        let (states, lastSeq) = try fold(log: tables.log, in: txn, progress: progress) { _, expected in
            auditCount += 1
            guard problem == nil else { return }
            let stored = try txn.value(in: tables[.audit], forKey: expected.key)
            if stored == nil {
                problem = ProjectionProblem(row: expected.name, reason: "missing")
            } else if stored != expected.value {
                problem = ProjectionProblem(row: expected.name, reason: "differs from a fresh replay")
            }
        }
        if let problem { return problem }
        let storedAudit = try txn.statistics(of: tables[.audit]).entries
        if storedAudit != auditCount {
            return ProjectionProblem(row: "audit", reason: "holds \(storedAudit) rows for \(auditCount) events")
        }
        let stored = try tables.lastAppliedSeq(in: txn)
        if stored != lastSeq {
            return ProjectionProblem(row: "projection_meta[last_seq]", reason: "is \(stored), the log ends at \(lastSeq)")
        }
        // The other tables, side by side in key order.
        let expected = viewRows(states)
        var index = 0
        for table in ProjectionTables.Table.allCases.sorted() where table != .audit {
            var found: ProjectionProblem?
            try txn.withCursor(on: tables[table]) { cursor in
                try cursor.forEach(from: [UInt8]?.none) { entry in
                    let actual = Row(table: table, key: Array(entry.key), value: Array(entry.value))
                    while index < expected.count, expected[index].table == table, expected[index].key.lexicographicallyPrecedes(actual.key) {
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
