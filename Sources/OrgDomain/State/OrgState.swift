import LedgerCore

/// One organization as its own stream of events makes it: the state every rule is decided on.
public struct OrgState: Sendable, Hashable {
    public var id: String
    public var handle: Handle
    public var displayName: String
    public var avatarURL: String?
    public var status: OrgStatus
    /// Raised by every auth reset; keys issued under an older epoch are void.
    public var authEpoch: Int
    public var createdAt: Timestamp
    /// The stream version: the number of events applied.
    public var version: UInt64
    public var deletionScheduledAt: Timestamp?
    public var purgeAt: Timestamp?
    public var members: [Email: Member]
    public var invitations: [String: Invitation]
    public var apiKeys: [String: APIKey]
    /// Former handles still held by this org, with the end of each hold.
    public var heldHandles: [Handle: Timestamp]

    public var activeOwners: [Email] {
        members.values.filter { $0.role == .owner && $0.status == .active }.map(\.email).sorted()
    }

    /// Room for the members and invitations an org of `events` events may gather, so a replay that
    /// knows the stream's length does not grow (and rehash) these tables step by step.
    public mutating func reserveCapacity(forEvents events: Int) {
        members.reserveCapacity(events / 3)
        invitations.reserveCapacity(events / 3)
    }

    /// The pending invitation to `email`, if any (at most one).
    public func pendingInvitation(to email: Email) -> Invitation? {
        invitations.values.first { $0.email == email && $0.status == .pending }
    }
}

public struct Member: Sendable, Hashable {
    public var email: Email
    public var role: Role
    public var status: MemberStatus
    public var joinedAt: Timestamp
    public var invitedBy: Email?
    /// The stream version of the `member.joined` that began this membership. Leaving ends a membership
    /// for good; a later re-join begins another with another version, so what hung on the old one (an
    /// API key) does not come back.
    public var membership: UInt64
}

public struct Invitation: Sendable, Hashable {
    public var id: String
    public var email: Email
    public var role: Role
    public var invitedBy: Email
    public var sentAt: Timestamp
    public var expiresAt: Timestamp
    public var status: InvitationStatus
}

public struct APIKey: Sendable, Hashable {
    public var id: String
    public var name: String
    public var role: Role
    public var createdBy: Email
    public var createdAt: Timestamp
    public var secretSHA256: String
    public var authEpoch: Int
    public var revoked: Bool
    /// The creator's membership when the key was made (`Member.membership`): the key holds only while
    /// that very membership lasts.
    public var creatorMembership: UInt64?
}
