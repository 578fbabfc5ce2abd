import EventLog
import Ledger
import LedgerCore
import OrgDomain

/// One row of one table: what the projector writes, rebuild writes and verify compares.
public struct Row: Sendable, Hashable {
    public let table: ProjectionTables.Table
    public let key: [UInt8]
    public let value: [UInt8]

    /// A readable name for messages: `members[org_x/ada@example.com]`.
    public var name: String { "\(table.rawValue)[\(RowNames.describe(key, numberedBy: table == .snapshots ? "version" : "seq"))]" }
}

enum RowNames {
    /// `numberedBy` names what a key's trailing 8-byte number is (`seq` for the audit index).
    static func describe(_ key: [UInt8], numberedBy number: String = "seq") -> String {
        if key.count >= 9, key[key.count - 9] == 0 {  // org ‖ 0 ‖ seq
            let seq = Keys.readBE64(key.withUnsafeBytes { UnsafeRawBufferPointer(rebasing: $0[(key.count - 8)...]) })
            return String(decoding: key[..<(key.count - 9)], as: UTF8.self) + "/\(number) \(seq)"
        }
        return String(decoding: key.map { $0 == 0 ? UInt8(ascii: "/") : $0 }, as: UTF8.self)
    }
}

/// The LMDB views' own row shapes: handle claims and audit index entries.
extension Render {
    public static func handleRow(orgID: String, heldUntil: Timestamp?) -> [UInt8] { rendered { handleRow(orgID: orgID, heldUntil: heldUntil, into: &$0) } }

    static func handleRow(orgID: String, heldUntil: Timestamp?, into out: inout [UInt8]) {
        var w = RowWriter(appendingTo: &out)
        w.time("held_until", heldUntil)
        w.string("org_id", orgID)
        w.finish(into: &out)
    }

    /// Whether a `handles` row is an org's current handle (`held_until` null) rather than a hold: the
    /// row is canonical and `held_until` its first member, so its first bytes say it.
    static func isCurrentHandleRow(_ row: some Collection<UInt8>) -> Bool {
        row.starts(with: #"{"held_until":null"#.utf8)
    }

    /// The audit index entry of one event: `at` (8 bytes, ms, sign-flipped big-endian) ‖ actor ‖ 0 ‖
    /// action ‖ 0 ‖ target. Enough to filter by actor, action, target and time without reading the
    /// event; the full row is rendered from the event itself when asked for (`auditRow`).
    public static func auditEntry(at: Timestamp, actor: String, action: String, target: String?) -> [UInt8] {
        rendered { auditEntry(at: at, actor: actor, action: action, target: target, into: &$0) }
    }

    static func auditEntry(at: Timestamp, actor: String, action: String, target: String?, into out: inout [UInt8]) {
        Keys.appendBE64(UInt64(bitPattern: at.millisecondsSinceEpoch) ^ (1 << 63), to: &out)
        out.append(contentsOf: actor.utf8)
        out.append(0)
        out.append(contentsOf: action.utf8)
        out.append(0)
        if let target { out.append(contentsOf: target.utf8) }
    }

}

/// Where rendered rows go: a list of `Row`s (the projector) or a byte arena (rebuild and verify). Each
/// row's key and value are written by the caller's closures straight into the sink's buffer.
protocol RowSink {
    mutating func add(_ table: ProjectionTables.Table, key: (inout [UInt8]) -> Void, value: (inout [UInt8]) -> Void)
}

extension RowSink {
    /// A row whose value is raw bytes (an org id, a role) or empty.
    mutating func add(_ table: ProjectionTables.Table, key: (inout [UInt8]) -> Void, raw: String = "") {
        add(table, key: key, value: { $0.append(contentsOf: raw.utf8) })
    }
}

/// Rows as separate `Row` values.
struct RowList: RowSink {
    var rows: [Row] = []

    mutating func add(_ table: ProjectionTables.Table, key: (inout [UInt8]) -> Void, value: (inout [UInt8]) -> Void) {
        var k: [UInt8] = [], v: [UInt8] = []
        key(&k)
        value(&v)
        rows.append(Row(table: table, key: k, value: v))
    }
}

/// The rows an org contributes to the views (all but `audit`), by the part of the state they render.
public enum RowSet {
    public enum Part: Hashable, Sendable {
        case profile  // orgs row and handles
        case member(UserID)
        case invitation(String)
        case apiKey(String)
    }

    /// Every part of an org (for a full render).
    static func allParts(_ org: OrgState) -> [Part] {
        [.profile] + org.members.keys.map(Part.member) + org.invitations.keys.map(Part.invitation) + org.apiKeys.keys.map(Part.apiKey)
    }

    /// The parts an event can change. Every event changes the org row (its version). Due entries live
    /// with what they are about (a pending invitation, a held handle, a pending deletion), so an event
    /// touches only its own — never a scan of the org.
    static func parts(touchedBy event: OrgEvent) -> [Part] {
        var parts: [Part] = [.profile]
        switch event {
        case .memberJoined(let user, _, _, _), .memberRoleChanged(let user, _, _), .memberSuspended(let user, _),
            .memberReinstated(let user, _), .memberRemoved(let user, _, _), .memberLeft(let user, _):
            parts.append(.member(user))
        case .invitationSent(let id, _, _, _), .invitationRevoked(let id, _, _), .invitationAccepted(let id, _),
            .invitationDeclined(let id, _), .invitationExpired(let id, _):
            parts.append(.invitation(id))
        case .apiKeyCreated(let id, _, _, _, _), .apiKeyRevoked(let id):
            parts.append(.apiKey(id))
        case .authReset, .orgCreated, .profileUpdated, .handleRenamed, .handleReleased, .deletionScheduled, .deletionCanceled:
            break
        case .memberDirectoryUpdated:
            break  // the member row shows no directory value (SCIM reads them from the store)
        case .purged:
            break  // handled as "the org leaves every view"
        }
        return parts
    }

    /// The key rows whose `status` an event can change (`APIKey.status(in:)`): the live keys of the
    /// member it is about, or of the whole org when its epoch or status changes. At most
    /// `Policy.maximumUnrevokedKeys`, so an event never renders an unbounded number of rows.
    static func keyParts(whoseStatusMayChange event: OrgEvent, in org: OrgState?) -> [Part] {
        guard let org else { return [] }
        switch event {
        case .memberRoleChanged(let user, _, _), .memberSuspended(let user, _), .memberReinstated(let user, _),
            .memberRemoved(let user, _, _), .memberLeft(let user, _):
            return org.liveKeys.filter { $0.createdBy == user }.map { .apiKey($0.id) }
        case .authReset, .deletionScheduled, .deletionCanceled:
            return org.liveKeys.map { .apiKey($0.id) }
        default:
            return []
        }
    }

    /// The rows of one part of a (live) org. A purged org has none.
    static func rows(_ part: Part, of org: OrgState?) -> [Row] {
        var list = RowList()
        if let org { render(part, of: org, into: &list) }
        return list.rows
    }

    /// Every row of an org (nothing for a purged one).
    static func allRows(of org: OrgState?, into sink: inout some RowSink) {
        guard let org, org.status != .purged else { return }
        profileRows(org, into: &sink)
        for member in org.members.values { memberRows(member, of: org, into: &sink) }
        for invitation in org.invitations.values { invitationRows(invitation, of: org, into: &sink) }
        for key in org.apiKeys.values { apiKeyRows(key, of: org, into: &sink) }
    }

    static func render(_ part: Part, of org: OrgState, into sink: inout some RowSink) {
        guard org.status != .purged else { return }
        switch part {
        case .profile: profileRows(org, into: &sink)
        case .member(let user): if let m = org.members[user] { memberRows(m, of: org, into: &sink) }
        case .invitation(let id): if let i = org.invitations[id] { invitationRows(i, of: org, into: &sink) }
        case .apiKey(let id): if let k = org.apiKeys[id] { apiKeyRows(k, of: org, into: &sink) }
        }
    }

    private static func profileRows(_ org: OrgState, into sink: inout some RowSink) {
        sink.add(.orgs, key: { $0.append(contentsOf: org.id.utf8) }, value: { Render.orgRow(org, into: &$0) })
        sink.add(.handles, key: { $0.append(contentsOf: org.handle.value.utf8) }, value: { Render.handleRow(orgID: org.id, heldUntil: nil, into: &$0) })
        for (handle, until) in org.heldHandles {
            sink.add(.handles, key: { $0.append(contentsOf: handle.value.utf8) }, value: { Render.handleRow(orgID: org.id, heldUntil: until, into: &$0) })
            sink.add(.due, key: { Keys.appendDue(until, org.id, "handle ", handle.value, to: &$0) })
        }
        if org.status == .pendingDeletion, let purgeAt = org.purgeAt {
            sink.add(.due, key: { Keys.appendDue(purgeAt, org.id, "purge", "", to: &$0) })
        }
    }

    private static func memberRows(_ m: Member, of org: OrgState, into sink: inout some RowSink) {
        sink.add(.members, key: { Keys.append(org.id, m.user.value, to: &$0) }, value: { Render.memberRow(m, into: &$0) })
        sink.add(.memberships, key: { Keys.append(m.user.value, org.id, to: &$0) }, raw: m.role.rawValue)
    }

    private static func invitationRows(_ i: Invitation, of org: OrgState, into sink: inout some RowSink) {
        sink.add(.invitations, key: { $0.append(contentsOf: i.id.utf8) }, value: { Render.invitationRow(i, orgID: org.id, into: &$0) })
        sink.add(.orgInvitations, key: { Keys.appendOrgInvitation(org.id, sentAt: i.sentAt, i.id, to: &$0) })
        if i.status == .pending {
            sink.add(.invitationsPending, key: { Keys.append(i.invitee.value, i.id, to: &$0) }, raw: org.id)
            sink.add(.due, key: { Keys.appendDue(i.expiresAt, org.id, "invitation ", i.id, to: &$0) })
        }
    }

    private static func apiKeyRows(_ k: APIKey, of org: OrgState, into sink: inout some RowSink) {
        sink.add(.apiKeys, key: { $0.append(contentsOf: k.id.utf8) }, value: { Render.apiKeyRow(k, of: org, into: &$0) })
        sink.add(.apiKeysByHash, key: { Keys.append(k.secretSHA256, k.id, to: &$0) }, raw: org.id)
        sink.add(.orgAPIKeys, key: { Keys.append(org.id, k.id, to: &$0) })
    }
}
