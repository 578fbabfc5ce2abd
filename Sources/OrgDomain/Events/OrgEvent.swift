import LedgerCore

/// Every event type of product spec §4 (plus `org.handle_released`, see below), with its `data`.
///
/// The JSON field names here are the contract: `schemas/events/<type>.schema.json` describes each, and a
/// test validates every event the domain produces against them.
public enum OrgEvent: Sendable, Hashable {
    case orgCreated(orgID: String, handle: Handle, displayName: String, avatarURL: String?)
    /// Only the fields that changed, each with its value before and after.
    case profileUpdated(displayName: ValueChange<String>?, avatarURL: ValueChange<String?>?)
    /// The old handle stays held by this org until `heldUntil` (30 days).
    case handleRenamed(from: Handle, to: Handle, heldUntil: Timestamp)
    /// Not in the spec's list: appended by the service (actor `system`) when a former handle's 30-day hold
    /// ends, so the release is in the log rather than implied by the clock (issue #4's due events).
    case handleReleased(handle: Handle)
    case invitationSent(invitationID: String, user: UserID, role: Role, expiresAt: Timestamp)
    case invitationRevoked(invitationID: String, user: UserID, reason: RevocationReason)
    case invitationAccepted(invitationID: String, user: UserID)
    case invitationDeclined(invitationID: String, user: UserID)
    case invitationExpired(invitationID: String, user: UserID)
    case memberJoined(user: UserID, role: Role, invitedBy: UserID?, invitationID: String?)
    case memberRoleChanged(user: UserID, from: Role, to: Role)
    case memberSuspended(user: UserID, role: Role)
    case memberReinstated(user: UserID, role: Role)
    case memberRemoved(user: UserID, role: Role, reason: RemovalReason)
    case memberLeft(user: UserID, role: Role)
    /// What the org's identity provider keeps about the member (SCIM, product spec §10), as commitments:
    /// the whole profile each time (a field absent is null). The values belong to the member and go at
    /// the user's erasure; when the membership ends, the `userName` is freed in the org.
    case memberDirectoryUpdated(user: UserID, profile: CommittedDirectoryProfile)
    /// `secretSHA256` is the lower-case hex SHA-256 of the secret; the secret is never in an event.
    case apiKeyCreated(keyID: String, name: String, role: Role, secretSHA256: String, authEpoch: Int)
    case apiKeyRevoked(keyID: String)
    /// Raises the org's auth epoch; lists the keys that were valid and are now void.
    case authReset(authEpoch: Int, voidedKeys: [String])
    case deletionScheduled(purgeAt: Timestamp)
    case deletionCanceled
    case purged(handle: Handle)

    public enum RevocationReason: String, Sendable, Hashable {
        /// Revoked by a member with the right to.
        case revoked
        /// Replaced by a new invitation to the same person.
        case replaced
        /// The invitee's account deletion ran out its 30 days (actor `system`).
        case accountDeleted = "account_deleted"
        /// The identity provider made the invitee a member directly (SCIM `POST /Users`).
        case provisioned
    }

    public enum RemovalReason: String, Sendable, Hashable {
        /// Removed by a member with the right to.
        case removed
        /// The user's account deletion ran out its 30 days (actor `system`, product spec §7).
        case accountDeleted = "account_deleted"
    }

    public struct ValueChange<Value: Sendable & Hashable>: Sendable, Hashable {
        public let from: Value
        public let to: Value
        public init(from: Value, to: Value) {
            self.from = from
            self.to = to
        }
    }

    /// Every type name, in the order of product spec §4, plus `org.handle_released`.
    public static let allTypes = [
        "org.created", "org.profile_updated", "org.handle_renamed", "org.handle_released",
        "invitation.sent", "invitation.revoked", "invitation.accepted", "invitation.declined", "invitation.expired",
        "member.joined", "member.role_changed", "member.suspended", "member.reinstated", "member.removed", "member.left", "member.directory_updated",
        "api_key.created", "api_key.revoked", "org.auth_reset", "org.deletion_scheduled", "org.deletion_canceled", "org.purged",
    ]


    public var type: String {
        switch self {
        case .orgCreated: "org.created"
        case .profileUpdated: "org.profile_updated"
        case .handleRenamed: "org.handle_renamed"
        case .handleReleased: "org.handle_released"
        case .invitationSent: "invitation.sent"
        case .invitationRevoked: "invitation.revoked"
        case .invitationAccepted: "invitation.accepted"
        case .invitationDeclined: "invitation.declined"
        case .invitationExpired: "invitation.expired"
        case .memberJoined: "member.joined"
        case .memberRoleChanged: "member.role_changed"
        case .memberSuspended: "member.suspended"
        case .memberReinstated: "member.reinstated"
        case .memberRemoved: "member.removed"
        case .memberLeft: "member.left"
        case .memberDirectoryUpdated: "member.directory_updated"
        case .apiKeyCreated: "api_key.created"
        case .apiKeyRevoked: "api_key.revoked"
        case .authReset: "org.auth_reset"
        case .deletionScheduled: "org.deletion_scheduled"
        case .deletionCanceled: "org.deletion_canceled"
        case .purged: "org.purged"
        }
    }

    /// The event's `data` object.
    public var data: JSONValue {
        switch self {
        case .orgCreated(let orgID, let handle, let displayName, let avatarURL):
            return ["org_id": .string(orgID), "handle": .string(handle.value), "display_name": .string(displayName), "avatar_url": avatarURL.map(JSONValue.string) ?? .null]
        case .profileUpdated(let displayName, let avatarURL):
            var changes: [String: JSONValue] = [:]
            if let displayName { changes["display_name"] = ["from": .string(displayName.from), "to": .string(displayName.to)] }
            if let avatarURL {
                changes["avatar_url"] = ["from": avatarURL.from.map(JSONValue.string) ?? .null, "to": avatarURL.to.map(JSONValue.string) ?? .null]
            }
            return ["changes": .object(changes)]
        case .handleRenamed(let from, let to, let heldUntil):
            return ["from": .string(from.value), "to": .string(to.value), "held_until": .string(heldUntil.rfc3339)]
        case .handleReleased(let handle):
            return ["handle": .string(handle.value)]
        case .invitationSent(let id, let user, let role, let expiresAt):
            return ["invitation_id": .string(id), "user_id": .string(user.value), "role": .string(role.rawValue), "expires_at": .string(expiresAt.rfc3339)]
        case .invitationRevoked(let id, let user, let reason):
            return ["invitation_id": .string(id), "user_id": .string(user.value), "reason": .string(reason.rawValue)]
        case .invitationAccepted(let id, let user), .invitationDeclined(let id, let user), .invitationExpired(let id, let user):
            return ["invitation_id": .string(id), "user_id": .string(user.value)]
        case .memberJoined(let user, let role, let invitedBy, let invitationID):
            return ["user_id": .string(user.value), "role": .string(role.rawValue), "invited_by": invitedBy.map { .string($0.value) } ?? .null, "invitation_id": invitationID.map(JSONValue.string) ?? .null]
        case .memberRoleChanged(let user, let from, let to):
            return ["user_id": .string(user.value), "from": .string(from.rawValue), "to": .string(to.rawValue)]
        case .memberRemoved(let user, let role, let reason):
            return ["user_id": .string(user.value), "role": .string(role.rawValue), "reason": .string(reason.rawValue)]
        case .memberSuspended(let user, let role), .memberReinstated(let user, let role), .memberLeft(let user, let role):
            return ["user_id": .string(user.value), "role": .string(role.rawValue)]
        case .memberDirectoryUpdated(let user, let profile):
            var members: [String: JSONValue] = ["user_id": .string(user.value)]
            for (field, value) in profile.fields { members[field] = value?.json ?? .null }
            return .object(members)
        case .apiKeyCreated(let keyID, let name, let role, let secretSHA256, let authEpoch):
            return ["key_id": .string(keyID), "name": .string(name), "role": .string(role.rawValue), "secret_sha256": .string(secretSHA256), "auth_epoch": .int(Int64(authEpoch))]
        case .apiKeyRevoked(let keyID):
            return ["key_id": .string(keyID)]
        case .authReset(let authEpoch, let voidedKeys):
            return ["auth_epoch": .int(Int64(authEpoch)), "voided_keys": .array(voidedKeys.map(JSONValue.string))]
        case .deletionScheduled(let purgeAt):
            return ["purge_at": .string(purgeAt.rfc3339)]
        case .deletionCanceled:
            return [:]
        case .purged(let handle):
            return ["handle": .string(handle.value)]
        }
    }

    /// Reads an event back from its type and data (as stored). Throws on anything it does not know.
    public init(type: String, data: JSONValue) throws(EventDecodingError) {
        try self.init(type: type, members: data.objectValue.map { Array($0) } ?? [])
    }

    /// Reads an event back from its type and its data's members (as `EnvelopeView.dataMembers` gives
    /// them: no dictionary). The replay fast path.
    public init(type: String, members: [(String, JSONValue)]) throws(EventDecodingError) {
        let r = DataReader(type: type, members: members)
        switch type {
        case "org.created":
            self = .orgCreated(orgID: try r.string("org_id"), handle: Handle(trusted: try r.string("handle")), displayName: try r.string("display_name"), avatarURL: try r.optionalString("avatar_url"))
        case "org.profile_updated":
            let changes = try r.object("changes")
            let c = DataReader(type: type, data: .object(changes))
            let dn = try c.optionalObject("display_name").map { o throws(EventDecodingError) in
                let d = DataReader(type: type, data: .object(o))
                return ValueChange(from: try d.string("from"), to: try d.string("to"))
            }
            let av = try c.optionalObject("avatar_url").map { o throws(EventDecodingError) in
                let d = DataReader(type: type, data: .object(o))
                return ValueChange(from: try d.optionalString("from"), to: try d.optionalString("to"))
            }
            self = .profileUpdated(displayName: dn, avatarURL: av)
        case "org.handle_renamed":
            self = .handleRenamed(from: Handle(trusted: try r.string("from")), to: Handle(trusted: try r.string("to")), heldUntil: try r.time("held_until"))
        case "org.handle_released":
            self = .handleReleased(handle: Handle(trusted: try r.string("handle")))
        case "invitation.sent":
            self = .invitationSent(invitationID: try r.string("invitation_id"), user: try r.user("user_id"), role: try r.role("role"), expiresAt: try r.time("expires_at"))
        case "invitation.revoked":
            guard let reason = RevocationReason(rawValue: try r.string("reason")) else { throw r.error("reason is unknown") }
            self = .invitationRevoked(invitationID: try r.string("invitation_id"), user: try r.user("user_id"), reason: reason)
        case "invitation.accepted":
            self = .invitationAccepted(invitationID: try r.string("invitation_id"), user: try r.user("user_id"))
        case "invitation.declined":
            self = .invitationDeclined(invitationID: try r.string("invitation_id"), user: try r.user("user_id"))
        case "invitation.expired":
            self = .invitationExpired(invitationID: try r.string("invitation_id"), user: try r.user("user_id"))
        case "member.joined":
            self = .memberJoined(user: try r.user("user_id"), role: try r.role("role"), invitedBy: try r.optionalString("invited_by").map(UserID.init(trusted:)), invitationID: try r.optionalString("invitation_id"))
        case "member.role_changed":
            self = .memberRoleChanged(user: try r.user("user_id"), from: try r.role("from"), to: try r.role("to"))
        case "member.suspended":
            self = .memberSuspended(user: try r.user("user_id"), role: try r.role("role"))
        case "member.reinstated":
            self = .memberReinstated(user: try r.user("user_id"), role: try r.role("role"))
        case "member.removed":
            guard let reason = RemovalReason(rawValue: try r.string("reason")) else { throw r.error("reason is unknown") }
            self = .memberRemoved(user: try r.user("user_id"), role: try r.role("role"), reason: reason)
        case "member.left":
            self = .memberLeft(user: try r.user("user_id"), role: try r.role("role"))
        case "member.directory_updated":
            func personal(_ key: String, required: Bool = false) throws(EventDecodingError) -> PersonalValue? {
                guard let value = r.members[key], value != .null else {
                    if required { throw r.error("\(key) is missing") }
                    return nil
                }
                do { return try PersonalValue(json: value) } catch { throw r.error("\(key): \(error.message)") }
            }
            let profile = CommittedDirectoryProfile(
                userName: try personal("user_name", required: true)!, externalID: try personal("external_id"), displayName: try personal("display_name"),
                name: try personal("name"))
            self = .memberDirectoryUpdated(user: try r.user("user_id"), profile: profile)
        case "api_key.created":
            self = .apiKeyCreated(keyID: try r.string("key_id"), name: try r.string("name"), role: try r.role("role"), secretSHA256: try r.string("secret_sha256"), authEpoch: try r.int("auth_epoch"))
        case "api_key.revoked":
            self = .apiKeyRevoked(keyID: try r.string("key_id"))
        case "org.auth_reset":
            self = .authReset(authEpoch: try r.int("auth_epoch"), voidedKeys: try r.strings("voided_keys"))
        case "org.deletion_scheduled":
            self = .deletionScheduled(purgeAt: try r.time("purge_at"))
        case "org.deletion_canceled":
            self = .deletionCanceled
        case "org.purged":
            self = .purged(handle: Handle(trusted: try r.string("handle")))
        default:
            throw EventDecodingError(type: type, message: "unknown event type")
        }
    }

    /// The personal values this event commits to, by their pointers into the envelope, and whose they
    /// are (what an erasure of that user deletes).
    public var personalValues: (owner: UserID, values: [Disclosure])? {
        guard case .memberDirectoryUpdated(let user, let profile) = self else { return nil }
        return (user, profile.fields.compactMap { field, value in value.map { Disclosure(pointer: "/data/\(field)", value: $0) } })
    }

    /// The event ready for the log.
    public func newEvent(at: Timestamp, actor: Actor, meta: EventMeta = EventMeta()) -> NewEvent {
        NewEvent(type: type, at: at, actor: actor.description, data: data, meta: meta)
    }
}

public struct EventDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    public let type: String
    public let message: String
    public var description: String { "cannot read \(type): \(message)" }
}

/// Typed access to an event's `data` with errors that name the field.
struct DataReader {
    let type: String
    /// Event data has a handful of members: a linear search beats hashing.
    let pairs: [(String, JSONValue)]

    init(type: String, data: JSONValue) {
        self.init(type: type, members: data.objectValue.map { Array($0) } ?? [])
    }

    init(type: String, members: [(String, JSONValue)]) {
        self.type = type
        self.pairs = members
    }

    struct Lookup {
        let pairs: [(String, JSONValue)]
        subscript(key: String) -> JSONValue? {
            for pair in pairs where pair.0 == key { return pair.1 }
            return nil
        }
    }

    var members: Lookup { Lookup(pairs: pairs) }

    func error(_ message: String) -> EventDecodingError { EventDecodingError(type: type, message: message) }

    func string(_ key: String) throws(EventDecodingError) -> String {
        guard case .string(let s)? = members[key] else { throw error("\(key) is missing or not a string") }
        return s
    }

    func optionalString(_ key: String) throws(EventDecodingError) -> String? {
        switch members[key] {
        case .string(let s)?: return s
        case .null?, nil: return nil
        default: throw error("\(key) is not a string or null")
        }
    }

    func int(_ key: String) throws(EventDecodingError) -> Int {
        guard case .int(let n)? = members[key] else { throw error("\(key) is missing or not an integer") }
        return Int(n)
    }

    func strings(_ key: String) throws(EventDecodingError) -> [String] {
        guard case .array(let items)? = members[key] else { throw error("\(key) is missing or not an array") }
        var out: [String] = []
        for item in items {
            guard case .string(let s) = item else { throw error("\(key) holds a non-string") }
            out.append(s)
        }
        return out
    }

    func object(_ key: String) throws(EventDecodingError) -> [String: JSONValue] {
        guard case .object(let o)? = members[key] else { throw error("\(key) is missing or not an object") }
        return o
    }

    func optionalObject(_ key: String) throws(EventDecodingError) -> [String: JSONValue]? {
        switch members[key] {
        case .object(let o)?: return o
        case nil: return nil
        default: throw error("\(key) is not an object")
        }
    }

    func user(_ key: String) throws(EventDecodingError) -> UserID { UserID(trusted: try string(key)) }

    func role(_ key: String) throws(EventDecodingError) -> Role {
        guard let role = Role(rawValue: try string(key)) else { throw error("\(key) is not a role") }
        return role
    }

    func time(_ key: String) throws(EventDecodingError) -> Timestamp {
        guard let t = Timestamp(rfc3339: try string(key)) else { throw error("\(key) is not an RFC 3339 time") }
        return t
    }
}
