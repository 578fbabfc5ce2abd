import LedgerCore

/// The commands on a user's own account (product spec §7, `/v1/me` and `/v1/admin`), as the domain
/// receives them: raw input, checked by `decide`.
public enum UserCommand: Sendable, Hashable {
    /// `PATCH /v1/me`: nil leaves a field as it is; `.some(nil)` clears it.
    case updateProfile(name: String??, username: String??, avatarURL: String??)
    /// `POST /v1/me/email`
    case changeEmail(String)
    /// `POST /v1/me/deletion`: `confirm` is the account's current email.
    case scheduleDeletion(confirm: String)
    /// `DELETE /v1/me/deletion`
    case cancelDeletion
    /// `POST /v1/admin/users/{email}/activate`, by an operator.
    case activate
}

/// What `decide` may know about a user command besides the user's own state, looked up by the caller
/// in the command's transaction.
public struct UserDecisionContext: Sendable {
    public let now: Timestamp
    /// The account's current email (a user always has one until erased).
    public let currentEmail: Email?
    /// The user who holds `email` now, if any.
    public let emailHolder: @Sendable (Email) -> UserID?
    /// The user who holds `username` now, if any.
    public let usernameHolder: @Sendable (Handle) -> UserID?
    /// The orgs (handles) of which this user is the last active owner (owners pending deletion not
    /// counted): account deletion is refused while there is one.
    public let soleOwnerOf: [String]
    /// Whether the actor is one of the service's operators (`--operator`).
    public let actorIsOperator: Bool
    /// Commits to a personal value under a fresh salt (the caller's randomness; the domain has none).
    public let commit: @Sendable (String) -> PersonalValue

    public init(
        now: Timestamp, currentEmail: Email?, emailHolder: @escaping @Sendable (Email) -> UserID? = { _ in nil },
        usernameHolder: @escaping @Sendable (Handle) -> UserID? = { _ in nil }, soleOwnerOf: [String] = [], actorIsOperator: Bool = false,
        commit: @escaping @Sendable (String) -> PersonalValue = { PersonalValue(committing: $0) }
    ) {
        self.now = now
        self.currentEmail = currentEmail
        self.emailHolder = emailHolder
        self.usernameHolder = usernameHolder
        self.soleOwnerOf = soleOwnerOf
        self.actorIsOperator = actorIsOperator
        self.commit = commit
    }
}
