import EventLog
import LedgerCore
import OrgDomain

/// One row of one table: what the projector writes, rebuild writes and verify compares.
public struct Row: Sendable, Hashable, Comparable {
    public let table: ProjectionTables.Table
    public let key: [UInt8]
    public let value: [UInt8]

    public static func < (a: Row, b: Row) -> Bool {
        a.table != b.table ? a.table < b.table : a.key.lexicographicallyPrecedes(b.key)
    }

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
    static func encode(_ value: JSONValue) -> [UInt8] {
        // Rows hold only strings, small integers, booleans and nulls: encoding cannot fail.
        (try? CanonicalJSON.encode(value)) ?? []
    }

    static func time(_ t: Timestamp?) -> JSONValue { t.map { .string($0.rfc3339) } ?? .null }

    public static func org(_ org: OrgState) -> JSONValue {
        [
            "id": .string(org.id), "handle": .string(org.handle.value), "display_name": .string(org.displayName),
            "avatar_url": org.avatarURL.map(JSONValue.string) ?? .null, "status": .string(org.status.rawValue),
            "auth_epoch": .int(Int64(org.authEpoch)), "created_at": time(org.createdAt), "version": .int(Int64(org.version)),
            "member_count": .int(Int64(org.members.count)), "deletion_scheduled_at": time(org.deletionScheduledAt),
            "purge_at": time(org.purgeAt),
        ]
    }

    public static func member(_ m: Member) -> JSONValue {
        [
            "email": .string(m.email.value), "role": .string(m.role.rawValue), "status": .string(m.status.rawValue),
            "joined_at": time(m.joinedAt), "invited_by": m.invitedBy.map { .string($0.value) } ?? .null,
        ]
    }

    public static func invitation(_ i: Invitation, orgID: String) -> JSONValue {
        [
            "id": .string(i.id), "org_id": .string(orgID), "email": .string(i.email.value), "role": .string(i.role.rawValue),
            "invited_by": .string(i.invitedBy.value), "sent_at": time(i.sentAt), "expires_at": time(i.expiresAt),
            "status": .string(i.status.rawValue),
        ]
    }

    public static func apiKey(_ k: APIKey, orgID: String) -> JSONValue {
        [
            "id": .string(k.id), "org_id": .string(orgID), "name": .string(k.name), "role": .string(k.role.rawValue),
            "created_by": .string(k.createdBy.value), "created_at": time(k.createdAt), "revoked": .bool(k.revoked),
            "auth_epoch": .int(Int64(k.authEpoch)),
        ]
    }

    /// The audit view of one event: who did what to whom, when, with the event's data and meta.
    public static func audit(_ envelope: EventEnvelope, _ event: OrgEvent) -> JSONValue {
        [
            "seq": .int(Int64(envelope.seq)), "at": .string(envelope.at.rfc3339), "actor": .string(envelope.actor),
            "action": .string(envelope.type), "target": target(of: event, orgID: envelope.stream).map(JSONValue.string) ?? .null,
            "data": envelope.data, "meta": envelope.meta.json,
        ]
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

/// The rows an org contributes to the views (all but `audit`), by the part of the state they render.
enum RowSet {
    enum Part: Hashable {
        case profile  // orgs row and handles
        case member(Email)
        case invitation(String)
        case apiKey(String)
        case due
    }

    /// Every part of an org (for a full render).
    static func allParts(_ org: OrgState) -> [Part] {
        [.profile, .due] + org.members.keys.map(Part.member) + org.invitations.keys.map(Part.invitation) + org.apiKeys.keys.map(Part.apiKey)
    }

    /// The parts an event can change. Every event changes the org row (its version) and may move the
    /// next due time.
    static func parts(touchedBy event: OrgEvent) -> [Part] {
        var parts: [Part] = [.profile, .due]
        switch event {
        case .memberJoined(let email, _, _, _), .memberRoleChanged(let email, _, _), .memberSuspended(let email, _),
            .memberReinstated(let email, _), .memberRemoved(let email, _), .memberLeft(let email, _):
            parts.append(.member(email))
            // Creator-dependent key validity is computed at verify time; key rows do not change.
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

    /// The rows of one part of a (live) org. A purged org has none.
    static func rows(_ part: Part, of org: OrgState?) -> [Row] {
        guard let org, org.status != .purged else { return [] }
        switch part {
        case .profile:
            var rows = [Row(table: .orgs, key: Array(org.id.utf8), value: Render.encode(Render.org(org)))]
            rows.append(Row(table: .handles, key: Array(org.handle.value.utf8), value: Render.encode(["org_id": .string(org.id), "held_until": .null])))
            for (handle, until) in org.heldHandles {
                rows.append(Row(table: .handles, key: Array(handle.value.utf8), value: Render.encode(["org_id": .string(org.id), "held_until": .string(until.rfc3339)])))
            }
            return rows
        case .member(let email):
            guard let m = org.members[email] else { return [] }
            return [Row(table: .members, key: Keys.member(org.id, email.value), value: Render.encode(Render.member(m)))]
        case .invitation(let id):
            guard let i = org.invitations[id] else { return [] }
            var rows = [Row(table: .invitations, key: Array(id.utf8), value: Render.encode(Render.invitation(i, orgID: org.id)))]
            if i.status == .pending {
                rows.append(Row(table: .invitationsPending, key: Keys.pending(i.email.value, id), value: Array(org.id.utf8)))
            }
            return rows
        case .apiKey(let id):
            guard let k = org.apiKeys[id] else { return [] }
            return [
                Row(table: .apiKeys, key: Array(id.utf8), value: Render.encode(Render.apiKey(k, orgID: org.id))),
                Row(table: .apiKeysByHash, key: Keys.joined(k.secretSHA256, id), value: Array(org.id.utf8)),
            ]
        case .due:
            guard let next = nextDueTime(org) else { return [] }
            return [Row(table: .due, key: Keys.due(next, org.id), value: [])]
        }
    }

    static func allRows(of org: OrgState?) -> [Row] {
        guard let org else { return [] }
        return allParts(org).flatMap { rows($0, of: org) }
    }
}

extension EventEnvelope {
    /// The domain event and its context, read from a stored envelope.
    public func orgEvent() throws -> (OrgEvent, EventContext) {
        let event = try OrgEvent(type: type, data: data)
        let actor: Actor = actor == "system" ? .system : .user(Email(trusted: actor))
        return (event, EventContext(at: at, actor: actor, version: version))
    }
}
