import LedgerCore

/// Whether events that come from outside the service (an import) are ones the service could have
/// written. The rules themselves are not repeated here: every event is traced back to the command (or
/// the due-event run) that produces it, `decide` (or `dueEvents`) is asked again against the org's state
/// before it, and the recorded events must be exactly what it answers. So an import obeys the same
/// permission matrix, value rules and state rules as the live service, and can never drift from them.
///
/// What `decide` does not see is checked per envelope (`envelopeProblem`): the stream is an org id of
/// the service's shape, the actor is `system` or a user id, `data` is exactly what the event type
/// encodes, and the ids the service makes (invitations, keys, users) have its shape. Commands are
/// re-decided with the people they name as user ids (`PersonRef.user`): events hold no email.
public enum RecordedEventRules {
    /// The event an envelope records and who recorded it, or why the envelope alone is not one the
    /// service could have written.
    public static func envelopeEvent(type: String, data: JSONValue, actor rawActor: String, stream: String) -> Result<(OrgEvent, Actor), RecordedEventProblem> {
        func fail(_ why: String) -> Result<(OrgEvent, Actor), RecordedEventProblem> { .failure(RecordedEventProblem(why)) }
        guard ResourceID.isWellFormed(stream, prefix: "org") else { return fail("stream \(quoted(stream)) is not an org id (org_ + 26 base32 characters)") }
        let actor: Actor
        if rawActor == "system" {
            actor = .system
        } else if let user = UserID(checking: rawActor) {
            actor = .user(user)
        } else {
            return fail("actor \(quoted(rawActor)) is neither system nor a user id (usr_ + 26 base32 characters)")
        }
        let event: OrgEvent
        do { event = try OrgEvent(type: type, data: data) } catch { return fail("data of \(type): \(error)") }
        // Canonical bytes, not JSONValue equality (which compares strings as Swift does, NFC == NFD).
        guard let recorded = try? CanonicalJSON.encode(data), let decoded = try? CanonicalJSON.encode(event.data), recorded == decoded else {
            return fail("data of \(type) is not exactly what the event type encodes")
        }
        for id in event.madeIDs where !ResourceID.isWellFormed(id.value, prefix: id.prefix) {
            return fail("id \(quoted(id.value)) is not a \(id.prefix)_ id of the service's shape")
        }
        return .success((event, actor))
    }

    /// What produced `event` (its first event, when the producer writes several): the command to decide
    /// again, or the due-event run. nil: no command produces this event first (`member.joined` only
    /// follows `org.created` or `invitation.accepted`; a replacing `invitation.revoked` belongs to the
    /// `invitation.sent` after it, see `replacement`).
    ///
    /// `provisionedWith`: the directory profile of a SCIM provision whose first event this is (an
    /// import holds `invitation.revoked` (`provisioned`) and `member.joined` until the profile after them).
    public static func producer(of event: OrgEvent, by actor: Actor, at: Timestamp, state: OrgState?, provisionedWith: CommittedDirectoryProfile? = nil) -> Producer? {
        if let profile = provisionedWith {
            switch event {
            case .invitationRevoked(_, let user, .provisioned), .memberJoined(let user, _, _, nil):
                return .command(.provision(person: .user(user), profile: standIn(for: profile), active: true))
            default: return nil
            }
        }
        // A purge revokes the keys a deleted account made; a key can be the first thing it touches.
        if actor == .system, case .apiKeyRevoked(let id) = event, let creator = state?.apiKeys[id]?.createdBy { return .accountDeletion(creator) }
        switch event {
        case .orgCreated(let orgID, let handle, let name, _): return .command(.createOrg(orgID: orgID, handle: handle.value, displayName: name))
        case .profileUpdated(let name, let avatar): return .command(.updateProfile(displayName: name?.to, avatarURL: avatar.map(\.to)))
        case .handleRenamed(_, let to, _): return .command(.renameHandle(to.value))
        case .invitationSent(let id, let user, let role, let expiresAt):
            let milliseconds = expiresAt.millisecondsSinceEpoch - at.millisecondsSinceEpoch
            guard milliseconds % Timestamp.millisecondsPerDay == 0, let days = Int(exactly: milliseconds / Timestamp.millisecondsPerDay) else { return nil }
            return .command(.invite(people: [.user(user)], role: role.rawValue, ttlDays: days, invitationIDs: [id]))
        case .invitationRevoked(let id, _, .revoked): return .command(.revokeInvitation(id: id))
        case .invitationRevoked(_, _, .replaced): return nil
        case .invitationRevoked(_, let user, .accountDeleted): return .accountDeletion(user)
        case .invitationRevoked(_, _, .provisioned): return nil
        case .memberDirectoryUpdated(let user, let profile):
            return .command(.updateDirectoryMember(member: .user(user), profile: standIn(for: profile), active: nil))
        case .invitationAccepted(let id, _): return .command(.acceptInvitation(id: id))
        case .invitationDeclined(let id, _): return .command(.declineInvitation(id: id))
        case .memberJoined: return nil
        case .memberRoleChanged(let user, _, let to): return .command(.changeRole(member: .user(user), role: to.rawValue))
        case .memberSuspended(let user, _): return .command(.suspend(member: .user(user)))
        case .memberReinstated(let user, _): return .command(.reinstate(member: .user(user)))
        case .memberRemoved(let user, _, .removed), .memberLeft(let user, _): return .command(.remove(member: .user(user)))
        case .memberRemoved(let user, _, .accountDeleted): return .accountDeletion(user)
        case .apiKeyCreated(let id, let name, let role, let hash, _): return .command(.createAPIKey(keyID: id, name: name, role: role.rawValue, secretSHA256: hash))
        case .apiKeyRevoked(let id): return .command(.revokeAPIKey(keyID: id))
        case .authReset: return .command(.resetAuth)
        case .deletionScheduled: return .command(.scheduleDeletion(confirm: state?.handle.value ?? ""))
        case .deletionCanceled: return .command(.cancelDeletion)
        case .invitationExpired, .handleReleased, .purged: return .due
        }
    }

    public enum Producer: Sendable {
        case command(Command)
        /// The service's own run of due events (actor `system`): exactly `dueEvents(state, now: at)`.
        case due
        /// A user's purge (actor `system`): exactly `UserRules.accountDeletionEvents` for that user.
        case accountDeletion(UserID)
    }

    /// The events the producer of `event` writes, decided again against `state` at `at` by `actor`:
    /// the recorded events must equal them, in order. `replaced` is a replacing `invitation.revoked`
    /// recorded just before an `invitation.sent` (the two events of one invitation).
    ///
    /// `apiKey`: the key the events record (`meta.api_key_id`, SCIM): the command is decided through it.
    /// A directory profile is decided on stand-in values committed back to the recorded commitments: the
    /// log holds no value to check, so an import checks everything about a profile but its values (and
    /// the uniqueness of `userName`, which needs them).
    public static func expectedEvents(
        startingWith event: OrgEvent, actor: Actor, at: Timestamp, state: OrgState?, handleHolder: @escaping @Sendable (Handle) -> HandleClaim?,
        apiKey: String? = nil, provisionedWith: CommittedDirectoryProfile? = nil
    ) -> Result<[OrgEvent], RecordedEventProblem> {
        var recordedProfile = provisionedWith
        if case .memberDirectoryUpdated(_, let profile) = event { recordedProfile = profile }
        let commit = recommitting(recordedProfile)
        switch producer(of: event, by: actor, at: at, state: state, provisionedWith: provisionedWith) {
        case nil:
            return .failure(RecordedEventProblem("\(event.type) is not the first event of anything the service does"))
        case .due?:
            guard actor == .system, let state else { return .failure(RecordedEventProblem("\(event.type) is appended only by the service (actor system) to a live org")) }
            let due = dueEvents(state, now: at)
            return due.isEmpty ? .failure(RecordedEventProblem("nothing of \(state.id) is due at \(at)")) : .success(due)
        case .accountDeletion(let user)?:
            guard actor == .system, let state else {
                return .failure(RecordedEventProblem("\(event.type) for a deleted account is appended only by the service (actor system) to a live org"))
            }
            return .success(UserRules.accountDeletionEvents(of: user, in: state))
        case .command(let command)?:
            switch decide(command, by: actor, state: state, context: DecisionContext(now: at, handleHolder: handleHolder, apiKey: apiKey, commit: commit)) {
            case .success(let events): return .success(events)
            case .failure(let refusal): return .failure(RecordedEventProblem("the service refuses \(event.type) here: \(refusal)"))
            }
        }
    }

    /// Why a user stream's event is not one the service could have written after `state` (nil before
    /// the stream's first event), or nil. The log holds commitments, not values, so these are the rules
    /// of `UserRules` and the user `decide` that need none: who acts, in which standing, in what order.
    public static func userEventProblem(_ event: UserEvent, by actor: Actor, at: Timestamp, stream: UserID, state: UserState?) -> String? {
        guard let state else {
            if case .created = event { return nil }
            return "\(event.type) before the user's user.created"
        }
        if case .created = event { return "user.created begins a user's stream, once" }
        guard state.status != .erased else { return "nothing follows user.erased" }
        let bySelf = actor == .user(stream)
        switch event {
        case .created:
            return nil
        case .erased:
            return actor == .system && UserRules.dueEvents(state, now: at) == [.erased] ? nil : "user.erased is appended by the service (actor system) at the account's purge_at"
        case .activated:
            guard state.status == .activationRequired else { return "user.activated of an account that does not wait for activation" }
            return actor.user != nil && !bySelf ? nil : "user.activated is an operator's, not the account's own"
        case .profileUpdated(let name, let username, let avatarURL):
            guard bySelf else { return "only the account's own user changes its profile" }
            guard name != nil || username != nil || avatarURL != nil else { return "user.profile_updated changes nothing" }
            return [.active, .activationRequired].contains(state.status) ? nil : "user.profile_updated of an account \(state.status.rawValue)"
        case .emailChanged:
            guard bySelf else { return "only the account's own user changes its email" }
            return state.status == .active ? nil : "user.email_changed of an account \(state.status.rawValue)"
        case .deletionScheduled(let purgeAt):
            guard bySelf, state.status == .active else { return "user.deletion_scheduled is the account's own, while active" }
            return purgeAt == at.adding(days: Policy.deletionGraceDays) ? nil : "purge_at is not \(Policy.deletionGraceDays) days after the scheduling"
        case .deletionCanceled:
            return bySelf && state.status == .pendingDeletion ? nil : "user.deletion_canceled is the account's own, while its deletion is scheduled"
        }
    }

    /// Values that pass a directory profile's rules, one per recorded field (`recommitting` maps them back).
    static func standIn(for profile: CommittedDirectoryProfile) -> DirectoryProfile {
        DirectoryProfile(
            userName: "user_name", externalID: profile.externalID.map { _ in "external_id" }, displayName: profile.displayName.map { _ in "display_name" },
            name: profile.name.map { _ in "name" })
    }

    /// Commits each stand-in value to the recorded commitment of its field.
    static func recommitting(_ profile: CommittedDirectoryProfile?) -> @Sendable (String) -> PersonalValue {
        let fields: [(String, PersonalValue)] = profile?.fields.compactMap { field, value in value.map { (field, $0) } } ?? []
        let recorded = Dictionary(uniqueKeysWithValues: fields)
        return { standIn in recorded[standIn] ?? PersonalValue(committing: standIn) }
    }

    static func quoted(_ text: String) -> String {
        let shown = text.unicodeScalars.prefix(80).map { $0.isASCII && $0.value >= 0x20 && $0.value < 0x7F ? String($0) : "\\u{\(String($0.value, radix: 16))}" }.joined()
        return "\"" + shown + (text.unicodeScalars.count > 80 ? "…" : "") + "\""
    }
}

/// Why recorded events are not ones the service could have written.
public struct RecordedEventProblem: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension OrgEvent {
    /// The ids the service made that this event names (an invitation's, a key's, users'), with prefixes.
    var madeIDs: [(value: String, prefix: String)] {
        var ids: [(value: String, prefix: String)] = []
        switch self {
        case .invitationSent(let id, _, _, _), .invitationRevoked(let id, _, _), .invitationAccepted(let id, _),
            .invitationDeclined(let id, _), .invitationExpired(let id, _):
            ids.append((id, "inv"))
        case .memberJoined(_, _, let invitedBy, let id):
            if let id { ids.append((id, "inv")) }
            if let invitedBy { ids.append((invitedBy.value, UserID.prefix)) }
        case .apiKeyCreated(let id, _, _, _, _), .apiKeyRevoked(let id): ids.append((id, "key"))
        default: break
        }
        if let person { ids.append((person.value, UserID.prefix)) }
        return ids
    }

    /// The user this event is about, if any.
    public var person: UserID? {
        switch self {
        case .invitationSent(_, let user, _, _), .invitationRevoked(_, let user, _), .invitationAccepted(_, let user),
            .invitationDeclined(_, let user), .invitationExpired(_, let user), .memberJoined(let user, _, _, _),
            .memberRoleChanged(let user, _, _), .memberSuspended(let user, _), .memberReinstated(let user, _),
            .memberRemoved(let user, _, _), .memberLeft(let user, _), .memberDirectoryUpdated(let user, _):
            user
        default: nil
        }
    }
}
