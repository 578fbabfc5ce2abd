import EventLog
import LMDB
import LedgerCore
import OrgDomain

/// One audit index entry, decoded.
public struct AuditEntry: Sendable, Hashable {
    public let seq: UInt64
    public let at: Timestamp
    public let actor: String
    public let action: String
    public let target: String?

    init(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        seq = Keys.readBE64(UnsafeRawBufferPointer(rebasing: key[(key.count - 8)...]))
        at = Timestamp(millisecondsSinceEpoch: Int64(bitPattern: Keys.readBE64(value) ^ (1 << 63)))
        let rest = value[8...].split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false)
        actor = String(decoding: rest[0], as: UTF8.self)
        action = rest.count > 1 ? String(decoding: rest[1], as: UTF8.self) : ""
        let t = rest.count > 2 ? String(decoding: rest[2], as: UTF8.self) : ""
        target = t.isEmpty ? nil : t
    }
}

/// Filters of `GET /v1/orgs/{org}/audit` and `orgledger audit`.
public struct AuditFilter: Sendable, Hashable {
    public var actor: String?
    public var action: String?
    public var target: String?
    /// At or after.
    public var since: Timestamp?
    /// Before.
    public var until: Timestamp?

    /// An email given as `actor` or `target` is normalized (`Email.parse`), so any spelling of it finds
    /// the entries the log records in its one spelling; other values are compared as given.
    public init(actor: String? = nil, action: String? = nil, target: String? = nil, since: Timestamp? = nil, until: Timestamp? = nil) {
        func normalized(_ value: String?) -> String? { value.map { (try? Email.parse($0).get())?.value ?? $0 } }
        self.actor = normalized(actor)
        self.action = action
        self.target = normalized(target)
        self.since = since
        self.until = until
    }

    func accepts(_ e: AuditEntry) -> Bool {
        if let actor, e.actor != actor { return false }
        if let action, e.action != action { return false }
        if let target, e.target != target { return false }
        if let since, e.at < since { return false }
        if let until, e.at >= until { return false }
        return true
    }
}

extension Queries {
    /// An org's audit trail, newest first: entries with `seq < before` (0 = from the newest) that pass
    /// `filter`, at most `limit`, each with its full row (`{action, actor, at, data, meta, seq, target}`,
    /// canonical JSON) rendered from the event in the log. Purged orgs keep their trail.
    public static func audit(
        _ orgID: String, before: UInt64, limit: Int, filter: AuditFilter = AuditFilter(), tables: ProjectionTables,
        in txn: borrowing some TransactionReading & ~Copyable
    ) throws -> [(entry: AuditEntry, row: [UInt8])] {
        let prefix = Keys.auditPrefix(orgID)
        var entries: [AuditEntry] = []
        if limit > 0 {
            try txn.withCursor(on: tables[.audit]) { cursor in
                let start = Keys.audit(orgID, before == 0 ? UInt64.max : before)
                var item = try cursor.seek(atLeast: start) != nil ? try cursor.previous() : try cursor.last()
                while let current = item, current.key.starts(with: prefix) {
                    let entry = AuditEntry(key: current.key, value: current.value)
                    if filter.accepts(entry) {
                        entries.append(entry)
                        if entries.count == limit { return }
                    }
                    item = try cursor.previous()
                }
            }
        }
        return try entries.map { entry in
            let row = try txn.withValue(in: tables.log.events, forKey: Keys.be64(entry.seq)) { value in
                let bytes = UnsafeRawBufferPointer(rebasing: value[32...])
                return Render.auditRow(bytes, try EnvelopeView.read(bytes), target: entry.target)
            }
            guard let row else { throw EnvelopeError("the audit index names seq \(entry.seq), which is not in the log") }
            return (entry, row)
        }
    }
}

/// The audit log's three output formats, shared by `GET /v1/orgs/{org}/audit` and `orgledger audit`.
public enum AuditFormat: String, Sendable, CaseIterable {
    case json, ndjson, csv

    /// NDJSON: one canonical row per line.
    public static func ndjson(_ rows: [(entry: AuditEntry, row: [UInt8])]) -> [UInt8] {
        var out: [UInt8] = []
        for row in rows { out += row.row; out.append(UInt8(ascii: "\n")) }
        return out
    }

    /// CSV (RFC 4180) with a header: seq, at, actor, action, target, data (the data as canonical JSON).
    public static func csv(_ rows: [(entry: AuditEntry, row: [UInt8])]) -> String {
        var out = "seq,at,actor,action,target,data\n"
        for row in rows {
            let data = (try? JSONParser.parse(row.row))?["data"]?.description ?? ""
            let fields = [String(row.entry.seq), row.entry.at.rfc3339, row.entry.actor, row.entry.action, row.entry.target ?? "", data]
            out += fields.map(csvField).joined(separator: ",") + "\n"
        }
        return out
    }

    /// RFC 4180 quoting. A field whose first Unicode scalar can start a spreadsheet formula (`=`, `+`,
    /// `-`, `@`, their fullwidth forms `＝＋－＠`, tab or carriage return) is prefixed with `'`. The first
    /// *scalar*, not the first character: `=` followed by a combining mark or a joiner is one character
    /// that is not `=`, yet spreadsheets still read the `=`.
    public static func csvField(_ value: String) -> String {
        var v = value
        if let first = v.unicodeScalars.first, formulaStarters.contains(first) { v = "'" + v }
        guard v.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return v }
        return "\"" + v.split(separator: "\"", omittingEmptySubsequences: false).joined(separator: "\"\"") + "\""
    }

    static let formulaStarters: Set<Unicode.Scalar> = ["=", "+", "-", "@", "\u{FF1D}", "\u{FF0B}", "\u{FF0D}", "\u{FF20}", "\t", "\r"]
}
