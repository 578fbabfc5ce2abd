import LedgerCore

/// The rules of user accounts (product spec §7): who may do what to an account, and what each command
/// on one writes. Pure, like `decide` for orgs.
public enum UserRules {
    /// Whether an account in this standing may act on orgs (create, invite, accept, …): only an active
    /// one. A user pending deletion may only read `/v1/me` and cancel; a re-registered one waits for an
    /// operator.
    public static func requireMayActOnOrgs(_ status: UserStatus) throws(Refusal) {
        switch status {
        case .active: return
        case .pendingDeletion:
            throw Refusal(.accountPendingDeletion, "your account is scheduled for deletion; cancel it (DELETE /v1/me/deletion) to act again")
        case .activationRequired:
            throw Refusal(.activationRequired, "this email belonged to an erased account: a new account (made by PATCH /v1/me) waits for an operator to activate it")
        case .erased:
            throw Refusal(.activationRequired, "this account was erased")
        }
    }

    /// The first event of a new user's stream, for `email`. `wasErased`: the email belonged to an
    /// erased user (so the new account waits for an operator).
    public static func creation(of email: Email, wasErased: Bool, commit: (String) -> PersonalValue) -> UserEvent {
        .created(email: commit(email.value), activationRequired: wasErased)
    }

    /// What the service appends for a user at `now` (actor `system`): the erasure, once the 30 days of a
    /// scheduled deletion are over. The org side of a purge (`accountDeletionEvents`) comes first, in
    /// the same transaction.
    public static func dueEvents(_ user: UserState, now: Timestamp) -> [UserEvent] {
        guard user.status == .pendingDeletion, let purgeAt = user.purgeAt, purgeAt <= now else { return [] }
        return [.erased]
    }

    /// What a user's purge writes to one org (actor `system`): their membership removed (reason
    /// `account_deleted`), every pending invitation to them revoked, every key they created and not yet
    /// revoked revoked.
    public static func accountDeletionEvents(of user: UserID, in org: OrgState) -> [OrgEvent] {
        guard org.status != .purged else { return [] }
        var events: [OrgEvent] = []
        if let member = org.members[user] { events.append(.memberRemoved(user: user, role: member.role, reason: .accountDeleted)) }
        if let invitation = org.pendingInvitation(to: user) {
            events.append(.invitationRevoked(invitationID: invitation.id, user: user, reason: .accountDeleted))
        }
        for key in org.apiKeys.values.filter({ $0.createdBy == user && !$0.revoked }).sorted(by: { TextRules.bytesPrecede($0.id, $1.id) }) {
            events.append(.apiKeyRevoked(keyID: key.id))
        }
        return events
    }
}

/// Decides a command on the actor's own account (or, for `activate`, an operator's on another's).
/// `state` is the account's; the caller made it (as if `user.created` were applied) when the command
/// creates the user.
public func decide(_ command: UserCommand, by actor: Actor?, on state: UserState, context: UserDecisionContext) -> Result<[UserEvent], Refusal> {
    do {
        return .success(try UserDecider(actor: actor, user: state, context: context).decide(command))
    } catch {
        return .failure(error)
    }
}

private struct UserDecider {
    let actor: Actor?
    let user: UserState
    let context: UserDecisionContext

    func decide(_ command: UserCommand) throws(Refusal) -> [UserEvent] {
        guard case .user(let me)? = actor else {
            throw actor == nil ? Refusal(.noActor, "say who acts (X-Actor)") : Refusal(.systemActor, "'system' acts only through the service's own due events")
        }
        if case .activate = command {
            guard context.actorIsOperator else { throw Refusal(.notOperator, "only an operator (serve --operator) activates accounts") }
            guard user.status == .activationRequired else { throw Refusal(.notActivationRequired, "this account does not wait for activation") }
            return [.activated]
        }
        guard me == user.id else { throw Refusal(.notPermitted, "only the account's own user changes it") }
        switch command {
        case .updateProfile(let name, let username, let avatarURL):
            try requireStatus([.active, .activationRequired])
            return try updateProfile(name: name, username: username, avatarURL: avatarURL)

        case .changeEmail(let raw):
            try requireStatus([.active])
            guard case .success(let email) = Email.parse(raw) else { throw Refusal.invalid([Email.parse(raw).failure!]) }
            guard email != context.currentEmail else { return [] }
            if let holder = context.emailHolder(email), holder != user.id { throw Refusal(.emailTaken, "another user has that email") }
            return [.emailChanged(email: context.commit(email.value))]

        case .scheduleDeletion(let confirm):
            try requireStatus([.active])
            guard let current = context.currentEmail, case .success(let typed) = Email.parse(confirm), typed == current else {
                throw Refusal(.confirmationMismatch, "type the account's current email to confirm", errors: [FieldError(field: "confirm", message: "must equal your current email")])
            }
            guard context.soleOwnerOf.isEmpty else {
                throw Refusal(.soleOwner, "you are the last active owner of \(context.soleOwnerOf.count) org(s); promote another owner or delete them first", orgs: context.soleOwnerOf)
            }
            return [.deletionScheduled(purgeAt: context.now.adding(days: Policy.deletionGraceDays))]

        case .cancelDeletion:
            guard user.status == .pendingDeletion else { throw Refusal(.notPendingDeletion, "no account deletion is scheduled") }
            return [.deletionCanceled]

        case .activate:
            return []  // handled above
        }
    }

    func requireStatus(_ allowed: Set<UserStatus>) throws(Refusal) {
        guard !allowed.contains(user.status) else { return }
        try UserRules.requireMayActOnOrgs(user.status)
    }

    func updateProfile(name rawName: String??, username rawUsername: String??, avatarURL rawAvatar: String??) throws(Refusal) -> [UserEvent] {
        guard rawName != nil || rawUsername != nil || rawAvatar != nil else {
            throw Refusal.invalid([FieldError(field: "body", message: "give name, username, avatar_url or some of them")])
        }
        var errors: [FieldError] = []
        func checked<T>(_ raw: String??, _ parse: (String) -> Result<T, FieldError>) -> T?? {
            guard let raw else { return nil }
            guard let value = raw else { return .some(nil) }
            switch parse(value) {
            case .success(let v): return .some(v)
            case .failure(let e): errors.append(e); return nil
            }
        }
        let name = checked(rawName) { DisplayName.parse($0, field: "name") }
        let username = checked(rawUsername) { Handle.parse($0, field: "username") }
        let avatar = checked(rawAvatar) { AvatarURL.parse($0) }
        guard errors.isEmpty else { throw Refusal.invalid(errors) }
        if case .some(.some(let handle)) = username, let holder = context.usernameHolder(handle), holder != user.id {
            throw Refusal(.usernameTaken, "the username '\(handle)' is taken")
        }
        func commit(_ value: String?) -> PersonalValue? { value.map(context.commit) }
        return [.profileUpdated(name: name.map(commit), username: username.map { commit($0?.value) }, avatarURL: avatar.map(commit))]
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
