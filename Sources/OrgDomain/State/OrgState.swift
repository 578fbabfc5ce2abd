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
    public var members: [UserID: Member]
    public var invitations: Invitations
    public var apiKeys: [String: APIKey]
    /// Former handles still held by this org, with the end of each hold.
    public var heldHandles: [Handle: Timestamp]

    public var activeOwners: [UserID] {
        members.values.filter { $0.role == .owner && $0.status == .active }.map(\.user).sorted()
    }

    /// Room for the members and invitations an org of `events` events may gather, so a replay that
    /// knows the stream's length does not grow (and rehash) these tables step by step.
    public mutating func reserveCapacity(forEvents events: Int) {
        members.reserveCapacity(events / 3)
        invitations.reserveCapacity(events / 3)
    }

    /// The pending invitation to `user`, if any (at most one): one lookup.
    public func pendingInvitation(to user: UserID) -> Invitation? { invitations.pending(to: user) }
}

/// An org's invitations by id, every one ever sent, with the pending one of each invitee indexed beside
/// them (there is at most one: inviting again replaces it), so the rule "one pending invitation per
/// person" costs one lookup however many invitations an org has sent. Changing an invitation through the
/// subscript keeps the index in step; there is no other way to change one.
///
/// Both tables live in one copy-on-write box, so this value is one word, as the dictionary it replaces
/// was: growing `OrgState` by a stored word made swiftc 6.3.1 mis-size async frames that hold one
/// (README, "Notes for contributors").
public struct Invitations: Sendable, Hashable, ExpressibleByDictionaryLiteral {
    private final class Tables: @unchecked Sendable {
        // Mutated only through a uniquely referenced box (`tables()`), never while shared.
        var byID: [String: Invitation]
        var pendingByUser: [UserID: String]

        init(byID: [String: Invitation] = [:], pendingByUser: [UserID: String] = [:]) {
            self.byID = byID
            self.pendingByUser = pendingByUser
        }
    }

    private var box = Tables()

    public init(dictionaryLiteral elements: (String, Invitation)...) {
        for (id, invitation) in elements { self[id] = invitation }
    }

    /// The box, copied first if another value shares it.
    private mutating func tables() -> Tables {
        if !isKnownUniquelyReferenced(&box) { box = Tables(byID: box.byID, pendingByUser: box.pendingByUser) }
        return box
    }

    public subscript(id: String) -> Invitation? {
        get { box.byID[id] }
        set {
            let tables = tables()
            if let old = tables.byID[id], old.status == .pending, tables.pendingByUser[old.invitee] == id { tables.pendingByUser[old.invitee] = nil }
            tables.byID[id] = newValue
            if let new = newValue, new.status == .pending { tables.pendingByUser[new.invitee] = id }
        }
    }

    /// The pending invitation to `user`, if any.
    public func pending(to user: UserID) -> Invitation? { box.pendingByUser[user].flatMap { box.byID[$0] } }

    /// The pending invitations, in no particular order.
    public var pendingValues: [Invitation] { box.pendingByUser.values.compactMap { box.byID[$0] } }

    public var values: Dictionary<String, Invitation>.Values { box.byID.values }
    public var keys: Dictionary<String, Invitation>.Keys { box.byID.keys }
    public var count: Int { box.byID.count }

    public mutating func reserveCapacity(_ capacity: Int) { tables().byID.reserveCapacity(capacity) }

    /// Equal when they hold the same invitations (the index follows from them).
    public static func == (a: Invitations, b: Invitations) -> Bool { a.box === b.box || a.box.byID == b.box.byID }

    public func hash(into hasher: inout Hasher) { hasher.combine(box.byID) }
}

public struct Member: Sendable, Hashable {
    public var user: UserID
    public var role: Role
    public var status: MemberStatus
    public var joinedAt: Timestamp
    public var invitedBy: UserID?
    /// The stream version of the `member.joined` that began this membership. Leaving ends a membership
    /// for good; a later re-join begins another with another version, so what hung on the old one (an
    /// API key) does not come back.
    public var membership: UInt64
    /// The stream version of the latest `member.directory_updated` of this membership (SCIM): where its
    /// directory profile's values are found. nil: the identity provider keeps nothing about them.
    public var directoryVersion: UInt64? = nil
    /// The stream version and time of the last event that changed this member (joined, role, status,
    /// directory profile): SCIM's `meta.version` and `meta.lastModified`.
    public var changedVersion: UInt64
    public var changedAt: Timestamp
}

public struct Invitation: Sendable, Hashable {
    public var id: String
    /// The invited user (made by the invitation if the email was new): the invitation follows them
    /// through an email change.
    public var invitee: UserID
    public var role: Role
    public var invitedBy: UserID
    public var sentAt: Timestamp
    public var expiresAt: Timestamp
    public var status: InvitationStatus
}

public struct APIKey: Sendable, Hashable {
    public var id: String
    public var name: String
    public var role: Role
    public var createdBy: UserID
    public var createdAt: Timestamp
    public var secretSHA256: String
    public var authEpoch: Int
    public var revoked: Bool
    /// The creator's membership when the key was made (`Member.membership`): the key holds only while
    /// that very membership lasts.
    public var creatorMembership: UInt64?
}
