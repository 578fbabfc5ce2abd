import LedgerCore
import OrgDomain

/// A person as views show them: by current email, or `[erased]` once their data is gone (product
/// spec §8). Events and stored rows name people only by user id; every read resolves the ids it
/// shows through one `People` lookup, so an email change shows everywhere at once and an erasure
/// leaves no value behind in any row.
public struct Person: Sendable, Hashable {
    public let id: UserID
    /// The current email; nil once erased.
    public let email: Email?
    public let status: UserStatus

    public init(id: UserID, email: Email?, status: UserStatus) {
        self.id = id
        self.email = email
        self.status = status
    }

    /// How views spell an erased person.
    public static let erasedLabel = "[erased]"

    /// The email, or `[erased]`.
    public var label: String { email?.value ?? Self.erasedLabel }
}

/// The backend's lookup of people by id, inside the read or write that renders a row.
public typealias People = (UserID) -> Person?

extension Render {
    /// The members of a stored row (or audit row) that name a person by id, and the member each
    /// becomes: `user_id` adds `email` (and `account_status`), `invited_by` and `created_by` become
    /// emails. In an audit row, `actor` and `target` too, and the same members of its `data`.
    static let personMembers: [(id: String, shown: String)] = [("invited_by", "invited_by"), ("created_by", "created_by")]

    /// A stored row with every person it names shown by current email (or `[erased]`), the user id
    /// kept beside as `user_id`. Rows are small and flat, so this re-encodes them.
    public static func resolvingPeople(_ row: [UInt8], _ people: People) -> [UInt8] {
        guard case .object(var members)? = try? JSONParser.parse(row) else { return row }
        resolve(&members, people, audit: false)
        return (try? CanonicalJSON.encode(.object(members))) ?? row
    }

    /// An audit row (`auditRow`) with people resolved: `actor`, `target` (when a user), and the
    /// `user_id` / `invited_by` members of `data`. The user ids stay as `actor_id` and `data.user_id`.
    public static func resolvingPeople(auditRow row: [UInt8], _ people: People) -> [UInt8] {
        guard case .object(var members)? = try? JSONParser.parse(row) else { return row }
        if case .string(let actor)? = members["actor"], let id = UserID(checking: actor) {
            members["actor_id"] = .string(actor)
            members["actor"] = .string(label(id, people))
        }
        if case .string(let target)? = members["target"], let id = UserID(checking: target) {
            members["target_id"] = .string(target)
            members["target"] = .string(label(id, people))
        }
        if case .object(var data)? = members["data"] {
            resolve(&data, people, audit: true)
            members["data"] = .object(data)
        }
        return (try? CanonicalJSON.encode(.object(members))) ?? row
    }

    static func label(_ id: UserID, _ people: People) -> String { people(id)?.label ?? Person.erasedLabel }

    private static func resolve(_ members: inout [String: JSONValue], _ people: People, audit: Bool) {
        if case .string(let raw)? = members["user_id"], let id = UserID(checking: raw) {
            let person = people(id)
            members["email"] = .string(person?.label ?? Person.erasedLabel)
            if !audit { members["account_status"] = .string((person?.status ?? .erased).rawValue) }
        }
        // A key row keeps the org-side status; its creator's account standing is applied as it is shown.
        if !audit, case .string(let raw)? = members["created_by"], let creator = UserID(checking: raw), case .string(let stored)? = members["status"],
            stored == KeyStatus.active.name, people(creator)?.status == .pendingDeletion
        {
            let status = KeyStatus.active.withCreator(pendingDeletion: true)
            members["status"] = .string(status.name)
            members["void_reason"] = status.voidReason.map { .string($0.rawValue) } ?? .null
        }
        for (field, shown) in personMembers {
            if case .string(let raw)? = members[field], let id = UserID(checking: raw) { members[shown] = .string(label(id, people)) }
        }
    }
}
