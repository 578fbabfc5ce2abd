import LedgerCore
import Testing
@testable import OrgDomain

private let owner = "owner@example.com"

@Suite("Org rules: handles, profile, deletion, due events")
struct OrgRuleTests {
    @Test("a new org is active with its creator as the only owner")
    func create() throws {
        let l = Ledger()
        let id = l.org("acme")
        let org = try #require(l.orgs[id])
        #expect(org.status == .active)
        #expect(org.handle.value == "acme")
        #expect(org.activeOwners == [email(owner)])
        #expect(l.streams[id]!.map(\.0.type) == ["org.created", "member.joined"])
    }

    @Test("handles are unique across orgs, case-insensitively")
    func uniqueHandles() {
        let l = Ledger()
        l.org("acme")
        let other = l.freshID("org")
        #expect(l.refused(.createOrg(orgID: other, handle: "ACME", displayName: "Copy"), by: user("b@example.com"), on: other)?.reason == .handleTaken)
        let second = l.org("beta")
        #expect(l.refused(.renameHandle("acme"), by: user(owner), on: second)?.reason == .handleTaken)
    }

    @Test("a renamed org's former handle is held for it 30 days; it may take it back; then it is free")
    func handleHold() throws {
        let l = Ledger()
        let acme = l.org("acme")
        let beta = l.org("beta", owner: "b@example.com")
        let events = l.must(.renameHandle("acme-labs"), by: owner, on: acme)
        #expect(events == [.handleRenamed(from: Handle(trusted: "acme"), to: Handle(trusted: "acme-labs"), heldUntil: t0.adding(days: 30))])
        l.advance(days: 29)
        #expect(l.refused(.renameHandle("acme"), by: user("b@example.com"), on: beta)?.reason == .handleTaken)
        l.must(.renameHandle("acme"), by: owner, on: acme)  // take it back
        l.must(.renameHandle("acme-labs"), by: owner, on: acme)
        l.advance(days: 30)
        // The hold has ended: free even before the service appends org.handle_released.
        #expect(l.orgs[acme]!.heldHandles[Handle(trusted: "acme")] != nil)
        l.must(.renameHandle("acme"), by: "b@example.com", on: beta)
    }

    @Test("renaming to the current handle changes nothing")
    func renameNoop() {
        let l = Ledger()
        let acme = l.org("acme")
        #expect(l.must(.renameHandle("ACME"), by: owner, on: acme).isEmpty)
    }

    @Test("profile updates record from and to of changed fields only; null resets the avatar; no change, no event")
    func profile() throws {
        let l = Ledger()
        let acme = l.org("acme")
        let e1 = l.must(.updateProfile(displayName: " Acme Rockets ", avatarURL: .some("https://cdn.example.com/a.png")), by: owner, on: acme)
        #expect(e1 == [.profileUpdated(displayName: .init(from: "The acme org", to: "Acme Rockets"), avatarURL: .init(from: nil, to: "https://cdn.example.com/a.png"))])
        #expect(l.must(.updateProfile(displayName: "Acme Rockets", avatarURL: nil), by: owner, on: acme).isEmpty)
        let e2 = l.must(.updateProfile(displayName: nil, avatarURL: .some(nil)), by: owner, on: acme)
        #expect(e2 == [.profileUpdated(displayName: nil, avatarURL: .init(from: "https://cdn.example.com/a.png", to: nil))])
        let bad = l.refused(.updateProfile(displayName: "", avatarURL: .some("http://x.example")), by: user(owner), on: acme)
        #expect(bad?.errors.map(\.field) == ["display_name", "avatar_url"])
        #expect(l.refused(.updateProfile(displayName: nil, avatarURL: nil), by: user(owner), on: acme)?.kind == .invalid)
    }

    @Test("deletion needs the current handle typed as confirmation; a mismatch writes nothing")
    func deletionConfirmation() {
        let l = Ledger()
        let acme = l.org("acme")
        let refusal = l.refused(.scheduleDeletion(confirm: "Acme"), by: user(owner), on: acme)
        #expect(refusal?.reason == .confirmationMismatch)
        #expect(refusal?.kind == .invalid)
        #expect(refusal?.errors.first?.field == "confirm")
        #expect(l.must(.scheduleDeletion(confirm: "acme"), by: owner, on: acme) == [.deletionScheduled(purgeAt: t0.adding(days: 30))])
    }

    @Test("a pending deletion freezes the org: every command but cancel is refused with 409")
    func frozen() {
        let l = Ledger()
        let acme = l.org("acme", members: ["admin@example.com": .admin])
        l.must(.invite(emails: ["x@example.com"], role: "member", ttlDays: nil, invitationIDs: ["inv_x"]), by: owner, on: acme)
        l.must(.scheduleDeletion(confirm: "acme"), by: owner, on: acme)
        let commands: [Command] = [
            .updateProfile(displayName: "X", avatarURL: nil), .renameHandle("acme2"),
            .invite(emails: ["y@example.com"], role: "member", ttlDays: nil, invitationIDs: ["inv_y"]),
            .changeRole(email: "admin@example.com", role: "member"), .suspend(email: "admin@example.com"),
            .remove(email: "admin@example.com"), .resetAuth, .scheduleDeletion(confirm: "acme"),
            .createAPIKey(keyID: "k", name: "k", role: "viewer", secretSHA256: String(repeating: "c", count: 64)),
        ]
        for command in commands {
            #expect(l.refused(command, by: user(owner), on: acme)?.reason == .pendingDeletion, "\(command)")
        }
        #expect(l.refused(.acceptInvitation(id: "inv_x"), by: user("x@example.com"), on: acme)?.reason == .pendingDeletion)
        #expect(l.refused(.declineInvitation(id: "inv_x"), by: user("x@example.com"), on: acme)?.reason == .pendingDeletion)
        #expect(l.refused(.revokeInvitation(id: "inv_x"), by: user(owner), on: acme)?.reason == .pendingDeletion)
        #expect(l.refused(.cancelDeletion, by: user("admin@example.com"), on: acme)?.reason == .notPermitted)
        #expect(l.must(.cancelDeletion, by: owner, on: acme) == [.deletionCanceled])
        #expect(l.orgs[acme]!.status == .active)
        #expect(l.refused(.cancelDeletion, by: user(owner), on: acme)?.reason == .notPendingDeletion)
    }

    @Test("org.purged is due exactly 30 days after scheduling, once; then the org is gone and its handle free")
    func purge() {
        let l = Ledger()
        let acme = l.org("acme")
        l.must(.scheduleDeletion(confirm: "acme"), by: owner, on: acme)
        l.now = t0.adding(days: 30).adding(milliseconds: -1)
        #expect(dueEvents(l.orgs[acme]!, now: l.now).isEmpty)
        #expect(nextDueTime(l.orgs[acme]!) == t0.adding(days: 30))
        l.now = t0.adding(days: 30)
        l.runDue()
        #expect(l.streams[acme]!.last!.0 == .purged(handle: Handle(trusted: "acme")))
        #expect(l.streams[acme]!.last!.1.actor == .system)
        let count = l.streams[acme]!.count
        l.runDue()
        #expect(l.streams[acme]!.count == count)
        #expect(l.refused(.updateProfile(displayName: "Back", avatarURL: nil), by: user(owner), on: acme)?.reason == .orgNotFound)
        l.org("acme", owner: "new@example.com")
    }

    @Test("held handles are released by a due event at the end of the hold, once")
    func handleRelease() {
        let l = Ledger()
        let acme = l.org("acme")
        l.must(.renameHandle("acme-labs"), by: owner, on: acme)
        l.now = t0.adding(days: 30)
        l.runDue()
        #expect(l.streams[acme]!.last!.0 == .handleReleased(handle: Handle(trusted: "acme")))
        #expect(l.orgs[acme]!.heldHandles.isEmpty)
        let count = l.streams[acme]!.count
        l.runDue()
        #expect(l.streams[acme]!.count == count)
    }

    @Test("no actor is 401, 'system' cannot be claimed, strangers and unknown orgs are refused")
    func actors() {
        let l = Ledger()
        let acme = l.org("acme")
        #expect(l.refused(.resetAuth, by: nil, on: acme)?.kind == .unauthenticated)
        #expect(l.refused(.resetAuth, by: .system, on: acme)?.reason == .systemActor)
        #expect(l.refused(.resetAuth, by: user("stranger@example.com"), on: acme)?.reason == .notAMember)
        #expect(l.refused(.resetAuth, by: user(owner), on: "org_missing")?.reason == .orgNotFound)
    }
}
