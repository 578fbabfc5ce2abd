import Dispatch
import Synchronization
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

    /// The fast path: read the envelope's members in one pass, parse only `data`, fold in place; the
    /// event's audit index entry comes back.
    mutating func feed(seq: UInt64, bytes: UnsafeRawBufferPointer) throws -> Row {
        let view = try EnvelopeView.read(bytes)
        let event = try OrgEvent(type: view.type, members: try view.dataMembers(in: bytes))
        let actor: Actor = view.actor == "system" ? .system : .user(Email(trusted: view.actor))
        apply(&states[view.stream], event, EventContext(at: view.at, actor: actor, version: view.version))
        lastSeq = max(lastSeq, seq)
        return Row(
            table: .audit, key: Keys.audit(view.stream, seq),
            value: Render.auditEntry(at: view.at, actor: view.actor, action: view.type, target: Render.target(of: event, orgID: view.stream)))
    }

    mutating func merge(_ other: Folder) {
        states.merge(other.states) { a, _ in a }
        lastSeq = max(lastSeq, other.lastSeq)
    }
}

/// Fresh replays of the log: to rebuild the views, and to check them.
public enum Replay {
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
    /// Orgs are independent, so the fold runs on two threads, each over half of the orgs (contiguous
    /// ranges of the stream index, balanced by event count), reading each org's events in stream
    /// order. Their audit entries come out in key order (org, then seq), so every table is written by
    /// appending to an emptied table. The format version is written last: a rebuild cut short leaves
    /// none, and the next start rebuilds again. Needs the data folder to itself (no writer running).
    public static func rebuild(environment: Environment, tables: ProjectionTables, progress: ((UInt64) -> Void)? = nil) throws {
        let (folder, audit) = try partitionedFold(environment: environment, log: tables.log, progress: progress)
        let views = viewRows(folder.states).sorted()
        try environment.write { txn in
            for table in ProjectionTables.Table.allCases { try txn.empty(tables[table]) }
            try txn.empty(tables.meta)
        }
        // Write transactions put only precomputed rows, so a map growth that re-runs one is harmless.
        var start = 0
        while start < audit.count {
            let end = min(audit.count, start + 250_000)
            try environment.write { txn in
                for row in audit[start..<end] { try txn.put(in: tables[.audit], key: row.key, value: row.value, flags: .append) }
            }
            start = end
        }
        try environment.write { txn in
            for row in views { try txn.put(in: tables[row.table], key: row.key, value: row.value, flags: .append) }
            try tables.setMeta(lastSeq: folder.lastSeq, in: txn)
            try tables.setFormatVersion(in: txn)
        }
    }

    /// Folds every org's stream on `threads` threads; returns the states and the audit entries in key order.
    static func partitionedFold(
        environment: Environment, log: LogTables, threads: Int = 2, progress: ((UInt64) -> Void)?
    ) throws -> (Folder, [Row]) {
        // The streams and their sizes, in key order, from the stream index.
        var streams: [(id: String, events: Int)] = []
        try environment.read { txn in
            try txn.withCursor(on: log.streams) { cursor in
                try cursor.forEach(from: [UInt8]?.none) { entry in
                    let id = String(decoding: entry.key[..<(entry.key.count - 9)], as: UTF8.self)
                    if streams.last?.id == id { streams[streams.count - 1].events += 1 } else { streams.append((id, 1)) }
                    return true
                }
            }
        }
        let total = streams.reduce(0) { $0 + $1.events }
        var ranges: [Range<Int>] = []
        var lower = 0, accumulated = 0
        for (index, stream) in streams.enumerated() {
            accumulated += stream.events
            if ranges.count < threads - 1, accumulated * threads >= total * (ranges.count + 1) {
                ranges.append(lower..<(index + 1))
                lower = index + 1
            }
        }
        ranges.append(lower..<streams.count)

        let results = Mutex<[Int: Result<(Folder, [Row]), any Error>]>([:])
        let (streamList, partRanges) = (streams, ranges)
        // Called from one worker only (part 0), never concurrently.
        nonisolated(unsafe) let progress = progress
        let done = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: ranges.count) { part in
            let outcome = Result { () throws -> (Folder, [Row]) in
                var folder = Folder()
                var audit: [Row] = []
                try environment.read { txn in
                    try txn.withCursor(on: log.streams) { index in
                        for stream in streamList[partRanges[part]] {
                            var prefix = Array(stream.id.utf8)
                            prefix.append(0)
                            var entry = try index.seek(atLeast: prefix)
                            while let current = entry, current.key.count == prefix.count + 8, current.key.starts(with: prefix) {
                                let seq = Keys.readBE64(current.value)
                                let row = try txn.withValue(in: log.events, forKey: Keys.be64(seq)) { value in
                                    try folder.feed(seq: seq, bytes: UnsafeRawBufferPointer(rebasing: value[32...]))
                                }
                                guard let row else { throw EnvelopeError("the stream index names seq \(seq), which is not in the log") }
                                audit.append(row)
                                entry = try index.next()
                            }
                            let finished = done.add(stream.events, ordering: .relaxed).newValue
                            if part == 0 { progress?(UInt64(finished)) }
                        }
                    }
                }
                return (folder, audit)
            }
            results.withLock { $0[part] = outcome }
        }
        var folder = Folder()
        var audit: [Row] = []
        audit.reserveCapacity(total)
        for part in 0..<ranges.count {
            let (partial, rows) = try results.withLock { $0[part]! }.get()
            folder.merge(partial)
            audit.append(contentsOf: rows)
        }
        return (folder, audit)
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
