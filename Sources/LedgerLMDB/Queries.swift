import EventLog
import Ledger
import LMDB
import LedgerCore
import OrgDomain

/// Reads of the views, inside any transaction. Values come back as the stored canonical JSON.
public enum Queries {
    /// Who holds a handle: its current org, or the org whose former handle it is (with the hold's end).
    public static func claim(on handle: Handle, tables: ProjectionTables, in txn: borrowing some TransactionReading & ~Copyable) throws -> HandleClaim? {
        try txn.withValue(in: tables[.handles], forKey: Array(handle.value.utf8)) { bytes -> HandleClaim? in
            let row = try JSONParser.parse(Array(bytes))
            guard let orgID = row["org_id"]?.stringValue else { return nil }
            return HandleClaim(orgID: orgID, heldUntil: row["held_until"]?.stringValue.flatMap(Timestamp.init(rfc3339:)))
        } ?? nil
    }

    /// The org whose current handle this is.
    public static func currentHolder(of handle: Handle, tables: ProjectionTables, in txn: borrowing some TransactionReading & ~Copyable) throws -> String? {
        guard let claim = try claim(on: handle, tables: tables, in: txn), claim.heldUntil == nil else { return nil }
        return claim.orgID
    }

    public static func orgRow(_ orgID: String, tables: ProjectionTables, in txn: borrowing some TransactionReading & ~Copyable) throws -> [UInt8]? {
        try txn.value(in: tables[.orgs], forKey: Array(orgID.utf8))
    }

    /// The org's version (its stream version, the `ETag` of its reads), from its stored row.
    public static func orgVersion(_ orgID: String, tables: ProjectionTables, in txn: borrowing some TransactionReading & ~Copyable) throws -> UInt64? {
        try orgRow(orgID, tables: tables, in: txn).flatMap(Render.version(ofOrgRow:))
    }

    public static func memberRow(_ orgID: String, _ email: String, tables: ProjectionTables, in txn: borrowing some TransactionReading & ~Copyable) throws -> [UInt8]? {
        try txn.value(in: tables[.members], forKey: Keys.member(orgID, email))
    }

    /// The org's member rows in key (byte) order of the email: those after the email `cursor` (bytes,
    /// exclusive) that `accept` takes, at most `limit`.
    public static func memberRows(
        _ orgID: String, after cursor: String? = nil, limit: Int = .max, where accept: ([UInt8]) -> Bool = { _ in true },
        tables: ProjectionTables, in txn: borrowing some TransactionReading & ~Copyable
    ) throws -> [[UInt8]] {
        let prefix = Keys.memberPrefix(orgID)
        let start = cursor.map { Keys.member(orgID, $0) }
        var out: [[UInt8]] = []
        guard limit > 0 else { return out }
        try txn.withCursor(on: tables[.members]) { c in
            try c.forEach(from: start ?? prefix) { entry in
                guard entry.key.starts(with: prefix) else { return false }
                if let start, entry.key.elementsEqual(start) { return true }
                let row = Array(entry.value)
                if accept(row) { out.append(row) }
                return out.count < limit
            }
        }
        return out
    }

    /// The org's invitation rows, newest first (then by id): those after `cursor` (exclusive) that
    /// `accept` takes, at most `limit`.
    public static func invitationRows(
        _ orgID: String, after cursor: InvitationCursor?, limit: Int, where accept: ([UInt8]) -> Bool,
        tables: ProjectionTables, in txn: borrowing some TransactionReading & ~Copyable
    ) throws -> [[UInt8]] {
        let prefix = Keys.joined(orgID, "")
        let start = cursor.map { Keys.orgInvitation(orgID, sentAt: $0.sentAt, $0.id) }
        var out: [[UInt8]] = []
        guard limit > 0 else { return out }
        try txn.withCursor(on: tables[.orgInvitations]) { c in
            try c.forEach(from: start ?? prefix) { entry in
                guard entry.key.starts(with: prefix), entry.key.count > prefix.count + 8 else { return false }
                if let start, entry.key.elementsEqual(start) { return true }
                let id = UnsafeRawBufferPointer(rebasing: entry.key[(prefix.count + 8)...])
                if let row = try txn.value(in: tables[.invitations], forKey: Array(id)), accept(row) { out.append(row) }
                return out.count < limit
            }
        }
        return out
    }

    /// For index tables keyed `prefix ‖ suffix`: the (suffix, value) pairs under `prefix` in key order,
    /// after the suffix `after` (exclusive, bytes), at most `limit`.
    public static func entries(
        under prefix: [UInt8], after: [UInt8]? = nil, limit: Int = .max, in db: Database, txn: borrowing some TransactionReading & ~Copyable
    ) throws -> [(suffix: [UInt8], value: [UInt8])] {
        var out: [(suffix: [UInt8], value: [UInt8])] = []
        guard limit > 0 else { return out }
        let start = after.map { prefix + $0 }
        try txn.withCursor(on: db) { cursor in
            try cursor.forEach(from: start ?? prefix) { entry in
                guard entry.key.starts(with: prefix) else { return false }
                if let start, entry.key.elementsEqual(start) { return true }
                out.append((Array(entry.key[prefix.count...]), Array(entry.value)))
                return out.count < limit
            }
        }
        return out
    }

    /// The rows of `table` whose keys are the suffixes found under `prefix` in the index `index` (e.g.
    /// an org's keys through `org_api_keys`), after the suffix `after`, at most `limit`; with each its key.
    public static func rows(
        indexedUnder prefix: [UInt8], after: [UInt8]? = nil, limit: Int = .max, index: Database, table: Database,
        txn: borrowing some TransactionReading & ~Copyable
    ) throws -> [(key: [UInt8], row: [UInt8])] {
        try entries(under: prefix, after: after, limit: limit, in: index, txn: txn).compactMap { entry in
            try txn.value(in: table, forKey: entry.suffix).map { (entry.suffix, $0) }
        }
    }

}

/// Time travel on LMDB: folds the org's own stream through the stream index.
extension TimeTravel {
    /// From the latest snapshot the point includes, then the org's events up to it.
    public static func state(of orgID: String, at point: Point, tables: ProjectionTables, in txn: borrowing some TransactionReading & ~Copyable) throws -> OrgState? {
        try StateCache.fold(orgID, tables: tables, upTo: point, in: txn).state
    }
}
