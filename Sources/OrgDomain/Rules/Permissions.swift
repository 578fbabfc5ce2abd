/// The permission matrix of product spec §2: the one place that says which role may do what.
///
/// Self-service rules (nobody raises their own role, anyone may lower it or leave) and the last-owner
/// guard are state rules and live in `decide`.
public enum Action: String, Sendable, Hashable, CaseIterable {
    case readProfile = "read_profile"
    case readMembers = "read_members"
    case readInvitations = "read_invitations"
    case readAuditLog = "read_audit_log"
    case updateProfile = "update_profile"
    case invite
    case revokeInvitation = "revoke_invitation"
    case removeMember = "remove_member"
    case suspendMember = "suspend_member"
    case reinstateMember = "reinstate_member"
    case changeRole = "change_role"
    /// Change what the identity provider keeps about a member (SCIM `userName`, `externalId`, `name`,
    /// …): the row of "remove, suspend, reinstate".
    case updateDirectoryProfile = "update_directory_profile"
    case createAPIKey = "create_api_key"
    case revokeAPIKey = "revoke_api_key"
    case renameHandle = "rename_handle"
    case resetAuth = "reset_auth"
    case scheduleDeletion = "schedule_deletion"
    case cancelDeletion = "cancel_deletion"

    /// Actions whose permission depends on the role of the member (or invitation) they touch.
    public var isTargeted: Bool {
        switch self {
        case .invite, .revokeInvitation, .removeMember, .suspendMember, .reinstateMember, .changeRole, .updateDirectoryProfile: true
        default: false
        }
    }
}

/// Where the actor stands in an org.
public enum Standing: Sendable, Hashable {
    /// No actor at all.
    case anonymous
    case nonMember
    case suspended(Role)
    case active(Role)
}

public enum Permissions {
    /// The roles a role may act on for targeted actions (row "invite, revoke invitation, remove, suspend,
    /// reinstate" and row "change a role A→B").
    public static func manageableRoles(by role: Role) -> Set<Role> {
        switch role {
        case .owner: Set(Role.allCases)
        case .admin: [.moderator, .member, .viewer]
        case .moderator: [.member, .viewer]
        case .member, .viewer, .billingManager: []
        }
    }

    /// Whether `standing` may perform `action`. For targeted actions, `target` is the role acted on (the
    /// invited role, the invitation's role, the member's role, or the role before a change) and `newRole`
    /// the role after a change; both must be manageable. An untargeted action ignores them.
    public static func allows(_ standing: Standing, _ action: Action, target: Role? = nil, newRole: Role? = nil) -> Bool {
        guard case .active(let role) = standing else { return false }
        switch action {
        case .readProfile:
            return true
        case .readMembers:
            return role != .billingManager
        case .readInvitations:
            return [.owner, .admin, .moderator].contains(role)
        case .readAuditLog, .updateProfile, .createAPIKey, .revokeAPIKey:
            return [.owner, .admin].contains(role)
        case .renameHandle, .resetAuth, .scheduleDeletion, .cancelDeletion:
            return role == .owner
        case .invite:
            guard let target, target != .owner else { return false }  // owner is granted only by promotion
            return manageableRoles(by: role).contains(target)
        case .revokeInvitation, .removeMember, .suspendMember, .reinstateMember, .updateDirectoryProfile:
            guard let target else { return false }
            return manageableRoles(by: role).contains(target)
        case .changeRole:
            guard let target, let newRole else { return false }
            let manageable = manageableRoles(by: role)
            return manageable.contains(target) && manageable.contains(newRole)
        }
    }

    /// The roles an API key created by `creator` may have: at most the creator's own. On the ladder that
    /// is every rung at or below it; `billing_manager`, outside the ladder, only an owner may grant.
    public static func keyRoles(for creator: Role) -> Set<Role> {
        switch creator {
        case .owner: Set(Role.allCases)
        case .billingManager: [.billingManager]
        default: Set(Role.allCases.filter { $0.rank != nil && $0.rank! <= creator.rank! })
        }
    }
}

extension OrgState {
    public func standing(of actor: Actor?) -> Standing {
        guard let user = actor?.user else { return actor == nil ? .anonymous : .nonMember }
        guard let member = members[user] else { return .nonMember }
        return member.status == .active ? .active(member.role) : .suspended(member.role)
    }
}
