import LedgerCore
import LedgerTestSupport
import Testing
@testable import OrgDomain

/// Random commands by random people against a few orgs, with the clock moving and due events run.
func randomRun(seed: UInt64, steps: Int, check: (Ledger, String) -> Void = { _, _ in }) -> Ledger {
    var rng = SplitMix64(seed: seed)
    let people = (0..<7).map { "p\($0)@example.com" }
    let handles = ["acme", "beta", "gamma", "delta", "acme-two"]
    let l = Ledger()
    let orgs = [l.org("acme", owner: people[0]), l.org("beta", owner: people[1])]
    var keyCounter = 0
    for step in 0..<steps {
        let org = orgs.randomElement(using: &rng)!
        let actor = people.randomElement(using: &rng)!
        let someone = people.randomElement(using: &rng)!
        let role = Role.allCases.randomElement(using: &rng)!.rawValue
        let invitationIDs = l.orgs[org].map { Array($0.invitations.keys).sorted() } ?? []
        let keyIDs = l.orgs[org].map { Array($0.apiKeys.keys).sorted() } ?? []
        let command: Command
        switch Int.random(in: 0..<16, using: &rng) {
        case 0, 1, 2:
            let emails = (0..<Int.random(in: 1...3, using: &rng)).map { _ in people.randomElement(using: &rng)! }
            command = .invite(emails: emails, role: role, ttlDays: [nil, 1, 3, 30].randomElement(using: &rng)!, invitationIDs: emails.map { _ in l.freshID("inv") })
        case 3, 4:
            let id = invitationIDs.randomElement(using: &rng) ?? "none"
            let invitee = l.orgs[org]?.invitations[id].map { address(of: $0.invitee) } ?? someone
            let who = Bool.random(using: &rng) ? invitee : actor
            let c: Command = Bool.random(using: &rng) ? .acceptInvitation(id: id) : .declineInvitation(id: id)
            _ = l.run(c, by: user(who), on: org)
            check(l, org)
            continue
        case 5, 6: command = .changeRole(email: someone, role: role)
        case 7: command = .suspend(email: someone)
        case 8: command = .reinstate(email: someone)
        case 9: command = .remove(email: someone)
        case 10:
            keyCounter += 1
            command = .createAPIKey(keyID: "key_\(keyCounter)", name: "k\(keyCounter)", role: role, secretSHA256: String(repeating: "e", count: 64))
        case 11: command = keyIDs.randomElement(using: &rng).map { .revokeAPIKey(keyID: $0) } ?? .resetAuth
        case 12: command = .renameHandle(handles.randomElement(using: &rng)!)
        case 13: command = Bool.random(using: &rng) ? .scheduleDeletion(confirm: l.orgs[org]?.handle.value ?? "x") : .cancelDeletion
        case 14: command = .revokeInvitation(id: invitationIDs.randomElement(using: &rng) ?? "none")
        default:
            l.advance(days: Int.random(in: 0...4, using: &rng))
            l.now = l.now.adding(milliseconds: Int64(step))
            l.runDue()
            check(l, org)
            continue
        }
        _ = l.run(command, by: user(actor), on: org)
        check(l, org)
    }
    return l
}

@Suite("Properties over random command sequences")
struct PropertyTests {
    @Test("an org that is not purged always has an active owner", arguments: 0..<40)
    func alwaysAnActiveOwner(seed: Int) {
        _ = randomRun(seed: UInt64(seed), steps: 400) { l, org in
            guard let state = l.orgs[org], state.status != .purged else { return }
            #expect(!state.activeOwners.isEmpty, "seed \(seed): \(org) lost its last active owner")
        }
    }

    @Test("a snapshot reads back as the very state it was made of; damaged bytes are refused", arguments: 0..<10)
    func snapshotRoundTrip(seed: Int) throws {
        let l = randomRun(seed: UInt64(700 + seed), steps: 300)
        for state in l.orgs.values {
            let bytes = state.snapshotBytes()
            let read = try bytes.withUnsafeBytes { try OrgState(snapshot: $0) }
            #expect(read == state)
            #expect(read.snapshotBytes() == bytes, "equal states give equal bytes")
            #expect(read.pendingInvitation(to: email("p1@example.com")) == state.pendingInvitation(to: email("p1@example.com")))
            #expect(throws: (any Error).self) { try bytes.dropLast().withUnsafeBytes { try OrgState(snapshot: UnsafeRawBufferPointer($0)) } }
            #expect(throws: (any Error).self) { try (bytes + [0]).withUnsafeBytes { try OrgState(snapshot: $0) } }
        }
    }

    @Test("the pending-invitation index always equals a scan of every invitation the org has sent", arguments: 0..<20)
    func pendingIndexMatchesScan(seed: Int) {
        let people = (0..<7).map { email("p\($0)@example.com") }
        var pendingSeen = 0
        _ = randomRun(seed: UInt64(500 + seed), steps: 400) { l, org in
            guard let state = l.orgs[org] else { return }
            for email in people {
                let scanned = state.invitations.values.filter { $0.invitee == email && $0.status == .pending }
                #expect(scanned.count <= 1, "seed \(seed): two pending invitations to \(email)")
                #expect(state.pendingInvitation(to: email) == scanned.first, "seed \(seed): index and scan differ for \(email)")
                if !scanned.isEmpty { pendingSeen += 1 }
            }
            #expect(state.invitations.pendingValues.count == state.invitations.values.filter { $0.status == .pending }.count)
        }
        #expect(pendingSeen > 0, "the run sent invitations that stayed pending")
    }

    @Test("replaying the events rebuilds exactly the state the writer held", arguments: 0..<40)
    func replayRebuildsState(seed: Int) {
        let l = randomRun(seed: UInt64(1000 + seed), steps: 400)
        for (org, events) in l.streams {
            #expect(replay(events) == l.orgs[org], "seed \(seed): replay of \(org) differs")
            // The same holds for events read back from their stored JSON form.
            let decoded = events.map { (try! OrgEvent(type: $0.0.type, data: $0.0.data), $0.1) }
            #expect(decoded.map(\.0) == events.map(\.0))
        }
    }

    @Test("random runs exercise most event types; their envelopes go to the schema check")
    func coverage() throws {
        var lines: [String] = []
        var types: Set<String> = []
        for seed in 0..<10 {
            let l = randomRun(seed: UInt64(500 + seed), steps: 400)
            lines += try l.envelopeLines()
            for events in l.streams.values { types.formUnion(events.map(\.0.type)) }
        }
        try writeSamples(lines, name: "property-runs")
        #expect(types.count >= 18, "only \(types.sorted())")
    }
}

@Suite("A full lifecycle scenario")
struct ScenarioTests {
    @Test("every event type occurs, decodes back, and is written out for the JSON Schema check")
    func everyEventType() throws {
        let l = Ledger()
        let owner = "owner@example.com"
        let acme = l.org("acme", owner: owner, members: ["admin@example.com": .admin])
        l.must(.updateProfile(displayName: "Acme Rockets", avatarURL: .some("https://cdn.example.com/acme.png")), by: owner, on: acme)
        l.must(.renameHandle("acme-rockets"), by: owner, on: acme)
        l.must(.invite(emails: ["a@example.com", "b@example.com", "c@example.com", "d@example.com"], role: "member", ttlDays: 3, invitationIDs: ["inv_a", "inv_b", "inv_c", "inv_d"]), by: "admin@example.com", on: acme)
        l.must(.invite(emails: ["a@example.com"], role: "viewer", ttlDays: nil, invitationIDs: ["inv_a2"]), by: owner, on: acme)
        l.must(.acceptInvitation(id: "inv_a2"), by: "a@example.com", on: acme)
        l.must(.declineInvitation(id: "inv_b"), by: "b@example.com", on: acme)
        l.must(.revokeInvitation(id: "inv_c"), by: owner, on: acme)
        l.must(.invite(emails: ["p@example.com"], role: "viewer", ttlDays: nil, invitationIDs: ["inv_p"]), by: owner, on: acme)
        l.must(
            .provision(person: .email("p@example.com"), profile: DirectoryProfile(userName: "pat", externalID: "00u1", displayName: "Pat", name: #"{"givenName":"Pat"}"#), active: true),
            by: owner, on: acme)  // revokes inv_p (provisioned)
        l.must(.updateDirectoryMember(member: .email("p@example.com"), profile: DirectoryProfile(userName: "pat", displayName: "P."), active: false), by: owner, on: acme)
        l.must(.changeRole(email: "a@example.com", role: "moderator"), by: owner, on: acme)
        l.must(.suspend(email: "a@example.com"), by: owner, on: acme)
        l.must(.reinstate(email: "a@example.com"), by: owner, on: acme)
        l.must(.createAPIKey(keyID: "key_1", name: "deploy", role: "admin", secretSHA256: String(repeating: "d", count: 64)), by: "admin@example.com", on: acme)
        l.must(.createAPIKey(keyID: "key_2", name: "ci", role: "viewer", secretSHA256: String(repeating: "e", count: 64)), by: owner, on: acme)
        l.must(.revokeAPIKey(keyID: "key_2"), by: owner, on: acme)
        l.must(.resetAuth, by: owner, on: acme)
        l.must(.remove(email: "a@example.com"), by: owner, on: acme)
        l.must(.remove(email: "admin@example.com"), by: "admin@example.com", on: acme)
        l.advance(days: 3)
        l.runDue()  // inv_d expires
        l.must(.scheduleDeletion(confirm: "acme-rockets"), by: owner, on: acme)
        l.must(.cancelDeletion, by: owner, on: acme)
        l.advance(days: 28)
        l.runDue()  // the hold on "acme" ends
        l.must(.scheduleDeletion(confirm: "acme-rockets"), by: owner, on: acme)
        l.advance(days: 30)
        l.runDue()  // purged

        let types = Set(l.streams[acme]!.map(\.0.type))
        #expect(types == Set(OrgEvent.allTypes), "missing: \(Set(OrgEvent.allTypes).subtracting(types).sorted())")
        for (event, _) in l.streams[acme]! {
            #expect(try OrgEvent(type: event.type, data: event.data) == event)
        }
        #expect(replay(l.streams[acme]!) == l.orgs[acme])
        try writeSamples(try l.envelopeLines(), name: "lifecycle")
    }

    @Test("unknown types and malformed data are refused on the way back in")
    func decodeRefuses() {
        #expect(throws: EventDecodingError.self) { try OrgEvent(type: "org.exploded", data: [:]) }
        #expect(throws: EventDecodingError.self) { try OrgEvent(type: "member.joined", data: ["email": "a@example.com", "role": "emperor"]) }
        #expect(throws: EventDecodingError.self) { try OrgEvent(type: "invitation.sent", data: ["invitation_id": 5]) }
    }
}
