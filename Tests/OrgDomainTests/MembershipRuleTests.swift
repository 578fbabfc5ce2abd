import LedgerCore
import Testing
@testable import OrgDomain

private let owner = "owner@example.com"

@Suite("Membership rules: invitations, roles, suspension, last owner")
struct MembershipRuleTests {
    @Test("an invitation lives 7 days by default, 1–30 on request; outside that it is refused")
    func ttl() {
        let l = Ledger()
        let acme = l.org("acme")
        #expect(l.must(.invite(emails: ["a@example.com"], role: "member", ttlDays: nil, invitationIDs: ["i1"]), by: owner, on: acme)
            == [.invitationSent(invitationID: "i1", user: email("a@example.com"), role: .member, expiresAt: t0.adding(days: 7))])
        #expect(l.must(.invite(emails: ["b@example.com"], role: "member", ttlDays: 30, invitationIDs: ["i2"]), by: owner, on: acme).count == 1)
        #expect(l.must(.invite(emails: ["c@example.com"], role: "member", ttlDays: 1, invitationIDs: ["i3"]), by: owner, on: acme).count == 1)
        for bad in [0, 31, -1] {
            let r = l.refused(.invite(emails: ["d@example.com"], role: "member", ttlDays: bad, invitationIDs: ["i4"]), by: user(owner), on: acme)
            #expect(r?.errors.map(\.field) == ["ttl_days"])
        }
    }

    @Test("at most 100 emails, all or nothing; one bad email names its index and sends nothing")
    func allOrNothing() {
        let l = Ledger()
        let acme = l.org("acme")
        let hundred = (0..<100).map { "p\($0)@example.com" }
        #expect(l.must(.invite(emails: hundred, role: "viewer", ttlDays: nil, invitationIDs: (0..<100).map { "i\($0)" }), by: owner, on: acme).count == 100)
        let tooMany = (0..<101).map { "q\($0)@example.com" }
        #expect(l.refused(.invite(emails: tooMany, role: "viewer", ttlDays: nil, invitationIDs: (0..<101).map { "j\($0)" }), by: user(owner), on: acme)?.errors.map(\.field) == ["emails"])
        let r = l.refused(.invite(emails: ["ok@example.com", "broken", "fine@example.com"], role: "viewer", ttlDays: nil, invitationIDs: ["k1", "k2", "k3"]), by: user(owner), on: acme)
        #expect(r?.errors.map(\.field) == ["emails[1]"])
        #expect(l.orgs[acme]!.pendingInvitation(to: email("ok@example.com")) == nil)
    }

    @Test("duplicate emails in one request collapse into one invitation")
    func duplicates() {
        let l = Ledger()
        let acme = l.org("acme")
        let events = l.must(.invite(emails: ["a@example.com", " A@Example.com", "a@example.com"], role: "member", ttlDays: nil, invitationIDs: ["i1", "i2", "i3"]), by: owner, on: acme)
        #expect(events == [.invitationSent(invitationID: "i1", user: email("a@example.com"), role: .member, expiresAt: t0.adding(days: 7))])
    }

    @Test("inviting again revokes the pending invitation (replaced) and sends a new one, atomically")
    func reinvite() {
        let l = Ledger()
        let acme = l.org("acme")
        l.must(.invite(emails: ["a@example.com"], role: "member", ttlDays: nil, invitationIDs: ["i1"]), by: owner, on: acme)
        l.advance(days: 1)
        let events = l.must(.invite(emails: ["a@example.com"], role: "viewer", ttlDays: 3, invitationIDs: ["i2"]), by: owner, on: acme)
        #expect(events == [
            .invitationRevoked(invitationID: "i1", user: email("a@example.com"), reason: .replaced),
            .invitationSent(invitationID: "i2", user: email("a@example.com"), role: .viewer, expiresAt: t0.adding(days: 4)),
        ])
        #expect(l.orgs[acme]!.pendingInvitation(to: email("a@example.com"))?.id == "i2")
        #expect(l.refused(.acceptInvitation(id: "i1"), by: user("a@example.com"), on: acme)?.kind == .gone)
    }

    @Test("re-inviting replaces a pending invitation only for an actor who may revoke it")
    func reinviteNeedsRevokeRight() {
        let l = Ledger()
        let acme = l.org("acme", members: ["admin@example.com": .admin, "mod@example.com": .moderator])
        l.must(.invite(emails: ["a@example.com"], role: "admin", ttlDays: nil, invitationIDs: ["i1"]), by: owner, on: acme)
        // A moderator may invite members, but may not revoke an admin's invitation: not by replacing it either.
        let r = l.refused(.invite(emails: ["a@example.com"], role: "member", ttlDays: nil, invitationIDs: ["i2"]), by: user("mod@example.com"), on: acme)
        #expect(r?.reason == .notPermitted)
        #expect(l.orgs[acme]!.pendingInvitation(to: email("a@example.com"))?.id == "i1")
        // Nor may an admin (admin invitations are the owner's), while the owner may.
        #expect(l.refused(.invite(emails: ["a@example.com"], role: "viewer", ttlDays: nil, invitationIDs: ["i3"]), by: user("admin@example.com"), on: acme)?.reason == .notPermitted)
        l.must(.invite(emails: ["a@example.com"], role: "member", ttlDays: nil, invitationIDs: ["i4"]), by: owner, on: acme)
        // A member-role invitation the moderator may revoke, so it may replace it.
        l.must(.invite(emails: ["a@example.com"], role: "viewer", ttlDays: nil, invitationIDs: ["i5"]), by: "mod@example.com", on: acme)
        #expect(l.orgs[acme]!.pendingInvitation(to: email("a@example.com"))?.id == "i5")
    }

    @Test("a used invitation is gone (410): accepted, declined or revoked, like an expired one")
    func usedInvitationIsGone() {
        let l = Ledger()
        let acme = l.org("acme")
        l.must(.invite(emails: ["a@example.com", "b@example.com", "c@example.com"], role: "member", ttlDays: nil, invitationIDs: ["i1", "i2", "i3"]), by: owner, on: acme)
        l.must(.acceptInvitation(id: "i1"), by: "a@example.com", on: acme)
        l.must(.declineInvitation(id: "i2"), by: "b@example.com", on: acme)
        l.must(.revokeInvitation(id: "i3"), by: owner, on: acme)
        l.must(.remove(email: "a@example.com"), by: "a@example.com", on: acme)
        for (id, who) in [("i1", "a@example.com"), ("i2", "b@example.com"), ("i3", "c@example.com")] {
            let r = l.refused(.acceptInvitation(id: id), by: user(who), on: acme)
            #expect(r?.reason == .invitationNotPending && r?.kind == .gone, "\(id)")
        }
    }

    @Test("owner is never granted by invitation")
    func noOwnerInvitations() {
        let l = Ledger()
        let acme = l.org("acme")
        #expect(l.refused(.invite(emails: ["a@example.com"], role: "owner", ttlDays: nil, invitationIDs: ["i1"]), by: user(owner), on: acme)?.reason == .notPermitted)
    }

    @Test("an existing member can't be invited; nothing else in the request is sent")
    func existingMember() {
        let l = Ledger()
        let acme = l.org("acme", members: ["m@example.com": .member])
        let r = l.refused(.invite(emails: ["new@example.com", "M@example.com"], role: "viewer", ttlDays: nil, invitationIDs: ["i1", "i2"]), by: user(owner), on: acme)
        #expect(r?.reason == .alreadyMember)
    }

    @Test("only the invited email accepts or declines; the member joins with the invited role")
    func onlyInvitee() throws {
        let l = Ledger()
        let acme = l.org("acme")
        l.must(.invite(emails: ["a@example.com"], role: "moderator", ttlDays: nil, invitationIDs: ["i1"]), by: owner, on: acme)
        #expect(l.refused(.acceptInvitation(id: "i1"), by: user("b@example.com"), on: acme)?.reason == .notInvitee)
        #expect(l.refused(.declineInvitation(id: "i1"), by: user(owner), on: acme)?.reason == .notInvitee)
        #expect(l.refused(.acceptInvitation(id: "nope"), by: user("a@example.com"), on: acme)?.reason == .invitationNotFound)
        let events = l.must(.acceptInvitation(id: "i1"), by: "a@example.com", on: acme)
        #expect(events == [
            .invitationAccepted(invitationID: "i1", user: email("a@example.com")),
            .memberJoined(user: email("a@example.com"), role: .moderator, invitedBy: email(owner), invitationID: "i1"),
        ])
        let member = try #require(l.member("a@example.com", of: acme))
        #expect(member.role == .moderator && member.status == .active && member.invitedBy == email(owner))
        #expect(l.refused(.acceptInvitation(id: "i1"), by: user("a@example.com"), on: acme)?.kind == .gone)
    }

    @Test("expiry is re-checked at acceptance: 410 from expires_at on, even before invitation.expired is appended")
    func expiryAtAcceptance() {
        let l = Ledger()
        let acme = l.org("acme")
        l.must(.invite(emails: ["a@example.com", "b@example.com"], role: "member", ttlDays: 2, invitationIDs: ["i1", "i2"]), by: owner, on: acme)
        l.now = t0.adding(days: 2).adding(milliseconds: -1)
        l.must(.acceptInvitation(id: "i2"), by: "b@example.com", on: acme)
        l.now = t0.adding(days: 2)
        let r = l.refused(.acceptInvitation(id: "i1"), by: user("a@example.com"), on: acme)
        #expect(r?.reason == .invitationExpired)
        #expect(r?.kind == .gone)
        l.runDue()
        #expect(l.streams[acme]!.last!.0 == .invitationExpired(invitationID: "i1", user: email("a@example.com")))
        #expect(l.refused(.declineInvitation(id: "i1"), by: user("a@example.com"), on: acme)?.kind == .gone)
    }

    @Test("revoking needs the right over the invited role and a pending invitation")
    func revoke() {
        let l = Ledger()
        let acme = l.org("acme", members: ["mod@example.com": .moderator])
        l.must(.invite(emails: ["a@example.com"], role: "admin", ttlDays: nil, invitationIDs: ["i1"]), by: owner, on: acme)
        #expect(l.refused(.revokeInvitation(id: "i1"), by: user("mod@example.com"), on: acme)?.reason == .notPermitted)
        #expect(l.must(.revokeInvitation(id: "i1"), by: owner, on: acme) == [.invitationRevoked(invitationID: "i1", user: email("a@example.com"), reason: .revoked)])
        #expect(l.refused(.revokeInvitation(id: "i1"), by: user(owner), on: acme)?.reason == .invitationNotPending)
    }

    @Test("nobody raises their own role, not even sideways into what the matrix would not allow")
    func noSelfRaise() {
        let l = Ledger()
        let acme = l.org("acme", members: ["admin@example.com": .admin, "mod@example.com": .moderator, "bm@example.com": .billingManager])
        #expect(l.refused(.changeRole(email: "admin@example.com", role: "owner"), by: user("admin@example.com"), on: acme)?.reason == .cannotRaiseOwnRole)
        #expect(l.refused(.changeRole(email: "mod@example.com", role: "admin"), by: user("mod@example.com"), on: acme)?.reason == .cannotRaiseOwnRole)
        #expect(l.refused(.changeRole(email: "bm@example.com", role: "admin"), by: user("bm@example.com"), on: acme)?.reason == .notPermitted)
    }

    @Test("anyone may lower their own role, even without the right to change roles")
    func selfLower() {
        let l = Ledger()
        let acme = l.org("acme", members: ["m@example.com": .member, "co@example.com": .owner])
        #expect(l.must(.changeRole(email: "m@example.com", role: "viewer"), by: "m@example.com", on: acme) == [.memberRoleChanged(user: email("m@example.com"), from: .member, to: .viewer)])
        l.must(.changeRole(email: "co@example.com", role: "moderator"), by: "co@example.com", on: acme)
        #expect(l.member("co@example.com", of: acme)?.role == .moderator)
    }

    @Test("anyone may leave; a suspended member may not do even that")
    func leave() {
        let l = Ledger()
        let acme = l.org("acme", members: ["v@example.com": .viewer, "s@example.com": .member])
        #expect(l.must(.remove(email: "v@example.com"), by: "v@example.com", on: acme) == [.memberLeft(user: email("v@example.com"), role: .viewer)])
        l.must(.suspend(email: "s@example.com"), by: owner, on: acme)
        #expect(l.refused(.remove(email: "s@example.com"), by: user("s@example.com"), on: acme)?.reason == .suspended)
    }

    @Test("the last active owner can't be removed, demoted, suspended or leave")
    func lastOwner() {
        let l = Ledger()
        let acme = l.org("acme", members: ["co@example.com": .owner])
        l.must(.suspend(email: "co@example.com"), by: owner, on: acme)  // a suspended owner does not count
        for command: Command in [.remove(email: owner), .changeRole(email: owner, role: "admin"), .suspend(email: owner)] {
            #expect(l.refused(command, by: user(owner), on: acme)?.reason == .lastOwner, "\(command)")
        }
        l.must(.reinstate(email: "co@example.com"), by: owner, on: acme)
        l.must(.remove(email: owner), by: owner, on: acme)  // leaving is fine with another active owner
        #expect(l.orgs[acme]!.activeOwners == [email("co@example.com")])
        #expect(l.refused(.remove(email: "co@example.com"), by: user("co@example.com"), on: acme)?.reason == .lastOwner)
    }

    @Test("suspension keeps the role and removes every permission until reinstated")
    func suspension() {
        let l = Ledger()
        let acme = l.org("acme", members: ["a@example.com": .admin])
        l.must(.suspend(email: "a@example.com"), by: owner, on: acme)
        #expect(l.member("a@example.com", of: acme)?.role == .admin)
        #expect(l.member("a@example.com", of: acme)?.status == .suspended)
        #expect(l.refused(.invite(emails: ["x@example.com"], role: "viewer", ttlDays: nil, invitationIDs: ["i"]), by: user("a@example.com"), on: acme)?.reason == .suspended)
        #expect(l.refused(.suspend(email: "a@example.com"), by: user(owner), on: acme)?.reason == .alreadySuspended)
        l.must(.reinstate(email: "a@example.com"), by: owner, on: acme)
        #expect(l.member("a@example.com", of: acme)?.status == .active)
        #expect(l.member("a@example.com", of: acme)?.role == .admin)
        #expect(l.refused(.reinstate(email: "a@example.com"), by: user(owner), on: acme)?.reason == .notSuspended)
        #expect(l.refused(.remove(email: "ghost@example.com"), by: user(owner), on: acme)?.reason == .memberNotFound)
    }
}

@Suite("API key rules")
struct APIKeyRuleTests {
    static let hashA = String(repeating: "a", count: 64)
    static let hashB = String(repeating: "b", count: 64)

    @Test("a key's role is at most its creator's; billing_manager keys only from an owner")
    func keyRole() {
        let l = Ledger()
        let acme = l.org("acme", members: ["admin@example.com": .admin])
        #expect(l.refused(.createAPIKey(keyID: "k1", name: "x", role: "owner", secretSHA256: Self.hashA), by: user("admin@example.com"), on: acme)?.reason == .notPermitted)
        #expect(l.refused(.createAPIKey(keyID: "k1", name: "x", role: "billing_manager", secretSHA256: Self.hashA), by: user("admin@example.com"), on: acme)?.reason == .notPermitted)
        l.must(.createAPIKey(keyID: "k1", name: "deploy", role: "admin", secretSHA256: Self.hashA), by: "admin@example.com", on: acme)
        l.must(.createAPIKey(keyID: "k2", name: "billing", role: "billing_manager", secretSHA256: Self.hashB), by: owner, on: acme)
    }

    @Test("only a SHA-256 of the secret is accepted and recorded")
    func onlyHash() {
        let l = Ledger()
        let acme = l.org("acme")
        let r = l.refused(.createAPIKey(keyID: "k1", name: "x", role: "viewer", secretSHA256: "olk_plaintext_secret"), by: user(owner), on: acme)
        #expect(r?.errors.map(\.field) == ["secret_sha256"])
        let events = l.must(.createAPIKey(keyID: "k1", name: "x", role: "viewer", secretSHA256: Self.hashA), by: owner, on: acme)
        #expect(events.first?.data["secret_sha256"] == .string(Self.hashA))
    }

    @Test("a key verifies only while not revoked, issued after the last reset, its creator active, the org active")
    func verifyRule() throws {
        let l = Ledger()
        let acme = l.org("acme", members: ["admin@example.com": .admin])
        func status(_ key: String) -> KeyStatus? { l.orgs[acme]!.apiKeys[key]?.status(in: l.orgs[acme]!) }
        l.must(.createAPIKey(keyID: "k1", name: "a", role: "member", secretSHA256: Self.hashA), by: "admin@example.com", on: acme)
        l.must(.createAPIKey(keyID: "k2", name: "b", role: "viewer", secretSHA256: Self.hashB), by: owner, on: acme)
        #expect(status("k1") == .active)
        l.must(.suspend(email: "admin@example.com"), by: owner, on: acme)
        #expect(status("k1") == .void(.creatorSuspended))
        l.must(.reinstate(email: "admin@example.com"), by: owner, on: acme)
        #expect(status("k1") == .active)
        l.must(.remove(email: "admin@example.com"), by: owner, on: acme)
        #expect(status("k1") == .void(.creatorLeft))
        #expect(status("k2") == .active)
        l.must(.scheduleDeletion(confirm: "acme"), by: owner, on: acme)
        #expect(status("k2") == .void(.orgInactive))
        l.must(.cancelDeletion, by: owner, on: acme)
        #expect(status("k2") == .active)
        l.must(.revokeAPIKey(keyID: "k2"), by: owner, on: acme)
        #expect(status("k2") == .revoked)
        #expect(l.refused(.revokeAPIKey(keyID: "k2"), by: user(owner), on: acme)?.reason == .keyRevoked)
        #expect(l.refused(.revokeAPIKey(keyID: "k9"), by: user(owner), on: acme)?.reason == .apiKeyNotFound)
    }

    @Test("a removed creator's key stays void when the creator is re-invited and rejoins, in any role")
    func keyDoesNotComeBack() {
        let l = Ledger()
        let acme = l.org("acme", members: ["bob@example.com": .admin])
        func status() -> KeyStatus? { l.orgs[acme]!.apiKeys["k1"]?.status(in: l.orgs[acme]!) }
        l.must(.createAPIKey(keyID: "k1", name: "deploy", role: "admin", secretSHA256: Self.hashA), by: "bob@example.com", on: acme)
        #expect(status() == .active)
        l.must(.remove(email: "bob@example.com"), by: owner, on: acme)
        #expect(status() == .void(.creatorLeft))
        for role in ["viewer", "admin"] {
            l.must(.invite(emails: ["bob@example.com"], role: role, ttlDays: nil, invitationIDs: ["inv_\(role)"]), by: owner, on: acme)
            l.must(.acceptInvitation(id: "inv_\(role)"), by: "bob@example.com", on: acme)
            #expect(status() == .void(.creatorLeft), "rejoined as \(role)")
            l.must(.remove(email: "bob@example.com"), by: "bob@example.com", on: acme)  // leaving ends it too
        }
    }

    @Test("a key is void while its creator could not create it: demoted below its role, or out of the key-making roles")
    func demotedCreator() {
        let l = Ledger()
        let acme = l.org("acme", members: ["bob@example.com": .admin])
        func status(_ key: String) -> KeyStatus? { l.orgs[acme]!.apiKeys[key]?.status(in: l.orgs[acme]!) }
        l.must(.createAPIKey(keyID: "k1", name: "a", role: "admin", secretSHA256: Self.hashA), by: "bob@example.com", on: acme)
        l.must(.createAPIKey(keyID: "k2", name: "b", role: "viewer", secretSHA256: Self.hashB), by: "bob@example.com", on: acme)
        l.must(.changeRole(email: "bob@example.com", role: "moderator"), by: owner, on: acme)
        #expect(status("k1") == .void(.creatorDemoted))
        #expect(status("k2") == .void(.creatorDemoted), "a moderator may not create keys at all")
        l.must(.changeRole(email: "bob@example.com", role: "admin"), by: owner, on: acme)
        #expect(status("k1") == .active, "the same membership, promoted back: the key holds again")
        #expect(status("k2") == .active)
        // Demoting oneself counts the same.
        l.must(.changeRole(email: "bob@example.com", role: "member"), by: "bob@example.com", on: acme)
        #expect(status("k1") == .void(.creatorDemoted))
    }

    @Test("an org holds at most 100 unrevoked keys of its epoch, so an auth reset's event stays small")
    func keyCap() {
        let l = Ledger()
        let acme = l.org("acme")
        for i in 0..<Policy.maximumUnrevokedKeys {
            l.must(.createAPIKey(keyID: "k\(i)", name: "k", role: "viewer", secretSHA256: Self.hashA), by: owner, on: acme)
        }
        #expect(l.refused(.createAPIKey(keyID: "kx", name: "k", role: "viewer", secretSHA256: Self.hashA), by: user(owner), on: acme)?.reason == .tooManyKeys)
        l.must(.revokeAPIKey(keyID: "k0"), by: owner, on: acme)
        l.must(.createAPIKey(keyID: "kx", name: "k", role: "viewer", secretSHA256: Self.hashA), by: owner, on: acme)
        l.must(.resetAuth, by: owner, on: acme)
        l.must(.createAPIKey(keyID: "ky", name: "k", role: "viewer", secretSHA256: Self.hashA), by: owner, on: acme)
    }

    @Test("reset authentication voids every key issued before it and lists the ones it voided")
    func authReset() {
        let l = Ledger()
        let acme = l.org("acme")
        l.must(.createAPIKey(keyID: "k1", name: "a", role: "viewer", secretSHA256: Self.hashA), by: owner, on: acme)
        l.must(.createAPIKey(keyID: "k2", name: "b", role: "viewer", secretSHA256: Self.hashB), by: owner, on: acme)
        l.must(.createAPIKey(keyID: "k3", name: "c", role: "viewer", secretSHA256: Self.hashB), by: owner, on: acme)
        l.must(.revokeAPIKey(keyID: "k3"), by: owner, on: acme)
        #expect(l.must(.resetAuth, by: owner, on: acme) == [.authReset(authEpoch: 1, voidedKeys: ["k1", "k2"])])
        let org = l.orgs[acme]!
        #expect(org.apiKeys["k1"]!.status(in: org) == .void(.authReset))
        #expect(org.apiKeys["k3"]!.status(in: org) == .revoked)
        l.must(.createAPIKey(keyID: "k4", name: "d", role: "viewer", secretSHA256: Self.hashA), by: owner, on: acme)
        #expect(l.orgs[acme]!.apiKeys["k4"]!.status(in: l.orgs[acme]!) == .active)
        #expect(l.must(.resetAuth, by: owner, on: acme) == [.authReset(authEpoch: 2, voidedKeys: ["k4"])])
    }
}
