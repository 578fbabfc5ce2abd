/// Why a command was refused. A refusal is a value: the API layer maps `kind` to an HTTP status in one
/// place; nothing here knows about HTTP.
public struct Refusal: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        /// Malformed or invalid input (400); `errors` names the fields.
        case invalid
        /// No actor (401).
        case unauthenticated
        /// The actor may not do this (403).
        case forbidden
        /// Unknown org, member, invitation or key (404).
        case notFound
        /// Conflicts with the current state (409).
        case conflict
        /// An invitation that expired or was already used (410).
        case gone
    }

    public enum Reason: String, Sendable, Hashable, CaseIterable {
        case invalidInput = "invalid_input"
        case noActor = "no_actor"
        case systemActor = "system_actor"
        case notAMember = "not_a_member"
        case suspended
        case notPermitted = "not_permitted"
        case cannotRaiseOwnRole = "cannot_raise_own_role"
        case orgNotFound = "org_not_found"
        case memberNotFound = "member_not_found"
        case invitationNotFound = "invitation_not_found"
        case apiKeyNotFound = "api_key_not_found"
        case orgExists = "org_exists"
        case handleTaken = "handle_taken"
        case lastOwner = "last_owner"
        case pendingDeletion = "pending_deletion"
        case notPendingDeletion = "not_pending_deletion"
        case alreadyMember = "already_member"
        case alreadySuspended = "already_suspended"
        case notSuspended = "not_suspended"
        case invitationNotPending = "invitation_not_pending"
        case invitationExpired = "invitation_expired"
        case notInvitee = "not_invitee"
        case keyRevoked = "key_revoked"
        case confirmationMismatch = "confirmation_mismatch"
        case tooManyKeys = "too_many_api_keys"
        case accountPendingDeletion = "account_pending_deletion"
        case activationRequired = "activation_required"
        case notOperator = "not_operator"
        case userNotFound = "user_not_found"
        case emailTaken = "email_taken"
        case usernameTaken = "username_taken"
        case soleOwner = "sole_owner"
        case notActivationRequired = "not_activation_required"
        /// The API key a command acts through does not verify (revoked, void, unknown): product spec §1.
        case keyNotValid = "api_key_not_valid"
        /// Another member of the org holds this directory `userName` (SCIM, product spec §10).
        case userNameTaken = "user_name_taken"

        public var kind: Kind {
            switch self {
            case .invalidInput, .confirmationMismatch: .invalid
            case .noActor, .keyNotValid: .unauthenticated
            case .systemActor, .notAMember, .suspended, .notPermitted, .cannotRaiseOwnRole, .notInvitee, .accountPendingDeletion,
                .activationRequired, .notOperator:
                .forbidden
            case .orgNotFound, .memberNotFound, .invitationNotFound, .apiKeyNotFound, .userNotFound: .notFound
            case .orgExists, .handleTaken, .lastOwner, .pendingDeletion, .notPendingDeletion, .alreadyMember,
                .alreadySuspended, .notSuspended, .keyRevoked, .tooManyKeys, .emailTaken, .usernameTaken, .soleOwner,
                .notActivationRequired, .userNameTaken:
                .conflict
            // Expired or used (accepted, declined, revoked): the invitation is gone for good.
            case .invitationExpired, .invitationNotPending: .gone
            }
        }
    }

    public let reason: Reason
    public let message: String
    /// The invalid fields, for `.invalid`.
    public let errors: [FieldError]
    /// The orgs a `sole_owner` refusal names (their handles).
    public let orgs: [String]

    public init(_ reason: Reason, _ message: String, errors: [FieldError] = [], orgs: [String] = []) {
        self.reason = reason
        self.message = message
        self.errors = errors
        self.orgs = orgs
    }

    public static func invalid(_ errors: [FieldError]) -> Refusal {
        Refusal(.invalidInput, errors.count == 1 ? "invalid \(errors[0].field): \(errors[0].message)" : "\(errors.count) fields are invalid", errors: errors)
    }

    public var kind: Kind { reason.kind }
    public var description: String { "\(reason.rawValue): \(message)" }
}
