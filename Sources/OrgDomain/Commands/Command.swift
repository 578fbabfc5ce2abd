import LedgerCore

/// Who acts: a person (a normalized email, asserted by the caller through `X-Actor`) or the service itself.
public enum Actor: Sendable, Hashable, CustomStringConvertible {
    case user(Email)
    case system

    /// The envelope's `actor` text.
    public var description: String {
        switch self {
        case .user(let email): email.value
        case .system: "system"
        }
    }

    public var email: Email? {
        if case .user(let email) = self { return email }
        return nil
    }

    /// The actor an envelope's `actor` text records (the inverse of `description`; stored events are
    /// trusted, so the email is not checked again).
    public init(recorded text: String) {
        self = text == "system" ? .system : .user(Email(trusted: text))
    }
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
    /// `POST /v1/orgs/{org}/invitations`: one fresh id per email is taken from `invitationIDs`, in order.
    case invite(emails: [String], role: String, ttlDays: Int?, invitationIDs: [String])
    /// `DELETE /v1/orgs/{org}/invitations/{id}`
    case revokeInvitation(id: String)
    /// `POST /v1/invitations/{id}/accept`
    case acceptInvitation(id: String)
    /// `POST /v1/invitations/{id}/decline`
    case declineInvitation(id: String)
    /// `PUT /v1/orgs/{org}/members/{email}/role`
    case changeRole(email: String, role: String)
    /// `POST /v1/orgs/{org}/members/{email}/suspend`
    case suspend(email: String)
    /// `POST /v1/orgs/{org}/members/{email}/reinstate`
    case reinstate(email: String)
    /// `DELETE /v1/orgs/{org}/members/{email}`: removing oneself is leaving.
    case remove(email: String)
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
}

/// What `decide` may know besides the org's own state: the time, and who holds a handle.
public struct DecisionContext: Sendable {
    public let now: Timestamp
    /// The org that holds `handle` (currently or as a former handle within its hold), or nil.
    public let handleHolder: @Sendable (Handle) -> HandleClaim?

    public init(now: Timestamp, handleHolder: @escaping @Sendable (Handle) -> HandleClaim? = { _ in nil }) {
        self.now = now
        self.handleHolder = handleHolder
    }
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
