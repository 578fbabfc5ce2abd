import EventLog
import LedgerCore
import OrgDomain

/// Writes one JSON object, whose members the caller gives in sorted order, at the end of a buffer.
struct RowWriter {
    private var out: [UInt8] = []
    private var first = true

    /// Takes `buffer` over until `finish(into:)` hands it back with the object appended.
    init(appendingTo buffer: inout [UInt8]) {
        swap(&out, &buffer)
        out.append(UInt8(ascii: "{"))
    }

    private mutating func key(_ name: StaticString) {
        if !first { out.append(UInt8(ascii: ",")) }
        first = false
        out.append(UInt8(ascii: "\""))
        out.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
        out.append(contentsOf: "\":".utf8)
    }

    mutating func string(_ name: StaticString, _ value: String) {
        key(name)
        CanonicalJSON.writeString(value, into: &out)
    }

    mutating func optionalString(_ name: StaticString, _ value: String?) {
        if let value { string(name, value) } else { key(name); out.append(contentsOf: "null".utf8) }
    }

    mutating func int(_ name: StaticString, _ value: Int64) {
        key(name)
        CanonicalJSON.writeDigits(value, into: &out)
    }

    mutating func bool(_ name: StaticString, _ value: Bool) {
        key(name)
        out.append(contentsOf: (value ? "true" : "false").utf8)
    }

    mutating func time(_ name: StaticString, _ value: Timestamp?) {
        key(name)
        if let value {
            out.append(UInt8(ascii: "\""))
            value.appendRFC3339(to: &out)
            out.append(UInt8(ascii: "\""))
        } else {
            out.append(contentsOf: "null".utf8)
        }
    }

    mutating func finish(into buffer: inout [UInt8]) {
        out.append(UInt8(ascii: "}"))
        swap(&out, &buffer)
    }
}

/// One row of one table: what the projector writes, rebuild writes and verify compares.
public struct Row: Sendable, Hashable {
    public let table: ProjectionTables.Table
    public let key: [UInt8]
    public let value: [UInt8]

    /// A readable name for messages: `members[org_x/ada@example.com]`.
    public var name: String { "\(table.rawValue)[\(RowNames.describe(key))]" }
}

enum RowNames {
    static func describe(_ key: [UInt8]) -> String {
        if key.count >= 9, key[key.count - 9] == 0 {  // org ‖ 0 ‖ seq
            let seq = Keys.readBE64(key.withUnsafeBytes { UnsafeRawBufferPointer(rebasing: $0[(key.count - 8)...]) })
            return String(decoding: key[..<(key.count - 9)], as: UTF8.self) + "/seq \(seq)"
        }
        return String(decoding: key.map { $0 == 0 ? UInt8(ascii: "/") : $0 }, as: UTF8.self)
    }
}

/// How each view renders the domain state. Row values are canonical JSON in the API's field names, so
/// the HTTP layer can answer straight from them.
public enum Render {
    /// A row rendered into a fresh buffer.
    static func rendered(_ write: (inout [UInt8]) -> Void) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        write(&out)
        return out
    }

    // Rows are written straight into canonical JSON: members in sorted order by hand (checked against
    // the generic encoder in ProjectionsTests), no intermediate JSONValue. This is the rebuild's hot path.

    public static func orgRow(_ org: OrgState) -> [UInt8] { rendered { orgRow(org, into: &$0) } }

    static func orgRow(_ org: OrgState, into out: inout [UInt8]) {
        var w = RowWriter(appendingTo: &out)
        w.int("auth_epoch", Int64(org.authEpoch))
        w.optionalString("avatar_url", org.avatarURL)
        w.time("created_at", org.createdAt)
        w.time("deletion_scheduled_at", org.deletionScheduledAt)
        w.string("display_name", org.displayName)
        w.string("handle", org.handle.value)
        w.string("id", org.id)
        w.int("member_count", Int64(org.members.count))
        w.time("purge_at", org.purgeAt)
        w.string("status", org.status.rawValue)
        w.int("version", Int64(org.version))
        w.finish(into: &out)
    }

    /// The `version` of an org row without parsing it: the row is canonical, so `version` is its last
    /// member (`…,"version":N}`).
    public static func version(ofOrgRow row: [UInt8]) -> UInt64? {
        guard row.last == UInt8(ascii: "}") else { return nil }
        var value: UInt64 = 0, scale: UInt64 = 1, i = row.count - 2
        while i >= 0, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(row[i]) {
            value += UInt64(row[i] - UInt8(ascii: "0")) * scale
            scale *= 10
            i -= 1
        }
        let key = Array(#""version":"#.utf8)
        guard scale > 1, i + 1 >= key.count, Array(row[(i + 1 - key.count)...i]) == key else { return nil }
        return value
    }

    public static func memberRow(_ m: Member) -> [UInt8] { rendered { memberRow(m, into: &$0) } }

    static func memberRow(_ m: Member, into out: inout [UInt8]) {
        var w = RowWriter(appendingTo: &out)
        w.string("email", m.email.value)
        w.optionalString("invited_by", m.invitedBy?.value)
        w.time("joined_at", m.joinedAt)
        w.string("role", m.role.rawValue)
        w.string("status", m.status.rawValue)
        w.finish(into: &out)
    }

    public static func invitationRow(_ i: Invitation, orgID: String) -> [UInt8] { rendered { invitationRow(i, orgID: orgID, into: &$0) } }

    static func invitationRow(_ i: Invitation, orgID: String, into out: inout [UInt8]) {
        var w = RowWriter(appendingTo: &out)
        w.string("email", i.email.value)
        w.time("expires_at", i.expiresAt)
        w.string("id", i.id)
        w.string("invited_by", i.invitedBy.value)
        w.string("org_id", orgID)
        w.string("role", i.role.rawValue)
        w.time("sent_at", i.sentAt)
        w.string("status", i.status.rawValue)
        w.finish(into: &out)
    }

    public static func apiKeyRow(_ k: APIKey, of org: OrgState) -> [UInt8] { rendered { apiKeyRow(k, of: org, into: &$0) } }

    /// `status` (`active|revoked|void`) and `void_reason` come from `APIKey.status(in:)`; the projector
    /// re-renders a key's row whenever an event can change them (`RowSet.keyParts`).
    static func apiKeyRow(_ k: APIKey, of org: OrgState, into out: inout [UInt8]) {
        let status = k.status(in: org)
        var w = RowWriter(appendingTo: &out)
        w.int("auth_epoch", Int64(k.authEpoch))
        w.time("created_at", k.createdAt)
        w.string("created_by", k.createdBy.value)
        w.string("id", k.id)
        w.string("name", k.name)
        w.string("org_id", org.id)
        w.string("role", k.role.rawValue)
        w.string("status", status.name)
        w.optionalString("void_reason", status.voidReason?.rawValue)
        w.finish(into: &out)
    }

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

    /// The audit view of one event: who did what to whom, when, with the event's data and meta —
    /// `{action, actor, at, data, meta, seq, target}`, spliced from the stored canonical bytes (no
    /// re-encoding, so the live projector and every replay produce the same bytes cheaply).
    public static func auditRow(_ bytes: UnsafeRawBufferPointer, _ view: EnvelopeView, target: String?) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 64)
        out.append(contentsOf: #"{"action":"#.utf8)
        CanonicalJSON.writeString(view.type, into: &out)
        out.append(contentsOf: #","actor":"#.utf8)
        out.append(contentsOf: bytes[view.actorRange])
        out.append(contentsOf: #","at":"#.utf8)
        out.append(contentsOf: bytes[view.atRange])
        out.append(contentsOf: #","data":"#.utf8)
        out.append(contentsOf: bytes[view.dataRange])
        out.append(contentsOf: #","meta":"#.utf8)
        out.append(contentsOf: bytes[view.metaRange])
        out.append(contentsOf: #","seq":"#.utf8)
        out.append(contentsOf: String(view.seq).utf8)
        out.append(contentsOf: #","target":"#.utf8)
        if let target { CanonicalJSON.writeString(target, into: &out) } else { out.append(contentsOf: "null".utf8) }
        out.append(UInt8(ascii: "}"))
        return out
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

    /// What an event acts on, for the audit filter `target=`.
    public static func target(of event: OrgEvent, orgID: String) -> String? {
        switch event {
        case .memberJoined(let email, _, _, _), .memberRoleChanged(let email, _, _), .memberSuspended(let email, _),
            .memberReinstated(let email, _), .memberRemoved(let email, _), .memberLeft(let email, _),
            .invitationSent(_, let email, _, _), .invitationRevoked(_, let email, _), .invitationAccepted(_, let email),
            .invitationDeclined(_, let email), .invitationExpired(_, let email):
            return email.value
        case .apiKeyCreated(let keyID, _, _, _, _), .apiKeyRevoked(let keyID):
            return keyID
        case .handleRenamed(_, let to, _):
            return to.value
        case .handleReleased(let handle):
            return handle.value
        case .orgCreated, .profileUpdated, .authReset, .deletionScheduled, .deletionCanceled, .purged:
            return orgID
        }
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
        case member(Email)
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
        case .memberJoined(let email, _, _, _), .memberRoleChanged(let email, _, _), .memberSuspended(let email, _),
            .memberReinstated(let email, _), .memberRemoved(let email, _), .memberLeft(let email, _):
            parts.append(.member(email))
        case .invitationSent(let id, _, _, _), .invitationRevoked(let id, _, _), .invitationAccepted(let id, _),
            .invitationDeclined(let id, _), .invitationExpired(let id, _):
            parts.append(.invitation(id))
        case .apiKeyCreated(let id, _, _, _, _), .apiKeyRevoked(let id):
            parts.append(.apiKey(id))
        case .authReset, .orgCreated, .profileUpdated, .handleRenamed, .handleReleased, .deletionScheduled, .deletionCanceled:
            break
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
        case .memberRoleChanged(let email, _, _), .memberSuspended(let email, _), .memberReinstated(let email, _),
            .memberRemoved(let email, _), .memberLeft(let email, _):
            return org.liveKeys.filter { $0.createdBy == email }.map { .apiKey($0.id) }
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
        case .member(let email): if let m = org.members[email] { memberRows(m, of: org, into: &sink) }
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
        sink.add(.members, key: { Keys.append(org.id, m.email.value, to: &$0) }, value: { Render.memberRow(m, into: &$0) })
        sink.add(.memberships, key: { Keys.append(m.email.value, org.id, to: &$0) }, raw: m.role.rawValue)
    }

    private static func invitationRows(_ i: Invitation, of org: OrgState, into sink: inout some RowSink) {
        sink.add(.invitations, key: { $0.append(contentsOf: i.id.utf8) }, value: { Render.invitationRow(i, orgID: org.id, into: &$0) })
        sink.add(.orgInvitations, key: { Keys.appendOrgInvitation(org.id, sentAt: i.sentAt, i.id, to: &$0) })
        if i.status == .pending {
            sink.add(.invitationsPending, key: { Keys.append(i.email.value, i.id, to: &$0) }, raw: org.id)
            sink.add(.due, key: { Keys.appendDue(i.expiresAt, org.id, "invitation ", i.id, to: &$0) })
        }
    }

    private static func apiKeyRows(_ k: APIKey, of org: OrgState, into sink: inout some RowSink) {
        sink.add(.apiKeys, key: { $0.append(contentsOf: k.id.utf8) }, value: { Render.apiKeyRow(k, of: org, into: &$0) })
        sink.add(.apiKeysByHash, key: { Keys.append(k.secretSHA256, k.id, to: &$0) }, raw: org.id)
        sink.add(.orgAPIKeys, key: { Keys.append(org.id, k.id, to: &$0) })
    }
}
