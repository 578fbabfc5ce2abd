import LedgerCore

/// The events of a user's own stream (product spec §7). Personal values (email, name, username,
/// avatar URL) appear only as commitments (`PersonalValue`, product spec §8): the events made by a
/// command carry their salts and values for the personal-data store; those read from a log, only the
/// commitments.
public enum UserEvent: Sendable, Hashable {
    /// `activationRequired`: the email belonged to an erased user (known only by a keyed hash of it).
    case created(email: PersonalValue, activationRequired: Bool)
    /// Only the fields that changed; `.some(nil)` clears one.
    case profileUpdated(name: PersonalValue??, username: PersonalValue??, avatarURL: PersonalValue??)
    case emailChanged(email: PersonalValue)
    case deletionScheduled(purgeAt: Timestamp)
    case deletionCanceled
    case activated
    /// Appended by the service (actor `system`) at `purge_at`: every personal value of the user is
    /// erased in the same transaction; the event itself names none.
    case erased

    public static let allTypes = [
        "user.created", "user.profile_updated", "user.email_changed", "user.deletion_scheduled", "user.deletion_canceled",
        "user.erased", "user.activated",
    ]

    public var type: String {
        switch self {
        case .created: "user.created"
        case .profileUpdated: "user.profile_updated"
        case .emailChanged: "user.email_changed"
        case .deletionScheduled: "user.deletion_scheduled"
        case .deletionCanceled: "user.deletion_canceled"
        case .activated: "user.activated"
        case .erased: "user.erased"
        }
    }

    /// The personal values this event commits to, by their pointers into the envelope.
    public var personalValues: [Disclosure] {
        switch self {
        case .created(let email, _), .emailChanged(let email):
            return [Disclosure(pointer: "/data/email", value: email)]
        case .profileUpdated(let name, let username, let avatarURL):
            return [("name", name), ("username", username), ("avatar_url", avatarURL)].compactMap { field, change in
                change.flatMap { $0 }.map { Disclosure(pointer: "/data/changes/\(field)", value: $0) }
            }
        case .deletionScheduled, .deletionCanceled, .activated, .erased:
            return []
        }
    }

    /// The event's `data` object: personal values as `{"c": …}` only.
    public var data: JSONValue {
        switch self {
        case .created(let email, let activationRequired):
            return ["activation_required": .bool(activationRequired), "email": email.json]
        case .profileUpdated(let name, let username, let avatarURL):
            var changes: [String: JSONValue] = [:]
            for (field, change) in [("name", name), ("username", username), ("avatar_url", avatarURL)] {
                if let change { changes[field] = change?.json ?? .null }
            }
            return ["changes": .object(changes)]
        case .emailChanged(let email):
            return ["email": email.json]
        case .deletionScheduled(let purgeAt):
            return ["purge_at": .string(purgeAt.rfc3339)]
        case .deletionCanceled, .activated, .erased:
            return [:]
        }
    }

    /// Reads an event back from its type and data (as stored): commitments, no values.
    public init(type: String, data: JSONValue) throws(EventDecodingError) {
        let r = DataReader(type: type, data: data)
        func personal(_ value: JSONValue?) throws(EventDecodingError) -> PersonalValue {
            do { return try PersonalValue(json: value ?? .null) } catch { throw r.error(error.message) }
        }
        switch type {
        case "user.created":
            guard case .bool(let activationRequired)? = r.members["activation_required"] else { throw r.error("activation_required is missing or not a boolean") }
            self = .created(email: try personal(r.members["email"]), activationRequired: activationRequired)
        case "user.profile_updated":
            let changes = try r.object("changes")
            func change(_ key: String) throws(EventDecodingError) -> PersonalValue?? {
                switch changes[key] {
                case nil: return nil
                case .null?: return .some(nil)
                case let value?: return .some(try personal(value))
                }
            }
            self = .profileUpdated(name: try change("name"), username: try change("username"), avatarURL: try change("avatar_url"))
        case "user.email_changed":
            self = .emailChanged(email: try personal(r.members["email"]))
        case "user.deletion_scheduled":
            self = .deletionScheduled(purgeAt: try r.time("purge_at"))
        case "user.deletion_canceled": self = .deletionCanceled
        case "user.activated": self = .activated
        case "user.erased": self = .erased
        default: throw EventDecodingError(type: type, message: "unknown event type")
        }
    }

    /// The event ready for the log (its values' salts go to the store through `personalValues`).
    public func newEvent(at: Timestamp, actor: Actor, meta: EventMeta = EventMeta()) -> NewEvent {
        NewEvent(type: type, at: at, actor: actor.description, data: data, meta: meta)
    }
}
