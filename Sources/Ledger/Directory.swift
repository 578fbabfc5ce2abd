import LedgerCore
import OrgDomain

/// An org's members as an identity provider sees them over SCIM (product spec §10): the member's
/// facts, their current email, and the directory profile's values while they are held.
public final class DirectoryMember: Sendable {
    public let user: UserID
    /// The user's current email; nil once they are erased.
    public let email: Email?
    public let role: Role
    public let status: MemberStatus
    public let joinedAt: Timestamp
    /// What the identity provider keeps about them; nil when it keeps nothing (a member invited through
    /// the REST API) or the values are erased.
    public let profile: DirectoryProfile?
    /// The org stream version and time of the member's last change (SCIM `meta.version`, `lastModified`).
    public let changedVersion: UInt64
    public let changedAt: Timestamp

    public init(
        user: UserID, email: Email?, role: Role, status: MemberStatus, joinedAt: Timestamp, profile: DirectoryProfile?, changedVersion: UInt64,
        changedAt: Timestamp
    ) {
        self.user = user
        self.email = email
        self.role = role
        self.status = status
        self.joinedAt = joinedAt
        self.profile = profile
        self.changedVersion = changedVersion
        self.changedAt = changedAt
    }

    /// SCIM's `userName`: the directory's, or the member's email when the directory keeps none.
    public var userName: String? { profile?.userName ?? email?.value }
}

/// Which members a directory read takes: every condition must hold (SCIM's `eq` joined by `and`).
public struct DirectoryFilter: Sendable, Hashable {
    public enum Condition: Sendable, Hashable {
        /// Compared as `DirectoryProfile.userNameKey` (case-insensitive).
        case userName(String)
        case externalID(String)
        case displayName(String)
        case email(Email)
        case role(Role)
        case user(UserID)
    }

    public var conditions: [Condition]

    public init(_ conditions: [Condition] = []) { self.conditions = conditions }

    /// Whether a condition compares a value (a name, an id kept by the directory, an email), not only the
    /// member's role or id.
    public var needsValues: Bool {
        conditions.contains { condition in
            switch condition {
            case .role, .user: false
            case .userName, .externalID, .displayName, .email: true
            }
        }
    }

    public func accepts(_ member: DirectoryMember) -> Bool {
        conditions.allSatisfy { condition in
            switch condition {
            case .userName(let name): member.userName.map(DirectoryProfile.userNameKey) == DirectoryProfile.userNameKey(name)
            case .externalID(let id): member.profile?.externalID == id
            case .displayName(let name): member.profile?.displayName == name
            case .email(let email): member.email == email
            case .role(let role): member.role == role
            case .user(let user): member.user == user
            }
        }
    }
}

/// One page of a directory read: SCIM's `startIndex` (from 1) and `count` over the members a filter
/// takes, in the order of their user ids (creation order), and how many it takes in all.
public final class DirectoryPage: Sendable {
    public let members: [DirectoryMember]
    public let total: Int
    /// The org's version when read.
    public let orgVersion: UInt64

    public init(members: [DirectoryMember], total: Int, orgVersion: UInt64) {
        self.members = members
        self.total = total
        self.orgVersion = orgVersion
    }
}
