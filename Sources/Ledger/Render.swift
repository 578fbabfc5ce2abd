import LedgerCore
import OrgDomain

/// Writes one JSON object, whose members the caller gives in sorted order, at the end of a buffer.
package struct RowWriter {
    private var out: [UInt8] = []
    private var first = true

    /// Takes `buffer` over until `finish(into:)` hands it back with the object appended.
    package init(appendingTo buffer: inout [UInt8]) {
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

    package mutating func string(_ name: StaticString, _ value: String) {
        key(name)
        CanonicalJSON.writeString(value, into: &out)
    }

    package mutating func optionalString(_ name: StaticString, _ value: String?) {
        if let value { string(name, value) } else { key(name); out.append(contentsOf: "null".utf8) }
    }

    package mutating func int(_ name: StaticString, _ value: Int64) {
        key(name)
        CanonicalJSON.writeDigits(value, into: &out)
    }

    package mutating func bool(_ name: StaticString, _ value: Bool) {
        key(name)
        out.append(contentsOf: (value ? "true" : "false").utf8)
    }

    package mutating func time(_ name: StaticString, _ value: Timestamp?) {
        key(name)
        if let value {
            out.append(UInt8(ascii: "\""))
            value.appendRFC3339(to: &out)
            out.append(UInt8(ascii: "\""))
        } else {
            out.append(contentsOf: "null".utf8)
        }
    }

    package mutating func finish(into buffer: inout [UInt8]) {
        out.append(UInt8(ascii: "}"))
        swap(&out, &buffer)
    }
}

/// How each view renders the domain state. Row values are canonical JSON in the API's field names, so
/// the HTTP layer can answer straight from them.
public enum Render {
    /// A row rendered into a fresh buffer.
    package static func rendered(_ write: (inout [UInt8]) -> Void) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        write(&out)
        return out
    }

    // Rows are written straight into canonical JSON: members in sorted order by hand (checked against
    // the generic encoder in ProjectionsTests), no intermediate JSONValue. This is the rebuild's hot path.

    public static func orgRow(_ org: OrgState) -> [UInt8] { rendered { orgRow(org, into: &$0) } }

    package static func orgRow(_ org: OrgState, into out: inout [UInt8]) {
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

    package static func memberRow(_ m: Member, into out: inout [UInt8]) {
        var w = RowWriter(appendingTo: &out)
        w.optionalString("invited_by", m.invitedBy?.value)
        w.time("joined_at", m.joinedAt)
        w.string("role", m.role.rawValue)
        w.string("status", m.status.rawValue)
        w.string("user_id", m.user.value)
        w.finish(into: &out)
    }

    public static func invitationRow(_ i: Invitation, orgID: String) -> [UInt8] { rendered { invitationRow(i, orgID: orgID, into: &$0) } }

    package static func invitationRow(_ i: Invitation, orgID: String, into out: inout [UInt8]) {
        var w = RowWriter(appendingTo: &out)
        w.time("expires_at", i.expiresAt)
        w.string("id", i.id)
        w.string("invited_by", i.invitedBy.value)
        w.string("org_id", orgID)
        w.string("role", i.role.rawValue)
        w.time("sent_at", i.sentAt)
        w.string("status", i.status.rawValue)
        w.string("user_id", i.invitee.value)
        w.finish(into: &out)
    }

    public static func apiKeyRow(_ k: APIKey, of org: OrgState) -> [UInt8] { rendered { apiKeyRow(k, of: org, into: &$0) } }

    /// `status` (`active|revoked|void`) and `void_reason` come from `APIKey.status(in:)`; the projector
    /// re-renders a key's row whenever an event can change them (`RowSet.keyParts`).
    package static func apiKeyRow(_ k: APIKey, of org: OrgState, into out: inout [UInt8]) {
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

    /// What an event acts on, for the audit filter `target=`.
    public static func target(of event: OrgEvent, orgID: String) -> String? {
        switch event {
        case .memberJoined(let user, _, _, _), .memberRoleChanged(let user, _, _), .memberSuspended(let user, _),
            .memberReinstated(let user, _), .memberRemoved(let user, _, _), .memberLeft(let user, _), .memberDirectoryUpdated(let user, _),
            .invitationSent(_, let user, _, _), .invitationRevoked(_, let user, _), .invitationAccepted(_, let user),
            .invitationDeclined(_, let user), .invitationExpired(_, let user):
            return user.value
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

