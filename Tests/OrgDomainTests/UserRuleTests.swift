import LedgerCore
import Testing
@testable import OrgDomain

/// A user account as the ledger would hold it for these tests: its state and its current email.
private struct Account {
    var state: UserState
    /// The email the account was made with: its id in these tests, whatever its email becomes.
    let address: String
    var email: Email
    var events: [(UserEvent, EventContext)] = []

    init(_ address: String) {
        state = UserState(id: OrgDomainTests.email(address), status: .active, createdAt: t0, version: 1)
        self.address = address
        email = Email(trusted: address)
        events = [(.created(email: PersonalValue(committing: address), activationRequired: false), EventContext(at: t0, actor: user(address), version: 1))]
    }

    func context(
        now: Timestamp = t0, soleOwnerOf: [String] = [], operator isOperator: Bool = false, emailHolder: [String: String] = [:], usernameHolder: [String: String] = [:]
    ) -> UserDecisionContext {
        UserDecisionContext(
            now: now, currentEmail: email, emailHolder: { emailHolder[$0.value].map(OrgDomainTests.email) },
            usernameHolder: { usernameHolder[$0.value].map(OrgDomainTests.email) }, soleOwnerOf: soleOwnerOf, actorIsOperator: isOperator)
    }

    /// Decides and, when it succeeds, applies.
    mutating func run(_ command: UserCommand, by actor: String? = nil, context: UserDecisionContext? = nil) -> Result<[UserEvent], Refusal> {
        let who = actor ?? address
        let result = decide(command, by: user(who), on: state, context: context ?? self.context())
        if case .success(let decided) = result {
            var next: UserState? = state
            for event in decided {
                let recorded = EventContext(at: t0, actor: user(who), version: (next?.version ?? 0) + 1)
                apply(&next, event, stream: state.id, recorded)
                events.append((event, recorded))
                if case .emailChanged(let value) = event, let address = value.disclosed?.value { email = Email(trusted: address) }
            }
            state = next!
        }
        return result
    }

    func refusal(_ result: Result<[UserEvent], Refusal>) -> Refusal.Reason? {
        if case .failure(let refusal) = result { return refusal.reason }
        return nil
    }
}

@Suite("User accounts: profile, email change, deletion with undo, activation")
struct UserRuleTests {
    @Test("a profile update commits to each value it sets under a fresh salt, clears with null, checks every field")
    func profile() throws {
        var ada = Account("ada@example.com")
        let events = try ada.run(.updateProfile(name: "Ada Lovelace", username: "ada", avatarURL: .some(nil))).get()
        guard case .profileUpdated(let name, let username, let avatar)? = events.first else { Issue.record("no profile event"); return }
        let committed = try #require(name??.disclosed)
        #expect(committed.value == "Ada Lovelace" && committed.salt.count == 32)
        #expect(name??.isOpened(bySalt: committed.salt, value: "Ada Lovelace") == true)
        #expect(name??.isOpened(bySalt: committed.salt, value: "Ada Byron") == false)
        #expect(username??.disclosed?.value == "ada" && avatar.map { $0 == nil } == true)
        #expect(username??.disclosed?.salt != committed.salt, "every value gets its own salt")
        #expect(events.first?.data["changes"]?["avatar_url"] == .null)
        let bad = ada.run(.updateProfile(name: "  ", username: "Not A Handle", avatarURL: "http://x"))
        if case .failure(let refusal) = bad { #expect(refusal.errors.map(\.field).sorted() == ["avatar_url", "name", "username"]) } else { Issue.record("accepted") }
        #expect(ada.refusal(ada.run(.updateProfile(name: nil, username: nil, avatarURL: nil))) == .invalidInput)
        let taken = ada.run(.updateProfile(name: nil, username: "grace", avatarURL: nil), context: ada.context(usernameHolder: ["grace": "grace@example.com"]))
        #expect(ada.refusal(taken) == .usernameTaken)
        #expect(ada.refusal(ada.run(.updateProfile(name: "Someone", username: nil, avatarURL: nil), by: "mallory@example.com")) == .notPermitted)
    }

    @Test("an email change commits to the new email; another user's email is 409; the same email changes nothing")
    func emailChange() throws {
        var ada = Account("ada@example.com")
        #expect(ada.refusal(ada.run(.changeEmail("not an email"))) == .invalidInput)
        #expect(ada.refusal(ada.run(.changeEmail("grace@example.com"), context: ada.context(emailHolder: ["grace@example.com": "grace@example.com"]))) == .emailTaken)
        #expect(try ada.run(.changeEmail(" ADA@example.com")).get().isEmpty)
        let events = try ada.run(.changeEmail("Ada.L@Example.com")).get()
        guard case .emailChanged(let value)? = events.first else { Issue.record("no email event"); return }
        #expect(value.disclosed?.value == "ada.l@example.com", "normalized once, then committed")
        #expect(ada.email.value == "ada.l@example.com")
    }

    @Test("deletion: confirmed by the current email, refused while the last owner of an org (listing it), undone within 30 days")
    func deletion() throws {
        var ada = Account("ada@example.com")
        #expect(ada.refusal(ada.run(.scheduleDeletion(confirm: "someone@example.com"))) == .confirmationMismatch)
        let sole = ada.run(.scheduleDeletion(confirm: "ada@example.com"), context: ada.context(soleOwnerOf: ["acme", "beta"]))
        if case .failure(let refusal) = sole { #expect(refusal.reason == .soleOwner && refusal.orgs == ["acme", "beta"]) } else { Issue.record("accepted") }
        #expect(ada.refusal(ada.run(.cancelDeletion)) == .notPendingDeletion)
        let scheduled = try ada.run(.scheduleDeletion(confirm: "ADA@example.com")).get()
        #expect(scheduled == [.deletionScheduled(purgeAt: t0.adding(days: 30))])
        #expect(ada.state.status == .pendingDeletion && ada.state.purgeAt == t0.adding(days: 30))
        // While pending: no profile change, no email change, no second scheduling; cancelling works.
        #expect(ada.refusal(ada.run(.updateProfile(name: "Ada", username: nil, avatarURL: nil))) == .accountPendingDeletion)
        #expect(ada.refusal(ada.run(.changeEmail("new@example.com"))) == .accountPendingDeletion)
        #expect(ada.refusal(ada.run(.scheduleDeletion(confirm: "ada@example.com"))) == .accountPendingDeletion)
        #expect(UserRules.dueEvents(ada.state, now: t0.adding(days: 29)).isEmpty)
        #expect(try ada.run(.cancelDeletion).get() == [.deletionCanceled])
        #expect(ada.state.status == .active && ada.state.purgeAt == nil)
        _ = try ada.run(.scheduleDeletion(confirm: "ada@example.com")).get()
        #expect(UserRules.dueEvents(ada.state, now: t0.adding(days: 30)) == [.erased])
    }

    @Test("only an operator activates, and only an account that waits for it")
    func activation() throws {
        var back = Account("back@example.com")
        back.state.status = .activationRequired
        // Waiting for activation: the profile is theirs to edit, orgs are not.
        #expect(try back.run(.updateProfile(name: "Back", username: nil, avatarURL: nil)).get().count == 1)
        #expect(back.refusal(back.run(.changeEmail("other@example.com"))) == .activationRequired)
        #expect(back.refusal(back.run(.activate, by: "mallory@example.com")) == .notOperator)
        #expect(back.refusal(back.run(.activate, by: "back@example.com")) == .notOperator)
        #expect(try back.run(.activate, by: "op@example.com", context: back.context(operator: true)).get() == [.activated])
        #expect(back.state.status == .active)
        #expect(back.refusal(back.run(.activate, by: "op@example.com", context: back.context(operator: true))) == .notActivationRequired)
    }

    @Test("an account pending deletion or awaiting activation acts on no org; a pending owner counts as no owner")
    func standingInOrgs() {
        let l = Ledger()
        let acme = l.org("acme", owner: "owner@example.com", members: ["co@example.com": .owner])
        for (status, reason) in [(UserStatus.pendingDeletion, Refusal.Reason.accountPendingDeletion), (.activationRequired, .activationRequired)] {
            let result = decide(.renameHandle("acme-two"), by: user("owner@example.com"), state: l.orgs[acme],
                context: DecisionContext(now: l.now, people: { email($0.value) }, actorAccount: status))
            if case .failure(let refusal) = result { #expect(refusal.reason == reason) } else { Issue.record("\(status) acted") }
        }
        // owner@ is pending deletion: co@ may not leave, demote or suspend themself into an ownerless org.
        let pending: @Sendable (UserID) -> Bool = { $0 == email("owner@example.com") }
        for command in [Command.remove(email: "co@example.com"), .changeRole(email: "co@example.com", role: "admin")] {
            let result = decide(command, by: user("co@example.com"), state: l.orgs[acme], context: DecisionContext(now: l.now, people: { email($0.value) }, pendingDeletion: pending))
            if case .failure(let refusal) = result { #expect(refusal.reason == .lastOwner) } else { Issue.record("\(command) left the org to an owner on the way out") }
        }
        // Without the pending deletion, co@ may leave: owner@ stays.
        let free = decide(.remove(email: "co@example.com"), by: user("co@example.com"), state: l.orgs[acme], context: DecisionContext(now: l.now, people: { email($0.value) }))
        if case .failure(let refusal) = free { Issue.record("refused: \(refusal)") }
    }

    @Test("a purge removes the member, revokes invitations to them and every key they made, and nothing else")
    func accountDeletionEvents() {
        let l = Ledger()
        let acme = l.org("acme", owner: "owner@example.com", members: ["ada@example.com": .admin])
        l.must(.createAPIKey(keyID: "key_a", name: "ada's", role: "member", secretSHA256: String(repeating: "a", count: 64)), by: "ada@example.com", on: acme)
        l.must(.createAPIKey(keyID: "key_o", name: "owner's", role: "member", secretSHA256: String(repeating: "b", count: 64)), by: "owner@example.com", on: acme)
        l.must(.invite(emails: ["gone@example.com"], role: "member", ttlDays: nil, invitationIDs: ["inv_g"]), by: "owner@example.com", on: acme)
        let org = l.orgs[acme]!
        #expect(UserRules.accountDeletionEvents(of: email("ada@example.com"), in: org) == [
            .memberRemoved(user: email("ada@example.com"), role: .admin, reason: .accountDeleted), .apiKeyRevoked(keyID: "key_a"),
        ])
        #expect(UserRules.accountDeletionEvents(of: email("gone@example.com"), in: org) == [
            .invitationRevoked(invitationID: "inv_g", user: email("gone@example.com"), reason: .accountDeleted),
        ])
        #expect(UserRules.accountDeletionEvents(of: email("stranger@example.com"), in: org).isEmpty)
    }

    @Test("an imported user stream must be one the service could have written: order, actor, standing")
    func recordedUserEvents() {
        let ada = email("ada@example.com"), mallory = email("mallory@example.com")
        let created = UserEvent.created(email: PersonalValue(committing: "ada@example.com"), activationRequired: false)
        func problem(_ event: UserEvent, by actor: Actor, at: Timestamp = t0, state: UserState?) -> String? {
            RecordedEventRules.userEventProblem(event, by: actor, at: at, stream: ada, state: state)
        }
        let active = UserState(id: ada, status: .active, createdAt: t0, version: 1)
        var pending = active
        pending.status = .pendingDeletion
        pending.purgeAt = t0.adding(days: 30)
        var erased = active
        erased.status = .erased
        #expect(problem(created, by: .user(ada), state: nil) == nil)
        #expect(problem(created, by: .user(ada), state: active) != nil, "a second user.created")
        #expect(problem(.deletionCanceled, by: .user(ada), state: nil) != nil, "an event before user.created")
        #expect(problem(.deletionScheduled(purgeAt: t0.adding(days: 30)), by: .user(ada), state: active) == nil)
        #expect(problem(.deletionScheduled(purgeAt: t0.adding(days: 30)), by: .user(mallory), state: active) != nil, "someone else's deletion")
        #expect(problem(.deletionScheduled(purgeAt: t0.adding(days: 1)), by: .user(ada), state: active) != nil, "a purge sooner than 30 days")
        #expect(problem(.erased, by: .user(ada), at: t0.adding(days: 31), state: pending) != nil, "an erasure by a user")
        #expect(problem(.erased, by: .system, at: t0.adding(days: 29), state: pending) != nil, "an erasure before purge_at")
        #expect(problem(.erased, by: .system, at: t0.adding(days: 30), state: pending) == nil)
        #expect(problem(.profileUpdated(name: .some(nil), username: nil, avatarURL: nil), by: .user(ada), state: erased) != nil, "anything after user.erased")
        #expect(problem(.profileUpdated(name: nil, username: nil, avatarURL: nil), by: .user(ada), state: active) != nil, "a change of nothing")
        #expect(problem(.activated, by: .user(mallory), state: active) != nil, "activating an active account")
        #expect(problem(.emailChanged(email: PersonalValue(committing: "x@example.com")), by: .user(mallory), state: active) != nil)
    }

    @Test("every user event type occurs, reads back to its commitments, and is written out for the JSON Schema check")
    func everyUserEventType() throws {
        var ada = Account("ada@example.com")
        _ = try ada.run(.updateProfile(name: "Ada", username: "ada", avatarURL: "https://cdn.example.com/ada.png")).get()
        _ = try ada.run(.updateProfile(name: .some(nil), username: nil, avatarURL: nil)).get()
        _ = try ada.run(.changeEmail("ada.l@example.com")).get()
        _ = try ada.run(.scheduleDeletion(confirm: "ada.l@example.com")).get()
        _ = try ada.run(.cancelDeletion).get()
        _ = try ada.run(.scheduleDeletion(confirm: "ada.l@example.com")).get()
        ada.events.append((.erased, EventContext(at: t0.adding(days: 30), actor: .system, version: UInt64(ada.events.count + 1))))
        var back = Account("back@example.com")
        back.events = [(.created(email: PersonalValue(committing: "back@example.com"), activationRequired: true), EventContext(at: t0, actor: user("back@example.com"), version: 1))]
        back.state.status = .activationRequired
        _ = try back.run(.activate, by: "op@example.com", context: back.context(operator: true)).get()

        let all = ada.events + back.events
        #expect(Set(all.map(\.0.type)) == Set(UserEvent.allTypes))
        for (event, _) in all {
            // Read back from the log: the same commitments (equality is by commitment), no values.
            let read = try UserEvent(type: event.type, data: event.data)
            #expect(read == event)
            #expect(read.personalValues.allSatisfy { $0.value.disclosed == nil })
        }
        var lines: [String] = []
        var prev = ChainHash.genesis
        var seq: UInt64 = 0
        for (account, events) in [(ada, ada.events), (back, back.events)] {
            for (event, context) in events {
                seq += 1
                let envelope = EventEnvelope(seq: seq, stream: account.state.id.value, version: context.version, event: event.newEvent(at: context.at, actor: context.actor), prevHash: prev)
                let bytes = try envelope.canonicalBytes()
                prev = ChainHash.of(bytes)
                let text = String(decoding: try envelope.exportBytes(hash: prev), as: UTF8.self)
                #expect(!text.contains("@example.com") && !text.contains("Ada"), "a personal value in the log: \(text)")
                lines.append(text)
            }
        }
        // The ledger's own fact, on its stream: the retention run.
        let erased = LedgerEvent.requestContextErased(beforeSeq: 3, count: 2)
        #expect(try LedgerEvent(type: erased.type, data: erased.data) == erased)
        #expect(throws: EventDecodingError.self) { try LedgerEvent(type: erased.type, data: ["before_seq": 0, "count": 2]) }
        seq += 1
        let envelope = EventEnvelope(seq: seq, stream: LedgerEvent.stream, version: 1, event: erased.newEvent(at: t0.adding(days: 91)), prevHash: prev)
        lines.append(String(decoding: try envelope.exportBytes(hash: ChainHash.of(try envelope.canonicalBytes())), as: UTF8.self))
        try writeSamples(lines, name: "users")
    }
}
