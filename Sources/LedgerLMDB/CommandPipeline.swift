import EventLog
import LMDB
import Ledger
import LedgerCore
import OrgDomain

/// Commands, end to end, inside the writer's transaction: load the org's state, decide, append, project,
/// keep the idempotent response; one commit per batch for all of it.
public final class CommandPipeline: Sendable {
    public let environment: Environment
    public let writer: GroupCommitWriter
    public let tables: ProjectionTables
    public let projector: Projector
    public let cache: StateCache
    /// Request context (`client_ip`, `user_agent`) is erased this many days after its event; nil: kept.
    public let requestContextRetentionDays: Int?
    var people: PeopleStore { tables.people }

    public init(environment: Environment, writer: GroupCommitWriter, tables: ProjectionTables, requestContextRetentionDays: Int? = 90, cache: StateCache = StateCache()) {
        self.requestContextRetentionDays = requestContextRetentionDays
        self.environment = environment
        self.writer = writer
        self.tables = tables
        self.projector = Projector(tables: tables)
        self.cache = cache
    }

    /// Runs a command in the writer's next batch; `render` answers it from the state it produced.
    public func execute(
        _ request: CommandRequest, render: @escaping RenderApplied = { _, _, _, _ in .none }, idempotency: Idempotency? = nil
    ) async throws -> CommandOutcome {
        try await writer.submit { [self] txn in try run(request, render: render, idempotency: idempotency, in: txn) }
    }

    func run(_ request: CommandRequest, render: RenderApplied, idempotency: Idempotency?, in txn: borrowing WriteTransaction) throws -> CommandOutcome {
        try idempotent(by: request.actor, now: request.now, idempotency, in: txn) { try decideAndApply(request, render: render, in: txn) }
    }

    /// Runs `body` once per idempotency key: the same actor's same key with the same request within 24
    /// hours answers the kept response; with another request it is refused. Replies are kept under the
    /// actor's user id — looked up again after the command, which may have made the user, so a retry
    /// finds the reply — or, for someone who is still no user, under the keyed hash of their email: no
    /// key holds an email. An erasure finds a user's replies by their id.
    private func idempotent(
        by actor: Email?, now: Timestamp, _ idempotency: Idempotency?, in txn: borrowing WriteTransaction, _ body: () throws -> CommandOutcome
    ) throws -> CommandOutcome {
        guard let actor, let idempotency else { return try body() }
        let before = Keys.joined(try people.replyOwner(actor, in: txn), idempotency.key)
        if let stored = try txn.withValue(in: tables.idempotency, forKey: before, { StoredResponse(decoding: $0) }) ?? nil, stored.isLive(at: now) {
            return stored.fingerprint == idempotency.fingerprint ? .replayed(stored) : .idempotencyKeyReused
        }
        let outcome = try body()
        if let response = idempotency.keep(outcome) {
            let kept = StoredResponse(status: response.status, body: response.body, at: response.at, etag: response.etag, fingerprint: idempotency.fingerprint)
            try txn.put(in: tables.idempotency, key: Keys.joined(try people.replyOwner(actor, in: txn), idempotency.key), value: kept.encoded)
        }
        return outcome
    }

    private func decideAndApply(_ request: CommandRequest, render: RenderApplied, in txn: borrowing WriteTransaction) throws -> CommandOutcome {
        guard let orgID = try resolve(request.target, in: txn) else {
            if case .invitation(let id) = request.target { return .refused(Refusal(.invitationNotFound, "no invitation \(id)")) }
            return .refused(Refusal(.orgNotFound, "no such org"))
        }
        // The writer owns this org's state for the command: taken out of the cache, changed in place.
        // Destructured, not kept as a tuple: a second reference to the state would make its first change
        // copy the member and invitation tables (the writer changes the state in place).
        var state: OrgState?, head: StateCache.StreamHead?
        (state, head) = try cache.take(orgID, tables: tables, in: txn)
        /// Puts the unchanged state back (a refusal or a command that changes nothing).
        func keep() { if let head { cache.remember(orgID, head: head, state: state) } }
        let claim = try handleClaim(for: request.command, in: txn)
        // The people the command names, resolved to users: existing ones, or fresh ids that become
        // users only if the command succeeds.
        var directory = Directory(now: request.now)
        var actor: Actor?
        var actorAccount = UserStatus.active
        if let email = request.actor {
            let resolved = try directory.resolve(email, people: people, in: txn)
            actor = .user(resolved.id)
            actorAccount = resolved.status
        }
        if let keyID = request.apiKey, let creator = state?.apiKeys[keyID]?.createdBy {
            // Through an API key (SCIM): its creator acts; `decide` checks that the key verifies.
            actor = .user(creator)
            actorAccount = try people.row(creator, in: txn)?.status ?? .erased
        }
        for raw in request.command.emailsNamed {
            if case .success(let email) = Email.parse(raw) { _ = try directory.resolve(email, people: people, in: txn) }
        }
        // Owners pending deletion count as no owner: looked up only for the commands that can lose one.
        var ownersPendingDeletion: Set<UserID> = []
        if request.command.canLoseAnOwner {
            for owner in state?.activeOwners ?? [] where try people.row(owner, in: txn)?.status == .pendingDeletion { ownersPendingDeletion.insert(owner) }
        }
        // The one directory userName the command claims, and who holds it.
        // A member the directory keeps nothing about shows their email as userName: that name is theirs too.
        let nameClaim = try request.command.directoryUserName.map { name in
            var holder = try self.people.directoryNameHolder(name, in: orgID, txn: txn)
            if holder == nil, case .success(let email) = Email.parse(name), let user = try self.people.userID(of: email, in: txn),
                let member = state?.members[user], member.directoryVersion == nil
            {
                holder = user
            }
            return (name, holder)
        }
        let ids = directory.ids, pending = ownersPendingDeletion
        let context = DecisionContext(
            now: request.now, handleHolder: { handle in claim?.0 == handle ? claim?.1 : nil }, people: { ids[$0] ?? DecisionContext.unknownPeople($0) },
            actorAccount: actorAccount, pendingDeletion: { pending.contains($0) }, apiKey: request.apiKey,
            directoryNameHolder: { name in nameClaim?.0 == name ? nameClaim?.1 : nil })
        let events: [OrgEvent]
        switch decide(request.command, by: actor, state: state, context: context) {
        case .failure(let refusal):
            keep()
            return .refused(refusal)
        case .success(let decided): events = decided
        }
        // If-Match only once the command would be allowed (RFC 9110 §13.2.1): a stranger learns nothing,
        // not even the version, from a precondition.
        if let expected = request.ifMatch, expected != (state?.version ?? 0) {
            keep()
            return .versionMismatch(current: state?.version ?? 0)
        }
        let people = self.people
        guard !events.isEmpty, let actor else {
            keep()
            return .applied(orgID: orgID, events: [], response: render(orgID, [], state, { try? people.person($0, in: txn) }))
        }
        // New users first: every event after names them by id.
        let named = Set(events.compactMap(\.person) + [actor.user].compactMap { $0 })
        for fresh in directory.fresh where named.contains(fresh.id) {
            try createUser(fresh, by: actor, at: request.now, meta: request.meta, in: txn)
        }
        let applied = try append(events, to: orgID, state: &state, head: head, actor: actor, at: request.now, meta: request.meta, in: txn)
        return .applied(orgID: orgID, events: applied, response: render(orgID, applied, state, { try? people.person($0, in: txn) }))
    }

    /// Appends `user.created` for a user this command makes, keeps their email in the store and
    /// writes their row.
    private func createUser(_ fresh: Directory.Fresh, by actor: Actor, at now: Timestamp, meta: EventMeta, in txn: borrowing WriteTransaction) throws {
        let event = UserRules.creation(of: fresh.email, wasErased: fresh.wasErased) { PersonalValue(committing: $0) }
        _ = try appendUserEvents([event], to: fresh.id, row: nil, actor: actor, at: now, meta: meta, in: txn)
    }

    /// Appends events to a user's stream (whose row is `row`, nil for a new user), keeps the values they
    /// commit to and updates the row; returns the new row.
    func appendUserEvents(
        _ events: [UserEvent], to user: UserID, row: UserRow?, actor: Actor, at now: Timestamp, meta: EventMeta, in txn: borrowing WriteTransaction
    ) throws -> UserRow? {
        let version = row?.version ?? 0
        let request = AppendRequest(stream: user.value, expectedVersion: .exactly(version), events: events.map { $0.newEvent(at: now, actor: actor, meta: meta.recommitted()) })
        let receipt: AppendReceipt
        switch try tables.log.append(request, streamVersion: version, in: txn) {
        case .success(let r): receipt = r
        case .failure(let error): throw error
        }
        var state: UserState? = row.map { UserState(id: user, status: $0.status, createdAt: $0.createdAt, version: $0.version) }
        if let row { state?.purgeAt = row.purgeAt }
        var next = row
        for (event, (recorded, new)) in zip(events, zip(receipt.events, request.events)) {
            OrgDomain.apply(&state, event, stream: user, EventContext(at: now, actor: actor, version: recorded.version))
            try people.keep(event.personalValues, seq: recorded.seq, owner: user, in: txn)
            if let actorID = actor.user { try people.keep(new.meta.disclosures, seq: recorded.seq, owner: actorID, in: txn) }
            guard let state else { continue }
            var updated = next ?? UserRow(id: user, status: state.status, createdAt: now, version: state.version)
            updated.apply(event, state: state)
            next = updated
        }
        if let next { try people.put(next, previous: row, in: txn) }
        // The views have seen the log up to here: user events change no org view.
        try tables.setMeta(lastSeq: receipt.events.last!.seq, in: txn)
        return next
    }

    /// Appends events to an org's stream (whose head the command read, nil for a new one), applies them
    /// to `state` in place and projects them, snapshots included; returns what was recorded. The new
    /// state goes back into the cache.
    func append(
        _ events: [OrgEvent], to orgID: String, state: inout OrgState?, head: StateCache.StreamHead?, actor: Actor, at now: Timestamp, meta: EventMeta,
        in txn: borrowing WriteTransaction
    ) throws -> [AppliedEvent] {
        let request = AppendRequest(stream: orgID, expectedVersion: .exactly(state?.version ?? 0), events: events.map { $0.newEvent(at: now, actor: actor, meta: meta.recommitted()) })
        let receipt: AppendReceipt
        switch try tables.log.append(request, streamVersion: head?.version ?? 0, in: txn) {
        case .success(let r): receipt = r
        case .failure(let error): throw error  // the writer owns the stream: a conflict here is a bug
        }
        let maxAt = max(head?.maxAt ?? StateCache.noTime, now)
        for (event, (recorded, new)) in zip(events, zip(receipt.events, request.events)) {
            if let actorID = actor.user { try people.keep(new.meta.disclosures, seq: recorded.seq, owner: actorID, in: txn) }
            if let person = event.person { try people.noteOrg(orgID, names: person, in: txn) }
            try keepDirectory(event, seq: recorded.seq, orgID: orgID, in: txn)
            let parts = Projector.parts(for: event, before: state)
            let old = Projector.rows(parts, of: state)
            OrgAggregate.apply(&state, event, EventContext(at: now, actor: actor, version: recorded.version))
            try projector.project(recorded, event, parts: parts, old: old, after: state, maxAt: maxAt, in: txn)
        }
        let last = receipt.events.last!
        cache.remember(orgID, head: StateCache.StreamHead(version: last.version, hash: last.hash, maxAt: maxAt), state: state)
        return zip(events, receipt.events).map { AppliedEvent(event: $0, seq: $1.seq, hash: $1.hash) }
    }

    /// The personal values of a `member.directory_updated` (the member's), and the org's directory
    /// names: claimed by a profile, freed when a membership ends or the org is purged.
    private func keepDirectory(_ event: OrgEvent, seq: UInt64, orgID: String, in txn: borrowing WriteTransaction) throws {
        if let (owner, values) = event.personalValues { try people.keep(values, seq: seq, owner: owner, in: txn) }
        switch event {
        case .memberDirectoryUpdated(let user, let profile):
            guard let userName = profile.userName.disclosed?.value else { throw EnvelopeError("a directory profile was committed without its value") }
            try people.setDirectoryName(userName, of: user, in: orgID, txn: txn)
        case .memberRemoved(let user, _, _), .memberLeft(let user, _):
            try people.dropDirectoryName(of: user, in: orgID, txn: txn)
        case .purged:
            try people.dropDirectoryNames(in: orgID, txn: txn)
        default:
            break
        }
    }

    private func resolve(_ ref: OrgRef, in txn: borrowing WriteTransaction) throws -> String? {
        switch ref {
        case .new(let id), .id(let id):
            return id
        case .handle(let raw):
            guard case .success(let handle) = Handle.parse(raw) else { return nil }
            return try Queries.currentHolder(of: handle, tables: tables, in: txn)
        case .invitation(let id):
            return try txn.withValue(in: tables[.invitations], forKey: Array(id.utf8)) { try JSONParser.parse(Array($0))["org_id"]?.stringValue } ?? nil
        }
    }

    /// For commands that claim a handle: who holds it now (the only handle `decide` will ask about).
    private func handleClaim(for command: Command, in txn: borrowing WriteTransaction) throws -> (Handle, HandleClaim)? {
        let raw: String
        switch command {
        case .createOrg(_, let handle, _): raw = handle
        case .renameHandle(let handle): raw = handle
        default: return nil
        }
        guard case .success(let handle) = Handle.parse(raw), let claim = try Queries.claim(on: handle, tables: tables, in: txn) else { return nil }
        return (handle, claim)
    }

    // MARK: Due events

    /// Appends every event that is due at `now` (actor `system`): invitation expiries, handle releases,
    /// purges. Exactly once: each is decided against the state in the same transaction. Also forgets
    /// idempotency keys older than 24 hours. Returns the number of events appended.
    @discardableResult
    public func appendDue(now: Timestamp) async throws -> Int {
        var total = 0
        while true {
            let (appended, more) = try await writer.submit { [self] txn in try dueBatch(now: now, limit: 500, in: txn) }
            total += appended
            if !more { break }
        }
        while true {
            let (appended, more) = try await writer.submit { [self] txn in try purgeDueUsers(now: now, limit: 50, in: txn) }
            total += appended
            if !more { break }
        }
        while true {
            let (appended, more) = try await writer.submit { [self] txn in try eraseRequestContext(now: now, in: txn) }
            total += appended
            if !more { break }
        }
        _ = try await writer.submit { [self] txn in try forgetIdempotency(before: now, in: txn) }
        return total
    }

    private func dueBatch(now: Timestamp, limit: Int, in txn: borrowing WriteTransaction) throws -> (Int, Bool) {
        var orgs: [String] = []
        try txn.withCursor(on: tables[.due]) { cursor in
            try cursor.forEach(from: [UInt8]?.none) { entry in
                let (time, orgID) = Keys.dueTime(entry.key)
                guard time <= now, orgs.count < limit else { return false }
                if orgs.last != orgID, !orgs.contains(orgID) { orgs.append(orgID) }
                return true
            }
        }
        var appended = 0
        for orgID in orgs {
            var state: OrgState?, head: StateCache.StreamHead?
            (state, head) = try cache.take(orgID, tables: tables, in: txn)
            let events = state.map { dueEvents($0, now: now) } ?? []
            guard !events.isEmpty else {
                if let head { cache.remember(orgID, head: head, state: state) }
                continue
            }
            appended += try append(events, to: orgID, state: &state, head: head, actor: .system, at: now, meta: EventMeta(), in: txn).count
        }
        return (appended, orgs.count == limit)
    }

    /// Purges the accounts whose deletion is due (product spec §7): in every org that names them, their
    /// membership removed, invitations to them and keys they made revoked; then `user.erased`, and every
    /// value held for them, their lookups and kept replies dropped — all in this one transaction.
    private func purgeDueUsers(now: Timestamp, limit: Int, in txn: borrowing WriteTransaction) throws -> (Int, Bool) {
        let due = try people.dueUsers(at: now, limit: limit, in: txn)
        var appended = 0
        for (user, dueKey) in due {
            var state: UserState?
            let row = try people.row(user, in: txn)
            if let row {
                state = UserState(id: user, status: row.status, createdAt: row.createdAt, version: row.version)
                state?.purgeAt = row.purgeAt
            }
            guard let row, let state, case let events = UserRules.dueEvents(state, now: now), !events.isEmpty else {
                try txn.delete(in: people.userDue, key: dueKey)  // stale: nothing is due for it (and the run must move on)
                continue
            }
            for orgID in try people.orgs(of: user, in: txn) {
                var org: OrgState?, head: StateCache.StreamHead?
                (org, head) = try cache.take(orgID, tables: tables, in: txn)
                let removals = org.map { UserRules.accountDeletionEvents(of: user, in: $0) } ?? []
                guard !removals.isEmpty else {
                    if let head { cache.remember(orgID, head: head, state: org) }
                    continue
                }
                appended += try append(removals, to: orgID, state: &org, head: head, actor: .system, at: now, meta: EventMeta(), in: txn).count
            }
            if let email = row.email { try people.rememberErased(email, in: txn) }
            try dropReplies(naming: row, in: txn)
            _ = try appendUserEvents(events, to: user, row: row, actor: .system, at: now, meta: EventMeta(), in: txn)
            _ = try people.eraseValues(of: user, in: txn)
            appended += events.count
        }
        return (appended, due.count == limit)
    }

    /// Values one retention transaction erases at most (a catch-up after a long stop runs several).
    static let requestContextBatch = 50_000

    /// Erases request context older than the retention (product spec §8), one batch, and records it as
    /// one `ledger.request_context_erased` when it erased anything. Returns (events appended, more to do).
    private func eraseRequestContext(now: Timestamp, in txn: borrowing WriteTransaction) throws -> (Int, Bool) {
        guard let days = requestContextRetentionDays else { return (0, false) }
        let log = tables.log
        let (count, beforeSeq) = try people.eraseRequestContext(
            recordedBefore: now.adding(days: -days), limit: Self.requestContextBatch, time: { try log.time(ofSeq: $0, in: txn) }, in: txn)
        guard count > 0 else { return (0, false) }
        let version = try log.version(ofStream: LedgerEvent.stream, in: txn)
        let event = LedgerEvent.requestContextErased(beforeSeq: beforeSeq, count: count)
        let request = AppendRequest(stream: LedgerEvent.stream, expectedVersion: .exactly(version), events: [event.newEvent(at: now)])
        switch try log.append(request, streamVersion: version, in: txn) {
        case .success(let receipt):
            try tables.setMeta(lastSeq: receipt.events.last!.seq, in: txn)  // no org view changes
            return (1, count >= Self.requestContextBatch)
        case .failure(let error): throw error
        }
    }

    /// Drops every kept reply that belongs to the user or shows one of their values (an invitation's
    /// answer to the inviter names the invitee; a refusal may name the member it was about). Replies live
    /// 24 hours, so this scan is bounded by a day of commands.
    private func dropReplies(naming row: UserRow, in txn: borrowing WriteTransaction) throws {
        let own = Keys.joined(row.id.value, "")
        let values = [row.email?.value, row.name, row.username, row.avatarURL].compactMap { $0 }.map { Array($0.utf8) }
        var doomed: [[UInt8]] = []
        try txn.withCursor(on: tables.idempotency) { cursor in
            try cursor.forEach { entry in
                if entry.key.starts(with: own) || values.contains(where: { entry.value.firstRange(of: $0) != nil }) { doomed.append(Array(entry.key)) }
                return true
            }
        }
        for key in doomed {
            try people.scrub(tables.idempotency, key: key, in: txn)
            try txn.delete(in: tables.idempotency, key: key)
        }
    }

    // MARK: User commands

    public func execute(_ request: UserCommandRequest, render: @escaping RenderUserApplied, idempotency: Idempotency? = nil) async throws -> CommandOutcome {
        try await writer.submit { [self] txn in
            try idempotent(by: request.actor, now: request.now, idempotency, in: txn) { try runUserCommand(request, render: render, in: txn) }
        }
    }

    func runUserCommand(_ request: UserCommandRequest, render: RenderUserApplied, in txn: borrowing WriteTransaction) throws -> CommandOutcome {
        guard let actorEmail = request.actor else { return .refused(Refusal(.noActor, "say who acts (X-Actor)")) }
        var directory = Directory(now: request.now)
        let (actorID, actorStatus) = try directory.resolve(actorEmail, people: people, in: txn)
        let account: UserID
        if case .activate = request.command {
            // An operator acts on another's account as on an org: with an account that may act.
            do { try UserRules.requireMayActOnOrgs(actorStatus) } catch { return .refused(error) }
            guard let existing = try people.userID(of: request.account, in: txn) else {
                return .refused(Refusal(.userNotFound, "no user has this email (a returning user appears with their first PATCH /v1/me)"))
            }
            account = existing
        } else {
            account = actorID
        }
        let row = try people.row(account, in: txn)
        let fresh = directory.fresh.first { $0.id == account }
        guard row != nil || fresh != nil else { return .refused(Refusal(.userNotFound, "no user has this email")) }
        // A new user is decided on as if `user.created` were applied: the command creates them.
        var state: UserState? = row.map { r in
            var s = UserState(id: account, status: r.status, createdAt: r.createdAt, version: r.version)
            s.purgeAt = r.purgeAt
            return s
        } ?? UserState(id: account, status: fresh!.wasErased ? .activationRequired : .active, createdAt: request.now, version: 0)
        var emailHolder: [Email: UserID] = [:]
        if case .changeEmail(let raw) = request.command, case .success(let email) = Email.parse(raw), let holder = try people.userID(of: email, in: txn) {
            emailHolder[email] = holder
        }
        var usernameHolder: [Handle: UserID] = [:]
        if case .updateProfile(_, .some(.some(let raw)), _) = request.command, case .success(let username) = Handle.parse(raw, field: "username"),
            let holder = try people.userID(ofUsername: username, in: txn)
        {
            usernameHolder[username] = holder
        }
        var soleOwnerOf: [String] = []
        if case .scheduleDeletion = request.command {
            // The orgs the account owns, from the memberships view (not every org that ever named them).
            let owned = try Queries.entries(under: Keys.joined(account.value, ""), in: tables[.memberships], txn: txn)
                .filter { $0.value.elementsEqual(Role.owner.rawValue.utf8) }.map { String(decoding: $0.suffix, as: UTF8.self) }
            for orgID in owned {
                guard let org = try cache.state(of: orgID, tables: tables, in: txn), org.status != .purged,
                    org.members[account]?.role == .owner, org.members[account]?.status == .active
                else { continue }
                var others = false
                for owner in org.activeOwners where owner != account {
                    if try people.row(owner, in: txn)?.status != .pendingDeletion { others = true; break }
                }
                if !others { soleOwnerOf.append(org.handle.value) }
            }
        }
        let (emails, usernames) = (emailHolder, usernameHolder)
        let context = UserDecisionContext(
            now: request.now, currentEmail: row?.email ?? fresh?.email, emailHolder: { emails[$0] }, usernameHolder: { usernames[$0] },
            soleOwnerOf: soleOwnerOf.sorted(), actorIsOperator: request.actorIsOperator)
        let events: [UserEvent]
        switch decide(request.command, by: .user(actorID), on: state!, context: context) {
        case .failure(let refusal): return .refused(refusal)
        case .success(let decided): events = decided
        }
        guard !events.isEmpty else { return .applied(orgID: account.value, events: [], response: render(row?.json)) }
        state = nil
        // Whoever this command makes a user (the account, or an operator's first command) is created first.
        for made in directory.fresh {
            _ = try appendUserEvents(
                [UserRules.creation(of: made.email, wasErased: made.wasErased) { PersonalValue(committing: $0) }], to: made.id, row: nil,
                actor: .user(actorID), at: request.now, meta: request.meta, in: txn)
        }
        let current = try appendUserEvents(events, to: account, row: try people.row(account, in: txn), actor: .user(actorID), at: request.now, meta: request.meta, in: txn)
        return .applied(orgID: account.value, events: [], response: render(current?.json))
    }

    private func forgetIdempotency(before now: Timestamp, in txn: borrowing WriteTransaction) throws {
        var stale: [[UInt8]] = []
        try txn.withCursor(on: tables.idempotency) { cursor in
            try cursor.forEach(from: [UInt8]?.none) { entry in
                guard let stored = StoredResponse(decoding: entry.value) else {
                    stale.append(Array(entry.key))  // an older layout: unreadable, so of no use
                    return true
                }
                if !stored.isLive(at: now) { stale.append(Array(entry.key)) }
                return true
            }
        }
        for key in stale { try txn.delete(in: tables.idempotency, key: key) }
    }
}

/// How an idempotent response is kept in the `idempotency` table.
extension StoredResponse {
    /// Layout (version 2): 0x02 ‖ at (8) ‖ status (8) ‖ etag + 1 (8, 0 = none) ‖ fingerprint (32) ‖ body.
    /// A value of the first layout (it starts with a zero byte) is treated as absent.
    static let layout: UInt8 = 2
    static let headerSize = 1 + 8 + 8 + 8 + 32

    var encoded: [UInt8] {
        var out: [UInt8] = [Self.layout]
        out.reserveCapacity(Self.headerSize + body.count)
        Keys.appendBE64(UInt64(bitPattern: at.millisecondsSinceEpoch), to: &out)
        Keys.appendBE64(UInt64(status), to: &out)
        Keys.appendBE64(etag.map { $0 + 1 } ?? 0, to: &out)
        out += fingerprint.count == 32 ? fingerprint : [UInt8](repeating: 0, count: 32)
        out += body
        return out
    }

    convenience init?(decoding bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= Self.headerSize, bytes[0] == Self.layout else { return nil }
        func word(_ offset: Int) -> UInt64 { Keys.readBE64(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + 8)])) }
        let tag = word(17)
        self.init(
            status: Int(truncatingIfNeeded: word(9)), body: Array(bytes[57...]), at: Timestamp(millisecondsSinceEpoch: Int64(bitPattern: word(1))),
            etag: tag == 0 ? nil : tag - 1, fingerprint: Array(bytes[25..<57]))
    }
}

/// The people one command names, resolved in its transaction: each email to its user, or to a fresh id
/// (and whether the email was erased before) that becomes a user only if the command succeeds.
struct Directory {
    struct Fresh {
        let id: UserID
        let email: Email
        let wasErased: Bool
    }

    private(set) var ids: [Email: UserID] = [:]
    private(set) var fresh: [Fresh] = []

    /// The time new users' ids are ordered by (the command's).
    let now: Timestamp

    init(now: Timestamp) { self.now = now }

    mutating func resolve(_ email: Email, people: PeopleStore, in txn: borrowing some TransactionReading & ~Copyable) throws -> (id: UserID, status: UserStatus) {
        if let id = ids[email] {
            return (id, try people.row(id, in: txn)?.status ?? (fresh.first { $0.id == id }?.wasErased == true ? .activationRequired : .active))
        }
        if let account = try people.account(of: email, in: txn) {
            ids[email] = account.id
            return account
        }
        let wasErased = try people.wasErased(email, in: txn)
        let id = UserID(trusted: ResourceIDs.make(UserID.prefix, orderedBy: now))
        ids[email] = id
        fresh.append(Fresh(id: id, email: email, wasErased: wasErased))
        return (id, wasErased ? .activationRequired : .active)
    }
}
