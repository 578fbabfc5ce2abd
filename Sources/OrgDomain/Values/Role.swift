/// A member's role. `owner > admin > moderator > member > viewer` is the ladder; `billing_manager` stands
/// outside it (product spec §1).
public enum Role: String, Sendable, Hashable, CaseIterable, Comparable, CustomStringConvertible {
    case owner
    case admin
    case moderator
    case billingManager = "billing_manager"
    case member
    case viewer

    /// Position on the ladder (viewer 1 … owner 5); nil for `billing_manager`.
    public var rank: Int? {
        switch self {
        case .owner: 5
        case .admin: 4
        case .moderator: 3
        case .member: 2
        case .viewer: 1
        case .billingManager: nil
        }
    }

    /// Ordering for display only (ladder first, billing_manager last); rules use `rank`.
    public static func < (a: Role, b: Role) -> Bool { (a.rank ?? 0) > (b.rank ?? 0) }

    /// True when both roles are on the ladder and `self` is strictly above `other`.
    public func isAbove(_ other: Role) -> Bool {
        guard let a = rank, let b = other.rank else { return false }
        return a > b
    }

    public var description: String { rawValue }

    public static func parse(_ raw: String, field: String = "role") -> Result<Role, FieldError> {
        guard let role = Role(rawValue: raw) else {
            return .failure(FieldError(field: field, message: "must be one of \(Role.allCases.map(\.rawValue).joined(separator: ", "))"))
        }
        return .success(role)
    }
}

public enum MemberStatus: String, Sendable, Hashable {
    case active
    case suspended
}

public enum OrgStatus: String, Sendable, Hashable {
    case active
    case pendingDeletion = "pending_deletion"
    case purged
}

public enum InvitationStatus: String, Sendable, Hashable, CaseIterable {
    case pending, accepted, declined, revoked, expired
}
