import LedgerCore

/// Who acts: a person (a user, resolved by the caller from the `X-Actor` email) or the service itself.
public enum Actor: Sendable, Hashable, CustomStringConvertible {
    case user(UserID)
    case system

    /// The envelope's `actor` text: a user id or `system`, never an email.
    public var description: String {
        switch self {
        case .user(let id): id.value
        case .system: "system"
        }
    }

    public var user: UserID? {
        if case .user(let id) = self { return id }
        return nil
    }

    /// The actor an envelope's `actor` text records (the inverse of `description`; stored events are
    /// trusted, so the id is not checked again).
    public init(recorded text: String) {
        self = text == "system" ? .system : .user(UserID(trusted: text))
    }
}

/// A person a command names: an email as the API received it (checked by `decide`, then resolved to
/// a user through `DecisionContext.people`), or a user already known by id (a replay of recorded events).
public enum PersonRef: Sendable, Hashable {
    case email(String)
    case user(UserID)
}

/// Every state-changing request of product spec §5, as the domain receives it: raw input, validated by
/// `decide`. Identifiers and secrets that must be random are made by the caller (the service, with
/// swift-crypto) and passed in, so the domain stays deterministic.
public enum Command: Sendable, Hashable {
    /// `POST /v1/orgs`
    case createOrg(orgID: String, handle: String, displayName: String)
    /// `PATCH /v1/orgs/{org}`: nil leaves a field as it is; `avatarURL: .some(nil)` resets the avatar.
    case updateProfile(displayName: String?, avatarURL: String??)
    /// `POST /v1/orgs/{org}/handle`
    case renameHandle(String)
    /// `POST /v1/orgs/{org}/invitations`: one fresh id per person is taken from `invitationIDs`, in order.
    case invite(people: [PersonRef], role: String, ttlDays: Int?, invitationIDs: [String])
    /// `DELETE /v1/orgs/{org}/invitations/{id}`
    case revokeInvitation(id: String)
    /// `POST /v1/invitations/{id}/accept`
    case acceptInvitation(id: String)
    /// `POST /v1/invitations/{id}/decline`
    case declineInvitation(id: String)
    /// `PUT /v1/orgs/{org}/members/{email}/role`
    case changeRole(member: PersonRef, role: String)
    /// `POST /v1/orgs/{org}/members/{email}/suspend`
    case suspend(member: PersonRef)
    /// `POST /v1/orgs/{org}/members/{email}/reinstate`
    case reinstate(member: PersonRef)
    /// `DELETE /v1/orgs/{org}/members/{email}`: removing oneself is leaving.
    case remove(member: PersonRef)
    /// `POST /v1/orgs/{org}/api-keys`: the secret itself never reaches the domain, only its SHA-256 (hex).
    case createAPIKey(keyID: String, name: String, role: String, secretSHA256: String)
    /// `DELETE /v1/orgs/{org}/api-keys/{id}`
    case revokeAPIKey(keyID: String)
    /// `POST /v1/orgs/{org}/auth/reset`
    case resetAuth
    /// `POST /v1/orgs/{org}/deletion`
    case scheduleDeletion(confirm: String)
    /// `DELETE /v1/orgs/{org}/deletion`
    case cancelDeletion
    /// SCIM `POST /Users` (product spec §10): the person becomes a member at once, role `member`, with
    /// the identity provider's profile of them, suspended at once when `active` is false. A pending
    /// invitation to them is revoked (`provisioned`).
    case provision(person: PersonRef, profile: DirectoryProfile, active: Bool)
    /// SCIM `PUT` / `PATCH /Users/{id}`, all or nothing: a new directory profile (nil: unchanged) and
    /// `active` (nil: unchanged; `false` suspends, `true` reinstates; already so: nothing).
    case updateDirectoryMember(member: PersonRef, profile: DirectoryProfile?, active: Bool?)
}

/// What `decide` may know besides the org's own state: the time, who holds a handle, and the people a
/// command names (product spec §7). The caller (the ledger, in the command's transaction) looks all of
/// it up before deciding, so `decide` stays pure.
public struct DecisionContext: Sendable {
    public let now: Timestamp
    /// The org that holds `handle` (currently or as a former handle within its hold), or nil.
    public let handleHolder: @Sendable (Handle) -> HandleClaim?
    /// The user of each email the command names (`Command.emailsNamed`): an existing user, or a fresh
    /// id that becomes a user only if the command succeeds.
    public let people: @Sendable (Email) -> UserID
    /// The acting user's account status (a new user's is `active`, or `activation_required` if the
    /// email was erased before).
    public let actorAccount: UserStatus
    /// Users whose account deletion is scheduled: they count as no owner (product spec §7).
    public let pendingDeletion: @Sendable (UserID) -> Bool
    /// The API key the command acts through (SCIM, product spec §10), or nil for a person acting: the
    /// actor is then the key's creator, the key's role decides, and the key must verify.
    public let apiKey: String?
    /// The member whose directory `userName` has this key (`DirectoryProfile.userNameKey`) in the org.
    public let directoryNameHolder: @Sendable (String) -> UserID?
    /// Commits to a personal value under a fresh salt (the caller's randomness; the domain has none).
    public let commit: @Sendable (String) -> PersonalValue

    public init(
        now: Timestamp, handleHolder: @escaping @Sendable (Handle) -> HandleClaim? = { _ in nil },
        people: @escaping @Sendable (Email) -> UserID = DecisionContext.unknownPeople, actorAccount: UserStatus = .active,
        pendingDeletion: @escaping @Sendable (UserID) -> Bool = { _ in false }, apiKey: String? = nil,
        directoryNameHolder: @escaping @Sendable (String) -> UserID? = { _ in nil },
        commit: @escaping @Sendable (String) -> PersonalValue = { PersonalValue(committing: $0) }
    ) {
        self.now = now
        self.handleHolder = handleHolder
        self.people = people
        self.actorAccount = actorAccount
        self.pendingDeletion = pendingDeletion
        self.apiKey = apiKey
        self.directoryNameHolder = directoryNameHolder
        self.commit = commit
    }

    /// For callers whose commands name people by id only (replays): an email is nobody's.
    public static let unknownPeople: @Sendable (Email) -> UserID = { _ in UserID(trusted: "usr_unknown") }
}

/// Who holds a handle.
public struct HandleClaim: Sendable, Hashable {
    public let orgID: String
    /// nil for a current handle; the end of the hold for a former one.
    public let heldUntil: Timestamp?

    public init(orgID: String, heldUntil: Timestamp?) {
        self.orgID = orgID
        self.heldUntil = heldUntil
    }
}

extension Command {
    /// The emails this command names, as received (the caller resolves each that is valid before
    /// deciding; `decide` checks them all and refuses invalid ones).
    public var emailsNamed: [String] {
        func emails(_ people: [PersonRef]) -> [String] { people.compactMap { if case .email(let raw) = $0 { raw } else { nil } } }
        switch self {
        case .invite(let people, _, _, _): return emails(people)
        case .changeRole(let person, _), .suspend(let person), .reinstate(let person), .remove(let person), .provision(let person, _, _),
            .updateDirectoryMember(let person, _, _):
            return emails([person])
        default: return []
        }
    }
}

extension Command {
    /// The directory `userName` the command claims (its key, `DirectoryProfile.userNameKey`): the
    /// caller looks up who holds it before deciding.
    public var directoryUserName: String? {
        switch self {
        case .provision(_, let profile, _): DirectoryProfile.userNameKey(profile.userName)
        case .updateDirectoryMember(_, let profile?, _): DirectoryProfile.userNameKey(profile.userName)
        default: nil
        }
    }
}

extension Command {
    /// Whether the command can take an org's last active owner away (the rule `decide` checks with
    /// `DecisionContext.pendingDeletion`): the caller looks owners up only for these.
    public var canLoseAnOwner: Bool {
        switch self {
        case .changeRole, .suspend, .remove: true
        case .updateDirectoryMember(_, _, let active): active == false
        default: false
        }
    }
}
