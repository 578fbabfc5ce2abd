import LedgerCore

/// Whether an event that comes from outside the service (an import) is one the service could have
/// written: the one home of those checks. `decide` guards what the service appends; an import has no
/// commands, so each event is checked against the same value rules and the org's state before it.
///
/// Checked: the stream is an org id of the service's shape; the actor is `system` or a normalized
/// email; only the service's own due events are by `system`, and nobody else writes them; `data` is
/// exactly what the event type encodes (no unknown or missing members); every email, handle, name, URL,
/// id and secret hash in it passes its value rule as already normalized (so the reserved handle `admin`
/// or an email with a zero-width space is refused); and the event fits the state: an org is created
/// once, at version 1, with its creator as the only owner, on a handle nobody else holds; other events
/// need a live org and the member, invitation or key they name; owner is never granted by joining.
public enum RecordedEventRules {
    public static func problem(
        type: String, data: JSONValue, actor rawActor: String, stream: String, version: UInt64, state: OrgState?,
        handleHolder: (Handle) -> HandleClaim?, at: Timestamp
    ) -> String? {
        guard ResourceID.isWellFormed(stream, prefix: "org") else { return "stream \(quoted(stream)) is not an org id (org_ + 26 base32 characters)" }
        let actor: Actor
        if rawActor == "system" {
            actor = .system
        } else if case .success(let email) = Email.parse(rawActor), email.value == rawActor {
            actor = .user(email)
        } else {
            return "actor \(quoted(rawActor)) is neither system nor a normalized email"
        }
        let event: OrgEvent
        do { event = try OrgEvent(type: type, data: data) } catch { return "data of \(type): \(error)" }
        guard event.data == data else { return "data of \(type) has members the event type does not define" }
        if event.isDue != (actor == .system) {
            return event.isDue ? "\(type) is appended only by the service (actor system)" : "system appends only due events, not \(type)"
        }
        if let problem = valueProblem(event, stream: stream) { return problem }
        return stateProblem(event, actor: actor, version: version, state: state, handleHolder: handleHolder, at: at)
    }

    private static func valueProblem(_ event: OrgEvent, stream: String) -> String? {
        func email(_ e: Email) -> String? {
            guard case .success(let parsed) = Email.parse(e.value), parsed == e else { return "email \(quoted(e.value)) is not a valid, normalized email" }
            return nil
        }
        func handle(_ h: Handle) -> String? {
            guard case .success(let parsed) = Handle.parse(h.value), parsed == h else { return "handle \(quoted(h.value)) is not a valid handle" }
            return nil
        }
        func text(_ value: String, _ parse: (String) -> Result<String, FieldError>, _ what: String) -> String? {
            guard case .success(let parsed) = parse(value), parsed == value else { return "\(what) \(quoted(value)) breaks the \(what) rules" }
            return nil
        }
        func id(_ value: String, _ prefix: String) -> String? {
            ResourceID.isWellFormed(value, prefix: prefix) ? nil : "id \(quoted(value)) is not a \(prefix)_ id"
        }
        switch event {
        case .orgCreated(let orgID, let h, let name, let avatar):
            if orgID != stream { return "org.created names org \(orgID) on stream \(stream)" }
            return handle(h) ?? text(name, { DisplayName.parse($0) }, "display name") ?? avatar.flatMap { text($0, { AvatarURL.parse($0) }, "avatar URL") }
        case .profileUpdated(let name, let avatar):
            if name == nil && avatar == nil { return "org.profile_updated changes nothing" }
            return name.flatMap { text($0.to, { DisplayName.parse($0) }, "display name") } ?? avatar?.to.flatMap { text($0, { AvatarURL.parse($0) }, "avatar URL") }
        case .handleRenamed(let from, let to, _):
            return handle(from) ?? handle(to)
        case .handleReleased(let h), .purged(let h):
            return handle(h)
        case .invitationSent(let i, let e, _, _), .invitationRevoked(let i, let e, _), .invitationAccepted(let i, let e),
            .invitationDeclined(let i, let e), .invitationExpired(let i, let e):
            return id(i, "inv") ?? email(e)
        case .memberJoined(let e, _, let invitedBy, let invitation):
            return email(e) ?? invitedBy.flatMap(email) ?? invitation.flatMap { id($0, "inv") }
        case .memberRoleChanged(let e, _, _), .memberSuspended(let e, _), .memberReinstated(let e, _), .memberRemoved(let e, _), .memberLeft(let e, _):
            return email(e)
        case .apiKeyCreated(let k, let name, _, let hash, _):
            guard hash.utf8.count == 64, hash.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
                return "secret_sha256 is not 64 lower-case hex digits"
            }
            return id(k, "key") ?? text(name, { KeyName.parse($0) }, "key name")
        case .apiKeyRevoked(let k):
            return id(k, "key")
        case .authReset(_, let keys):
            return keys.lazy.compactMap { id($0, "key") }.first
        case .deletionScheduled, .deletionCanceled:
            return nil
        }
    }

    private static func stateProblem(
        _ event: OrgEvent, actor: Actor, version: UInt64, state: OrgState?, handleHolder: (Handle) -> HandleClaim?, at: Timestamp
    ) -> String? {
        func available(_ handle: Handle, for orgID: String) -> String? {
            guard let claim = handleHolder(handle), claim.orgID != orgID else { return nil }
            if let until = claim.heldUntil, until <= at { return nil }
            return "handle \(handle) is held by \(claim.orgID)"
        }
        if case .orgCreated(let orgID, let handle, _, _) = event {
            guard state == nil, version == 1 else { return "org.created must open its stream (version 1)" }
            return available(handle, for: orgID)
        }
        guard let org = state, org.status != .purged else { return "\(event.type) on an org that does not exist (or was purged)" }
        if version == 2 {
            // The only event after org.created: its creator joins as owner.
            guard case .memberJoined(let email, .owner, nil, nil) = event, actor == .user(email) else {
                return "the event after org.created must be its creator joining as owner"
            }
            return nil
        }
        switch event {
        case .memberJoined(let email, let role, _, let invitation):
            if role == .owner { return "owner is granted only by promotion, never by joining" }
            if org.members[email] != nil { return "\(email) is already a member" }
            guard let id = invitation, let inv = org.invitations[id], inv.email == email, inv.role == role else {
                return "member.joined names no invitation of \(email) for \(role)"
            }
            return nil
        case .memberRoleChanged(let email, let from, _), .memberSuspended(let email, let from), .memberReinstated(let email, let from),
            .memberRemoved(let email, let from), .memberLeft(let email, let from):
            guard let member = org.members[email] else { return "\(email) is not a member" }
            return member.role == from ? nil : "\(email) has role \(member.role), not \(from)"
        case .invitationRevoked(let id, let email, _), .invitationAccepted(let id, let email), .invitationDeclined(let id, let email),
            .invitationExpired(let id, let email):
            guard let inv = org.invitations[id], inv.email == email, inv.status == .pending else { return "no pending invitation \(id) to \(email)" }
            return nil
        case .invitationSent(let id, _, let role, _):
            if role == .owner { return "owner is never granted by invitation" }
            return org.invitations[id] == nil ? nil : "invitation id \(id) is taken"
        case .apiKeyCreated(let id, _, _, _, _):
            return org.apiKeys[id] == nil ? nil : "key id \(id) is taken"
        case .apiKeyRevoked(let id):
            return org.apiKeys[id].map { $0.revoked ? "key \(id) is already revoked" : nil } ?? "no key \(id)"
        case .handleRenamed(let from, let to, _):
            return from == org.handle ? available(to, for: org.id) : "the org's handle is \(org.handle), not \(from)"
        default:
            return nil
        }
    }

    private static func quoted(_ text: String) -> String {
        let shown = text.unicodeScalars.prefix(80).map { $0.isASCII && $0.value >= 0x20 && $0.value < 0x7F ? String($0) : "\\u{\(String($0.value, radix: 16))}" }.joined()
        return "\"" + shown + (text.unicodeScalars.count > 80 ? "…" : "") + "\""
    }
}

extension OrgEvent {
    /// The events only the service appends, when they fall due (actor `system`).
    public var isDue: Bool {
        switch self {
        case .invitationExpired, .handleReleased, .purged: true
        default: false
        }
    }
}
