import LedgerCore
import Testing
@testable import OrgDomain

/// SCIM's commands (product spec §10) decided in the domain: through an API key (its role decides, its
/// creator acts, it must verify), provisioning, directory profiles, and the rules that still hold.
@Suite("Directory commands (SCIM)")
struct DirectoryRuleTests {
    let owner = "owner@example.com"

    /// An org with an owner, an admin, and a key of `role` made by `creator`.
    func orgWithKey(_ role: Role = .admin, creator: String = "owner@example.com") -> (Ledger, String) {
        let l = Ledger()
        let org = l.org("acme", owner: owner, members: ["admin@example.com": .admin, "mod@example.com": .moderator])
        l.must(.createAPIKey(keyID: "key_scim", name: "okta", role: role.rawValue, secretSHA256: String(repeating: "a", count: 64)), by: creator, on: org)
        return (l, org)
    }

    func profile(_ userName: String, _ displayName: String? = nil) -> DirectoryProfile { DirectoryProfile(userName: userName, displayName: displayName) }

    @Test("provisioning makes a member at once, role member, with the profile's commitments; the key's creator acts")
    func provision() throws {
        let (l, org) = orgWithKey()
        let events = try l.run(.provision(person: .email("new@example.com"), profile: profile("new.person", "New"), active: true), throughKey: "key_scim", on: org).get()
        #expect(events.map(\.type) == ["member.joined", "member.directory_updated"])
        #expect(events[0] == .memberJoined(user: email("new@example.com"), role: .member, invitedBy: email(owner), invitationID: nil))
        guard case .memberDirectoryUpdated(let user, let committed) = events[1] else { Issue.record("no profile"); return }
        #expect(user == email("new@example.com"))
        #expect(committed.userName.isOpened(bySalt: committed.userName.disclosed!.salt, value: "new.person"))
        #expect(committed.externalID == nil && committed.displayName != nil)
        #expect(l.member("new@example.com", of: org)?.directoryVersion == l.orgs[org]!.version)
        // Its data names no value: only commitments.
        #expect(!"\(events[1].data)".contains("new.person"))
    }

    @Test("provisioning with active false suspends at once; an existing member is already_member; a taken userName is user_name_taken")
    func provisionRules() {
        let (l, org) = orgWithKey()
        let suspended = l.run(.provision(person: .email("s@example.com"), profile: profile("s"), active: false), throughKey: "key_scim", on: org)
        #expect((try? suspended.get().map(\.type)) == ["member.joined", "member.directory_updated", "member.suspended"])
        #expect(l.run(.provision(person: .email("admin@example.com"), profile: profile("a"), active: true), throughKey: "key_scim", on: org).failure?.reason == .alreadyMember)
        let holder = email("s@example.com")
        let taken = l.run(.provision(person: .email("t@example.com"), profile: profile("S"), active: true), throughKey: "key_scim", on: org, nameHolder: { $0 == "s" ? holder : nil })
        #expect(taken.failure?.reason == .userNameTaken)
        #expect(l.member("t@example.com", of: org) == nil)
    }

    @Test("a pending invitation is revoked (provisioned) when its invitee is provisioned")
    func provisionRevokesInvitation() throws {
        let (l, org) = orgWithKey()
        l.must(.invite(emails: ["i@example.com"], role: "viewer", ttlDays: nil, invitationIDs: ["inv_i"]), by: owner, on: org)
        let events = try l.run(.provision(person: .email("i@example.com"), profile: profile("i"), active: true), throughKey: "key_scim", on: org).get()
        #expect(events.first == .invitationRevoked(invitationID: "inv_i", user: email("i@example.com"), reason: .provisioned))
        #expect(l.orgs[org]!.invitations["inv_i"]?.status == .revoked)
    }

    @Test("the key must verify in the command itself: revoked, void by an auth reset, creator suspended, unknown → api_key_not_valid")
    func keyMustVerify() {
        let command = Command.provision(person: .email("x@example.com"), profile: DirectoryProfile(userName: "x"), active: true)
        var (l, org) = orgWithKey()
        l.must(.revokeAPIKey(keyID: "key_scim"), by: owner, on: org)
        #expect(l.run(command, throughKey: "key_scim", on: org).failure?.reason == .keyNotValid)
        (l, org) = orgWithKey()
        l.must(.resetAuth, by: owner, on: org)
        #expect(l.run(command, throughKey: "key_scim", on: org).failure?.reason == .keyNotValid)
        (l, org) = orgWithKey(.admin, creator: "admin@example.com")
        l.must(.suspend(email: "admin@example.com"), by: owner, on: org)
        #expect(l.run(command, throughKey: "key_scim", on: org).failure?.reason == .keyNotValid)
        #expect(l.run(command, throughKey: "key_nope", on: org).failure?.reason == .keyNotValid)
        #expect(Refusal.Reason.keyNotValid.kind == .unauthenticated)
    }

    @Test("the key's role decides, not its creator's: an admin key made by an owner cannot touch an owner")
    func keyRoleDecides() {
        let (l, org) = orgWithKey(.admin, creator: "owner@example.com")
        l.must(.invite(emails: ["o2@example.com"], role: "admin", ttlDays: nil, invitationIDs: ["inv_o2"]), by: owner, on: org)
        l.must(.acceptInvitation(id: "inv_o2"), by: "o2@example.com", on: org)
        l.must(.changeRole(email: "o2@example.com", role: "owner"), by: owner, on: org)
        #expect(l.run(.suspend(member: .email("o2@example.com")), throughKey: "key_scim", on: org).failure?.reason == .notPermitted)
        #expect(l.run(.changeRole(member: .email("mod@example.com"), role: "owner"), throughKey: "key_scim", on: org).failure?.reason == .notPermitted)
        #expect(l.run(.changeRole(member: .email("mod@example.com"), role: "admin"), throughKey: "key_scim", on: org).failure?.reason == .notPermitted)
        #expect((try? l.run(.changeRole(member: .email("mod@example.com"), role: "viewer"), throughKey: "key_scim", on: org).get())?.count == 1)
    }

    @Test("rules about acting on oneself do not apply through a key; the last owner still stays")
    func selfRulesAndLastOwner() {
        let (l, org) = orgWithKey(.owner, creator: "owner@example.com")
        // Removing the key's own creator is a removal (not leaving), and the last active owner stays.
        #expect(l.run(.remove(member: .email(owner)), throughKey: "key_scim", on: org).failure?.reason == .lastOwner)
        #expect(l.run(.changeRole(member: .email(owner), role: "member"), throughKey: "key_scim", on: org).failure?.reason == .lastOwner)
        #expect(l.run(.updateDirectoryMember(member: .email(owner), profile: nil, active: false), throughKey: "key_scim", on: org).failure?.reason == .lastOwner)
        // With a second owner, the key removes its own creator: member.removed, and the key is then void.
        l.must(.changeRole(email: "admin@example.com", role: "owner"), by: owner, on: org)
        let removed = l.run(.remove(member: .email(owner)), throughKey: "key_scim", on: org)
        #expect((try? removed.get()) == [.memberRemoved(user: email(owner), role: .owner, reason: .removed)])
        #expect(l.run(.suspend(member: .email("mod@example.com")), throughKey: "key_scim", on: org).failure?.reason == .keyNotValid)
    }

    @Test("updating: active already so changes nothing; a profile is one event; invalid values are refused with their SCIM names")
    func update() {
        let (l, org) = orgWithKey()
        #expect((try? l.run(.updateDirectoryMember(member: .email("mod@example.com"), profile: nil, active: true), throughKey: "key_scim", on: org).get()) == [])
        let both = try? l.run(.updateDirectoryMember(member: .email("mod@example.com"), profile: profile("mod", "Mo"), active: false), throughKey: "key_scim", on: org).get()
        #expect(both?.map(\.type) == ["member.directory_updated", "member.suspended"])
        let bad = l.run(
            .updateDirectoryMember(member: .email("mod@example.com"), profile: DirectoryProfile(userName: "", displayName: String(repeating: "x", count: 257)), active: nil),
            throughKey: "key_scim", on: org)
        #expect(bad.failure?.errors.map(\.field) == ["userName", "displayName"])
        let bidi = l.run(.updateDirectoryMember(member: .email("mod@example.com"), profile: profile("mod\u{202E}"), active: nil), throughKey: "key_scim", on: org)
        #expect(bidi.failure?.errors.map(\.field) == ["userName"])
        #expect(l.run(.updateDirectoryMember(member: .email("nobody@example.com"), profile: nil, active: nil), throughKey: "key_scim", on: org).failure?.reason == .memberNotFound)
    }

    @Test("userName keys compare case-insensitively and by NFC")
    func userNameKey() {
        #expect(DirectoryProfile.userNameKey("Ada.Lovelace") == DirectoryProfile.userNameKey("ada.lovelace"))
        #expect(DirectoryProfile.userNameKey("Ame\u{0301}lie") == DirectoryProfile.userNameKey("am\u{00E9}lie"))
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let f) = self { return f }
        return nil
    }
}
