import LedgerCore

/// Decides a command against an org's state: the events it produces, or why it is refused.
///
/// Pure: the time and the handle directory come in through `context`; nothing is read or written. The
/// order of checks is the order of the answers a client sees: no actor (401), unknown org (404), the
/// actor's standing and the permission matrix (403), a frozen org (409), invalid input (400), an unknown
/// target (404), the target's role (403), then the state rules (409/410).
///
/// An empty list of events means "nothing to change" (e.g. renaming to the current handle).
public func decide(_ command: Command, by actor: Actor?, state: OrgState?, context: DecisionContext) -> Result<[OrgEvent], Refusal> {
    do {
        return .success(try Decider(actor: actor, state: state, now: context.now, context: context).decide(command))
    } catch {
        return .failure(error)
    }
}

private struct Decider {
    let actor: Actor?
    let state: OrgState?
    let now: Timestamp
    let context: DecisionContext

    init(actor: Actor?, state: OrgState?, now: Timestamp, context: DecisionContext) {
        self.actor = actor
        self.state = state
        self.now = now
        self.context = context
    }

    func decide(_ command: Command) throws(Refusal) -> [OrgEvent] {
        let me = try person()
        switch command {
        case .createOrg(let orgID, let handle, let displayName):
            return try createOrg(orgID: orgID, handle: handle, displayName: displayName, owner: me)

        case .updateProfile(let displayName, let avatarURL):
            let org = try permitted(.updateProfile)
            return try updateProfile(org, displayName: displayName, avatarURL: avatarURL)

        case .renameHandle(let raw):
            let org = try permitted(.renameHandle)
            let handle = try valid(Handle.parse(raw))
            guard handle != org.handle else { return [] }
            try requireAvailable(handle, for: org.id)
            return [.handleRenamed(from: org.handle, to: handle, heldUntil: now.adding(days: Policy.handleHoldDays))]

        case .invite(let people, let role, let ttlDays, let ids):
            return try invite(people: people, role: role, ttlDays: ttlDays, ids: ids)

        case .revokeInvitation(let id):
            let org = try activeMember()
            guard let invitation = org.invitations[id] else { throw Refusal(.invitationNotFound, "no invitation \(id) in this org") }
            try requirePermission(org, .revokeInvitation, target: invitation.role)
            try requirePending(invitation)
            return [.invitationRevoked(invitationID: id, user: invitation.invitee, reason: .revoked)]

        case .acceptInvitation(let id), .declineInvitation(let id):
            let org = try existingOrg()
            guard let invitation = org.invitations[id] else { throw Refusal(.invitationNotFound, "no invitation \(id)") }
            guard invitation.invitee == me else { throw Refusal(.notInvitee, "this invitation is addressed to someone else") }
            // A frozen org refuses every command but cancelling its deletion: declining writes too.
            try requireNotFrozen(org)
            try requirePending(invitation)
            if case .acceptInvitation = command {
                guard org.members[me] == nil else { throw Refusal(.alreadyMember, "you are already a member") }
                return [
                    .invitationAccepted(invitationID: id, user: me),
                    .memberJoined(user: me, role: invitation.role, invitedBy: invitation.invitedBy, invitationID: id),
                ]
            }
            return [.invitationDeclined(invitationID: id, user: me)]

        case .changeRole(let person, let rawRole):
            let org = try activeMember()
            let (named, newRole) = try validPair(self.named(person), Role.parse(rawRole))
            let target = try member(named, in: org)
            guard target.role != newRole else { return [] }
            if target.user == me, context.apiKey == nil {
                // Nobody raises their own role; anyone may lower it. Sideways moves follow the matrix.
                if newRole.isAbove(target.role) { throw Refusal(.cannotRaiseOwnRole, "nobody raises their own role") }
                if !target.role.isAbove(newRole) {
                    try requirePermission(org, .changeRole, target: target.role, newRole: newRole)
                }
            } else {
                try requirePermission(org, .changeRole, target: target.role, newRole: newRole)
            }
            try requireAnotherActiveOwner(org, ifLosing: target, "demote")
            return [.memberRoleChanged(user: target.user, from: target.role, to: newRole)]

        case .suspend(let person):
            let org = try activeMember()
            let named = try valid(self.named(person))
            let target = try member(named, in: org)
            try requirePermission(org, .suspendMember, target: target.role)
            guard target.status == .active else { throw Refusal(.alreadySuspended, "\(named.label) is already suspended") }
            try requireAnotherActiveOwner(org, ifLosing: target, "suspend")
            return [.memberSuspended(user: target.user, role: target.role)]

        case .reinstate(let person):
            let org = try activeMember()
            let named = try valid(self.named(person))
            let target = try member(named, in: org)
            try requirePermission(org, .reinstateMember, target: target.role)
            guard target.status == .suspended else { throw Refusal(.notSuspended, "\(named.label) is not suspended") }
            return [.memberReinstated(user: target.user, role: target.role)]

        case .remove(let person):
            let org = try activeMember()
            let named = try valid(self.named(person))
            let target = try member(named, in: org)
            if target.user == me, context.apiKey == nil {
                try requireAnotherActiveOwner(org, ifLosing: target, "leave as")
                return [.memberLeft(user: me, role: target.role)]
            }
            try requirePermission(org, .removeMember, target: target.role)
            try requireAnotherActiveOwner(org, ifLosing: target, "remove")
            return [.memberRemoved(user: target.user, role: target.role, reason: .removed)]

        case .createAPIKey(let keyID, let rawName, let rawRole, let secretSHA256):
            let org = try permitted(.createAPIKey)
            let (name, role) = try validPair(KeyName.parse(rawName), Role.parse(rawRole))
            guard case .active(let creatorRole) = standing(in: org), Permissions.keyRoles(for: creatorRole).contains(role) else {
                throw Refusal(.notPermitted, "an API key's role can be at most its creator's")
            }
            guard secretSHA256.utf8.count == 64, secretSHA256.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
                throw Refusal.invalid([FieldError(field: "secret_sha256", message: "must be 64 lower-case hex digits")])
            }
            guard org.apiKeys[keyID] == nil else { throw Refusal(.orgExists, "key id \(keyID) is taken") }
            // An auth reset lists every key it voids in one event, which must stay under 64 KiB.
            guard org.liveKeys.count < Policy.maximumUnrevokedKeys else {
                throw Refusal(.tooManyKeys, "an org holds at most \(Policy.maximumUnrevokedKeys) unrevoked API keys; revoke one first")
            }
            return [.apiKeyCreated(keyID: keyID, name: name, role: role, secretSHA256: secretSHA256, authEpoch: org.authEpoch)]

        case .revokeAPIKey(let keyID):
            let org = try permitted(.revokeAPIKey)
            guard let key = org.apiKeys[keyID] else { throw Refusal(.apiKeyNotFound, "no API key \(keyID) in this org") }
            guard !key.revoked else { throw Refusal(.keyRevoked, "API key \(keyID) is already revoked") }
            return [.apiKeyRevoked(keyID: keyID)]

        case .resetAuth:
            let org = try permitted(.resetAuth)
            let voided = org.liveKeys.map(\.id).sorted()
            return [.authReset(authEpoch: org.authEpoch + 1, voidedKeys: voided)]

        case .scheduleDeletion(let confirm):
            let org = try permitted(.scheduleDeletion)
            guard confirm == org.handle.value else {
                throw Refusal(.confirmationMismatch, "type the org's current handle to confirm", errors: [FieldError(field: "confirm", message: "must equal the current handle '\(org.handle.value)'")])
            }
            return [.deletionScheduled(purgeAt: now.adding(days: Policy.deletionGraceDays))]

        case .cancelDeletion:
            let org = try permitted(.cancelDeletion, allowWhileFrozen: true)
            guard org.status == .pendingDeletion else { throw Refusal(.notPendingDeletion, "no deletion is scheduled") }
            return [.deletionCanceled]

        case .provision(let person, let profile, let active):
            return try provision(person, profile: profile, active: active, by: me)

        case .updateDirectoryMember(let person, let profile, let active):
            return try updateDirectoryMember(person, profile: profile, active: active)
        }
    }

    // MARK: Commands with more to them

    func createOrg(orgID: String, handle rawHandle: String, displayName rawName: String, owner: UserID) throws(Refusal) -> [OrgEvent] {
        let (handle, displayName) = try validPair(Handle.parse(rawHandle), DisplayName.parse(rawName))
        guard state == nil else { throw Refusal(.orgExists, "org \(orgID) already exists") }
        try requireAvailable(handle, for: orgID)
        return [
            .orgCreated(orgID: orgID, handle: handle, displayName: displayName, avatarURL: nil),
            .memberJoined(user: owner, role: .owner, invitedBy: nil, invitationID: nil),
        ]
    }

    func updateProfile(_ org: OrgState, displayName rawName: String?, avatarURL rawAvatar: String??) throws(Refusal) -> [OrgEvent] {
        guard rawName != nil || rawAvatar != nil else {
            throw Refusal.invalid([FieldError(field: "body", message: "give display_name, avatar_url or both")])
        }
        var errors: [FieldError] = []
        var name: String?
        var avatar: String??
        if let rawName {
            switch DisplayName.parse(rawName) {
            case .success(let value): name = value
            case .failure(let error): errors.append(error)
            }
        }
        if let rawAvatar {
            if let url = rawAvatar {
                switch AvatarURL.parse(url) {
                case .success(let value): avatar = .some(value)
                case .failure(let error): errors.append(error)
                }
            } else {
                avatar = .some(nil)
            }
        }
        guard errors.isEmpty else { throw Refusal.invalid(errors) }
        let nameChange = name.flatMap { $0 == org.displayName ? nil : OrgEvent.ValueChange(from: org.displayName, to: $0) }
        let avatarChange = avatar.flatMap { $0 == org.avatarURL ? nil : OrgEvent.ValueChange(from: org.avatarURL, to: $0) }
        guard nameChange != nil || avatarChange != nil else { return [] }
        return [.profileUpdated(displayName: nameChange, avatarURL: avatarChange)]
    }

    func invite(people rawPeople: [PersonRef], role rawRole: String, ttlDays: Int?, ids: [String]) throws(Refusal) -> [OrgEvent] {
        let org = try activeMember()
        let role = try valid(Role.parse(rawRole))
        try requirePermission(org, .invite, target: role)
        var errors: [FieldError] = []
        if rawPeople.isEmpty { errors.append(FieldError(field: "emails", message: "must name at least one email")) }
        if rawPeople.count > Policy.maximumInvitationEmails {
            errors.append(FieldError(field: "emails", message: "at most \(Policy.maximumInvitationEmails) emails per request"))
        }
        let ttl = ttlDays ?? Policy.defaultInvitationTTLDays
        if !Policy.invitationTTLDays.contains(ttl) {
            errors.append(FieldError(field: "ttl_days", message: "must be between \(Policy.invitationTTLDays.lowerBound) and \(Policy.invitationTTLDays.upperBound)"))
        }
        var invitees: [Named] = []
        var seen: Set<UserID> = []
        for (index, person) in rawPeople.enumerated() {
            switch named(person, field: "emails[\(index)]") {
            case .success(let invitee):
                if seen.insert(invitee.user).inserted { invitees.append(invitee) }  // duplicates collapse
            case .failure(let error):
                errors.append(error)
            }
        }
        guard errors.isEmpty else { throw Refusal.invalid(errors) }
        if let existing = invitees.first(where: { org.members[$0.user] != nil }) {
            throw Refusal(.alreadyMember, "\(existing.label) is already a member; nothing was sent")
        }
        precondition(ids.count >= invitees.count, "the caller must supply one invitation id per person")
        let expiresAt = now.adding(days: ttl)
        var events: [OrgEvent] = []
        for (invitee, id) in zip(invitees, ids) {
            if let pending = org.pendingInvitation(to: invitee.user) {
                // Replacing an invitation revokes it: the actor needs that right too, or a moderator
                // could cancel an admin's invitation by re-inviting the same email as a member.
                try requirePermission(org, .revokeInvitation, target: pending.role)
                events.append(.invitationRevoked(invitationID: pending.id, user: invitee.user, reason: .replaced))
            }
            events.append(.invitationSent(invitationID: id, user: invitee.user, role: role, expiresAt: expiresAt))
        }
        return events
    }

    /// SCIM's `POST /Users`: a member at once, role `member`, with the identity provider's profile.
    func provision(_ person: PersonRef, profile: DirectoryProfile, active: Bool, by me: UserID) throws(Refusal) -> [OrgEvent] {
        let org = try activeMember()
        try requirePermission(org, .invite, target: .member)
        let named = try validPerson(person, profile: profile)
        if org.members[named.user] != nil { throw Refusal(.alreadyMember, "\(named.label) is already a member") }
        try requireDirectoryName(profile, freeFor: named.user)
        var events: [OrgEvent] = []
        if let pending = org.pendingInvitation(to: named.user) {
            // The invitation is moot once they are in; revoking it needs that right, as re-inviting does.
            try requirePermission(org, .revokeInvitation, target: pending.role)
            events.append(.invitationRevoked(invitationID: pending.id, user: named.user, reason: .provisioned))
        }
        events.append(.memberJoined(user: named.user, role: .member, invitedBy: me, invitationID: nil))
        events.append(.memberDirectoryUpdated(user: named.user, profile: profile.committed(context.commit)))
        if !active {
            try requirePermission(org, .suspendMember, target: .member)
            events.append(.memberSuspended(user: named.user, role: .member))
        }
        return events
    }

    /// SCIM's `PUT` / `PATCH /Users/{id}`: the profile and `active` together, or nothing.
    func updateDirectoryMember(_ person: PersonRef, profile: DirectoryProfile?, active: Bool?) throws(Refusal) -> [OrgEvent] {
        let org = try activeMember()
        let named = try validPerson(person, profile: profile)
        let target = try member(named, in: org)
        try requirePermission(org, .updateDirectoryProfile, target: target.role)
        var events: [OrgEvent] = []
        if let profile {
            try requireDirectoryName(profile, freeFor: target.user)
            events.append(.memberDirectoryUpdated(user: target.user, profile: profile.committed(context.commit)))
        }
        switch (active, target.status) {
        case (true?, .suspended):
            try requirePermission(org, .reinstateMember, target: target.role)
            events.append(.memberReinstated(user: target.user, role: target.role))
        case (false?, .active):
            try requirePermission(org, .suspendMember, target: target.role)
            try requireAnotherActiveOwner(org, ifLosing: target, "suspend")
            events.append(.memberSuspended(user: target.user, role: target.role))
        default:
            break  // already so, or not asked: SCIM re-sends what is held, and that changes nothing
        }
        return events
    }

    // MARK: Checks

    /// The person a directory command names, and its profile, valid: every error of both at once.
    func validPerson(_ person: PersonRef, profile: DirectoryProfile?) throws(Refusal) -> Named {
        var errors = profile?.problems ?? []
        switch named(person) {
        case .success(let named):
            guard errors.isEmpty else { throw Refusal.invalid(errors) }
            return named
        case .failure(let error):
            errors.insert(error, at: 0)
            throw Refusal.invalid(errors)
        }
    }

    /// A directory `userName` is unique in the org, compared case-insensitively (product spec §10).
    func requireDirectoryName(_ profile: DirectoryProfile, freeFor user: UserID) throws(Refusal) {
        if let holder = context.directoryNameHolder(DirectoryProfile.userNameKey(profile.userName)), holder != user {
            throw Refusal(.userNameTaken, "another member of this org has the userName '\(profile.userName)'")
        }
    }

    /// Where the actor stands in the org: through an API key (SCIM), the key's role; else the member's.
    func standing(in org: OrgState) -> Standing {
        if let keyID = context.apiKey, let key = org.apiKeys[keyID] { return .active(key.role) }
        return org.standing(of: actor)
    }

    /// The acting user, whose account may act on orgs (product spec §7). Through an API key: the key's
    /// creator, while the key verifies (product spec §1) — its status is decided here, against the very
    /// state the command changes, so a key revoked a moment ago acts no more.
    func person() throws(Refusal) -> UserID {
        if let keyID = context.apiKey {
            guard let state, let key = state.apiKeys[keyID], actor == .user(key.createdBy),
                key.status(in: state, creatorPendingDeletion: context.actorAccount == .pendingDeletion) == .active
            else { throw Refusal(.keyNotValid, "the API key does not verify (revoked, void or unknown)") }
            return key.createdBy
        }
        switch actor {
        case nil: throw Refusal(.noActor, "say who acts (X-Actor)")
        case .system?: throw Refusal(.systemActor, "'system' acts only through the service's own due events")
        case .user(let user)?:
            try UserRules.requireMayActOnOrgs(context.actorAccount)
            return user
        }
    }

    /// A person a command names, with how to name them in a refusal.
    struct Named {
        let user: UserID
        let label: String
    }

    /// The person `ref` names: an email checked and resolved through the context, or a known id.
    func named(_ ref: PersonRef, field: String = "email") -> Result<Named, FieldError> {
        switch ref {
        case .user(let user): return .success(Named(user: user, label: user.value))
        case .email(let raw): return Email.parse(raw, field: field).map { Named(user: context.people($0), label: $0.value) }
        }
    }

    func existingOrg() throws(Refusal) -> OrgState {
        guard let state, state.status != .purged else { throw Refusal(.orgNotFound, "no such org") }
        return state
    }

    /// The org, with the actor an active member of it.
    func activeMember() throws(Refusal) -> OrgState {
        let org = try existingOrg()
        switch standing(in: org) {
        case .active: break
        case .suspended: throw Refusal(.suspended, "a suspended member can do nothing")
        case .nonMember, .anonymous: throw Refusal(.notAMember, "not a member of this org")
        }
        try requireNotFrozen(org)
        return org
    }

    /// The org, with the actor allowed an untargeted action.
    func permitted(_ action: Action, allowWhileFrozen: Bool = false) throws(Refusal) -> OrgState {
        let org = try existingOrg()
        switch standing(in: org) {
        case .active: break
        case .suspended: throw Refusal(.suspended, "a suspended member can do nothing")
        case .nonMember, .anonymous: throw Refusal(.notAMember, "not a member of this org")
        }
        guard Permissions.allows(standing(in: org), action) else {
            throw Refusal(.notPermitted, "your role may not \(action.rawValue.replacingUnderscores())")
        }
        if !allowWhileFrozen { try requireNotFrozen(org) }
        return org
    }

    func requirePermission(_ org: OrgState, _ action: Action, target: Role, newRole: Role? = nil) throws(Refusal) {
        guard Permissions.allows(standing(in: org), action, target: target, newRole: newRole) else {
            let what = newRole.map { "\(target) → \($0)" } ?? "\(target)"
            throw Refusal(.notPermitted, "your role may not \(action.rawValue.replacingUnderscores()) for \(what)")
        }
    }

    func requireNotFrozen(_ org: OrgState) throws(Refusal) {
        if org.status == .pendingDeletion {
            throw Refusal(.pendingDeletion, "the org is scheduled for deletion; only cancelling it is possible")
        }
    }

    func requirePending(_ invitation: Invitation) throws(Refusal) {
        switch invitation.status {
        case .pending:
            // Expiry is re-checked now, even before the service has appended invitation.expired.
            if now >= invitation.expiresAt { throw Refusal(.invitationExpired, "the invitation expired at \(invitation.expiresAt)") }
        case .expired:
            throw Refusal(.invitationExpired, "the invitation expired at \(invitation.expiresAt)")
        case .accepted, .declined, .revoked:
            throw Refusal(.invitationNotPending, "the invitation was already \(invitation.status.rawValue)")
        }
    }

    func member(_ named: Named, in org: OrgState) throws(Refusal) -> Member {
        guard let member = org.members[named.user] else { throw Refusal(.memberNotFound, "\(named.label) is not a member") }
        return member
    }

    /// The last active owner cannot be removed, demoted, suspended or leave. An owner whose account
    /// deletion is scheduled counts as no owner: co-owners cannot leave the org to someone on the way out.
    func requireAnotherActiveOwner(_ org: OrgState, ifLosing target: Member, _ verb: String) throws(Refusal) {
        guard target.role == .owner, target.status == .active else { return }
        if !org.activeOwners.contains(where: { $0 != target.user && !context.pendingDeletion($0) }) {
            throw Refusal(.lastOwner, "cannot \(verb) the last active owner; promote another owner first")
        }
    }

    func requireAvailable(_ handle: Handle, for orgID: String) throws(Refusal) {
        guard let claim = context.handleHolder(handle), claim.orgID != orgID else { return }
        if let until = claim.heldUntil, until <= now { return }  // the hold has ended
        throw Refusal(.handleTaken, "the handle '\(handle)' is taken")
    }

    func valid<T>(_ result: Result<T, FieldError>) throws(Refusal) -> T {
        switch result {
        case .success(let value): return value
        case .failure(let error): throw Refusal.invalid([error])
        }
    }

    /// Both fields, or every error of the two at once.
    func validPair<A, B>(_ a: Result<A, FieldError>, _ b: Result<B, FieldError>) throws(Refusal) -> (A, B) {
        switch (a, b) {
        case (.success(let x), .success(let y)): return (x, y)
        case (.failure(let e), .success): throw Refusal.invalid([e])
        case (.success, .failure(let e)): throw Refusal.invalid([e])
        case (.failure(let e1), .failure(let e2)): throw Refusal.invalid([e1, e2])
        }
    }
}

extension String {
    func replacingUnderscores() -> String { String(map { $0 == "_" ? " " : $0 }) }
}
