import EventLog
import LMDB
import Ledger
import LedgerCore
import OrgDomain

/// An audit index entry (`Render.auditEntry`) read back.
extension AuditEntry {
    init(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        let seq = Keys.readBE64(UnsafeRawBufferPointer(rebasing: key[(key.count - 8)...]))
        let at = Timestamp(millisecondsSinceEpoch: Int64(bitPattern: Keys.readBE64(value) ^ (1 << 63)))
        let rest = value[8...].split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false)
        let actor = String(decoding: rest[0], as: UTF8.self)
        let action = rest.count > 1 ? String(decoding: rest[1], as: UTF8.self) : ""
        let t = rest.count > 2 ? String(decoding: rest[2], as: UTF8.self) : ""
        self.init(seq: seq, at: at, actor: actor, action: action, target: t.isEmpty ? nil : t)
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

