import LedgerCore

/// How an event was recorded: what `apply` needs besides the event itself.
public struct EventContext: Sendable, Hashable {
    public let at: Timestamp
    public let actor: Actor
    public let version: UInt64

    public init(at: Timestamp, actor: Actor, version: UInt64) {
        self.at = at
        self.actor = actor
        self.version = version
    }
}

/// Folds one event into the org's state. The writer and every replay use this one function.
///
/// Events are facts: `apply` trusts them (they were decided against the state they were appended to) and
/// never refuses. An event that makes no sense for the state (which only a forged log could hold) leaves
/// the parts it cannot apply unchanged; `verify` catches forgery by the chain, not here.
public func apply(_ state: OrgState?, _ event: OrgEvent, _ context: EventContext) -> OrgState? {
    var next = state
    apply(&next, event, context)
    return next
}

/// The same fold in place: no copy of the org's member, invitation and key tables per event (the
/// value form copies them whenever the caller still holds the old state). Replays use this.
public func apply(_ state: inout OrgState?, _ event: OrgEvent, _ context: EventContext) {
    if case .orgCreated(let orgID, let handle, let displayName, let avatarURL) = event {
        state = OrgState(
            id: orgID, handle: handle, displayName: displayName, avatarURL: avatarURL, status: .active, authEpoch: 0,
            createdAt: context.at, version: context.version, deletionScheduledAt: nil, purgeAt: nil,
            members: [:], invitations: [:], apiKeys: [:], heldHandles: [:])
        return
    }
    // Moved out and back, so the tables are uniquely referenced while they change: nothing is copied.
    guard var current = state.take() else { return }
    current.mutate(event, context)
    state = current
}

extension OrgState {
    fileprivate mutating func mutate(_ event: OrgEvent, _ context: EventContext) {
        self.version = context.version
        switch event {
        case .orgCreated:
            break  // handled above
        case .profileUpdated(let displayName, let avatarURL):
            if let displayName { self.displayName = displayName.to }
            if let avatarURL { self.avatarURL = avatarURL.to }
        case .handleRenamed(let from, let to, let heldUntil):
            self.heldHandles[to] = nil
            self.heldHandles[from] = heldUntil
            self.handle = to
        case .handleReleased(let handle):
            self.heldHandles[handle] = nil
        case .invitationSent(let id, let user, let role, let expiresAt):
            let invitedBy = context.actor.user ?? UserID(trusted: context.actor.description)
            self.invitations[id] = Invitation(id: id, invitee: user, role: role, invitedBy: invitedBy, sentAt: context.at, expiresAt: expiresAt, status: .pending)
        case .invitationRevoked(let id, _, _):
            self.invitations[id]?.status = .revoked
        case .invitationAccepted(let id, _):
            self.invitations[id]?.status = .accepted
        case .invitationDeclined(let id, _):
            self.invitations[id]?.status = .declined
        case .invitationExpired(let id, _):
            self.invitations[id]?.status = .expired
        case .memberJoined(let user, let role, let invitedBy, _):
            self.members[user] = Member(
                user: user, role: role, status: .active, joinedAt: context.at, invitedBy: invitedBy, membership: context.version,
                changedVersion: context.version, changedAt: context.at)
        case .memberRoleChanged(let user, _, let to):
            self.members[user]?.role = to
            self.members[user]?.changed(context)
        case .memberSuspended(let user, _):
            self.members[user]?.status = .suspended
            self.members[user]?.changed(context)
        case .memberReinstated(let user, _):
            self.members[user]?.status = .active
            self.members[user]?.changed(context)
        case .memberDirectoryUpdated(let user, _):
            self.members[user]?.directoryVersion = context.version
            self.members[user]?.changed(context)
        case .memberRemoved(let user, _, _), .memberLeft(let user, _):
            self.members[user] = nil
        case .apiKeyCreated(let keyID, let name, let role, let secretSHA256, let authEpoch):
            let createdBy = context.actor.user ?? UserID(trusted: context.actor.description)
            self.apiKeys[keyID] = APIKey(id: keyID, name: name, role: role, createdBy: createdBy, createdAt: context.at, secretSHA256: secretSHA256, authEpoch: authEpoch, revoked: false,
                creatorMembership: self.members[createdBy]?.membership)
        case .apiKeyRevoked(let keyID):
            self.apiKeys[keyID]?.revoked = true
        case .authReset(let authEpoch, _):
            self.authEpoch = authEpoch
        case .deletionScheduled(let purgeAt):
            self.status = .pendingDeletion
            self.deletionScheduledAt = context.at
            self.purgeAt = purgeAt
        case .deletionCanceled:
            self.status = .active
            self.deletionScheduledAt = nil
            self.purgeAt = nil
        case .purged:
            self.status = .purged
            self.heldHandles = [:]
        }
        }
    }

/// Folds a sequence of recorded events from nothing.
public func replay(_ events: some Sequence<(OrgEvent, EventContext)>) -> OrgState? {
    events.reduce(nil) { apply($0, $1.0, $1.1) }
}

extension Member {
    mutating func changed(_ context: EventContext) {
        changedVersion = context.version
        changedAt = context.at
    }
}
