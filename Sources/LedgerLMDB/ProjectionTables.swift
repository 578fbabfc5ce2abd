import EventLog
import LMDB
import Ledger
import LedgerCore

/// The read models, each a named LMDB database in the log's environment, updated in the writer's
/// transaction together with the events they come from.
///
/// | table | key | value (canonical JSON unless said) |
/// |---|---|---|
/// | `orgs` | org id | the org's profile row |
/// | `handles` | handle | `{org_id, held_until}` (null for a current handle) |
/// | `members` | org id ‖ 0 ‖ user id | the member row (people as user ids: `Render.resolvingPeople` adds emails when read) |
/// | `invitations` | invitation id | the invitation row (with `org_id`) |
/// | `invitations_pending` | user id ‖ 0 ‖ invitation id | org id (raw) — `GET /v1/invitations` |
/// | `org_invitations` | org id ‖ 0 ‖ inverted sent_at (8 bytes) ‖ invitation id | empty — an org's invitations, newest first |
/// | `memberships` | user id ‖ 0 ‖ org id | role (raw) — `GET /v1/orgs`, the orgs a person belongs to |
/// | `org_api_keys` | org id ‖ 0 ‖ key id | empty — an org's keys |
/// | `api_keys` | key id | the key row (with `org_id`; never the secret) |
/// | `api_keys_by_hash` | SHA-256 hex of a secret ‖ 0 ‖ key id | org id (raw) — a secret hash is expected to be unique, but the index does not depend on it |
/// | `audit` | org id ‖ 0 ‖ seq (8 bytes BE) | at ‖ actor ‖ 0 ‖ action ‖ 0 ‖ target (the full row is rendered from the event); kept after a purge |
/// | `due` | time (8 bytes BE, ms) ‖ org id ‖ 0 ‖ item | empty — one entry per pending invitation, held handle and pending deletion |
/// | `snapshots` | org id ‖ 0 ‖ version (8 bytes BE) | seq (8 bytes BE) ‖ latest event time so far (ms, 8 bytes BE) ‖ `OrgState.snapshotBytes()` — see `Snapshots` |
/// | `projection_meta` | `format_version`, `last_seq` | 8 bytes BE |
/// | `idempotency` | actor ‖ 0 ‖ key | a stored response |
public struct ProjectionTables: Sendable {
    /// Bump when a row's shape or a table's keys change, or which rows exist (the snapshot spacing): the
    /// service rebuilds the projections at start-up when the stored version differs.
    public static let formatVersion: UInt64 = 9

    public enum Table: String, CaseIterable, Sendable, Comparable {
        case orgs, handles, members, invitations
        case invitationsPending = "invitations_pending"
        case apiKeys = "api_keys"
        case apiKeysByHash = "api_keys_by_hash"
        case audit, due
        case orgInvitations = "org_invitations"
        case memberships
        case orgAPIKeys = "org_api_keys"
        case snapshots

        public static func < (a: Table, b: Table) -> Bool { a.order < b.order }

        /// Position by name (the order verify walks the tables in), without comparing strings.
        public var order: Int {
            switch self {
            case .apiKeys: 0
            case .apiKeysByHash: 1
            case .audit: 2
            case .due: 3
            case .handles: 4
            case .invitations: 5
            case .invitationsPending: 6
            case .members: 7
            case .memberships: 8
            case .orgAPIKeys: 9
            case .orgInvitations: 10
            case .orgs: 11
            case .snapshots: 12
            }
        }
    }

    public let log: LogTables
    private let databases: [Table: Database]
    public let meta: Database
    public let idempotency: Database
    /// The personal-data store and the people views: not projections (see `PeopleStore`).
    public let people: PeopleStore

    /// `key`: the instance key (`instance.key`) that keys the people lookups; nil opens them read-only.
    public init(environment: Environment, log: LogTables, key: InstanceKey?) throws {
        self.log = log
        var dbs: [Table: Database] = [:]
        for table in Table.allCases { dbs[table] = try environment.openDatabase(table.rawValue) }
        databases = dbs
        meta = try environment.openDatabase("projection_meta")
        idempotency = try environment.openDatabase("idempotency")
        people = try PeopleStore(environment: environment, key: key)
    }

    public subscript(table: Table) -> Database { databases[table]! }

    // MARK: Meta

    static let formatKey = Array("format_version".utf8)
    static let lastSeqKey = Array("last_seq".utf8)

    public func storedFormatVersion(in txn: borrowing some TransactionReading & ~Copyable) throws -> UInt64? {
        try txn.withValue(in: meta, forKey: Self.formatKey) { UInt64(bigEndian: $0.loadUnaligned(as: UInt64.self)) }
    }

    /// The last seq the projections applied (0 when none).
    public func lastAppliedSeq(in txn: borrowing some TransactionReading & ~Copyable) throws -> UInt64 {
        try txn.withValue(in: meta, forKey: Self.lastSeqKey) { UInt64(bigEndian: $0.loadUnaligned(as: UInt64.self)) } ?? 0
    }

    func setMeta(lastSeq: UInt64, in txn: borrowing WriteTransaction) throws {
        try txn.put(in: meta, key: Self.lastSeqKey, value: Keys.be64(lastSeq))
    }

    public func setFormatVersion(in txn: borrowing WriteTransaction) throws {
        try txn.put(in: meta, key: Self.formatKey, value: Keys.be64(Self.formatVersion))
    }
}

/// Key layouts shared by the projector, the queries and verify.
public enum Keys {
    public static func be64(_ n: UInt64) -> [UInt8] { withUnsafeBytes(of: n.bigEndian) { Array($0) } }

    static func appendBE64(_ n: UInt64, to out: inout [UInt8]) {
        withUnsafeBytes(of: n.bigEndian) { out.append(contentsOf: $0) }
    }

    /// `a ‖ 0 ‖ b`, appended.
    static func append(_ a: String, _ b: String, to out: inout [UInt8]) {
        out.append(contentsOf: a.utf8)
        out.append(0)
        out.append(contentsOf: b.utf8)
    }

    public static func readBE64(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        UInt64(bigEndian: bytes.loadUnaligned(as: UInt64.self))
    }

    /// `a ‖ 0 ‖ b`: a key of two parts, or with `b` empty the prefix of every key under `a`.
    public static func joined(_ a: String, _ b: String) -> [UInt8] {
        var out: [UInt8] = []
        append(a, b, to: &out)
        return out
    }

    public static func member(_ orgID: String, _ email: String) -> [UInt8] { joined(orgID, email) }
    public static func memberPrefix(_ orgID: String) -> [UInt8] { joined(orgID, "") }
    public static func pending(_ email: String, _ invitationID: String) -> [UInt8] { joined(email, invitationID) }
    public static func pendingPrefix(_ email: String) -> [UInt8] { joined(email, "") }
    public static func audit(_ orgID: String, _ seq: UInt64) -> [UInt8] {
        var out: [UInt8] = []
        appendAudit(orgID, seq, to: &out)
        return out
    }

    static func appendAudit(_ orgID: String, _ seq: UInt64, to out: inout [UInt8]) {
        out.append(contentsOf: orgID.utf8)
        out.append(0)
        appendBE64(seq, to: &out)
    }
    public static func auditPrefix(_ orgID: String) -> [UInt8] { joined(orgID, "") }

    /// An `org_invitations` key: org ‖ 0 ‖ sent_at (ms, sign-flipped and inverted: newest first) ‖ id.
    /// An org's invitations list newest first in key order, so a page is one cursor walk.
    static func appendOrgInvitation(_ orgID: String, sentAt: Timestamp, _ id: String, to out: inout [UInt8]) {
        out.append(contentsOf: orgID.utf8)
        out.append(0)
        appendBE64(~(UInt64(bitPattern: sentAt.millisecondsSinceEpoch) ^ (1 << 63)), to: &out)
        out.append(contentsOf: id.utf8)
    }

    public static func orgInvitation(_ orgID: String, sentAt: Timestamp, _ id: String) -> [UInt8] {
        var out: [UInt8] = []
        appendOrgInvitation(orgID, sentAt: sentAt, id, to: &out)
        return out
    }

    /// A due entry: time (ms since 1970, sign-flipped so earlier sorts first) ‖ org id ‖ 0 ‖ what is due.
    public static func due(_ time: Timestamp, _ orgID: String, _ item: String) -> [UInt8] {
        var out: [UInt8] = []
        appendDue(time, orgID, "", item, to: &out)
        return out
    }

    /// A due entry whose item is `kind` followed by `item` (`"invitation " + id`), appended.
    static func appendDue(_ time: Timestamp, _ orgID: String, _ kind: StaticString, _ item: String, to out: inout [UInt8]) {
        appendBE64(UInt64(bitPattern: time.millisecondsSinceEpoch) ^ (1 << 63), to: &out)
        out.append(contentsOf: orgID.utf8)
        out.append(0)
        out.append(contentsOf: UnsafeBufferPointer(start: kind.utf8Start, count: kind.utf8CodeUnitCount))
        out.append(contentsOf: item.utf8)
    }

    /// A `snapshots` key: org ‖ 0 ‖ version.
    static func appendSnapshot(_ orgID: String, version: UInt64, to out: inout [UInt8]) {
        out.append(contentsOf: orgID.utf8)
        out.append(0)
        appendBE64(version, to: &out)
    }

    public static func dueTime(_ key: UnsafeRawBufferPointer) -> (Timestamp, String) {
        let ms = Int64(bitPattern: readBE64(key) ^ (1 << 63))
        let rest = key[8...]
        let org = rest.firstIndex(of: 0).map { rest[..<$0] } ?? rest
        return (Timestamp(millisecondsSinceEpoch: ms), String(decoding: org, as: UTF8.self))
    }
}
