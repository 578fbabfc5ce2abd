import EventLog
import Ledger
import LMDB
import LedgerCore
import OrgDomain
import Synchronization
import Testing
@testable import LedgerLMDB

@Suite("State cache")
struct StateCacheTests {
    @Test("folding on from a base applies exactly the events after its version")
    func foldFromABaseStartsAfterIt() async throws {
        let f = try Fixture()
        defer { f.close() }
        let org = try await f.createOrg("acme")
        try await f.must(.updateProfile(displayName: "Renamed", avatarURL: nil), by: "owner@example.com", on: .id(org))
        let tables = f.store.tables
        // The state up to the rename, marked so that applying the rename again would show.
        var base = try #require(try f.read { txn in try StateCache.fold(org, tables: tables, in: txn).state })
        #expect(base.displayName == "Renamed")
        let version = base.version
        base.displayName = "Marked"
        try await f.must(.invite(emails: ["ada@example.com"], role: "member", ttlDays: nil, invitationIDs: ["inv_1"]), by: "owner@example.com", on: .id(org))
        var folded = try #require(try f.read { txn in try StateCache.fold(org, tables: tables, from: (base, StateCache.noTime, version), in: txn).state })
        #expect(folded.displayName == "Marked", "the base's last event was applied again")
        #expect(folded.invitations["inv_1"] != nil, "the events after the base were not applied")
        // Apart from the mark, the very state a fold of the whole stream makes.
        folded.displayName = "Renamed"
        #expect(folded == (try f.read { txn in try StateCache.fold(org, tables: tables, in: txn).state }))
    }

    @Test("the latest snapshot's version, read from its key alone, is the one the decoding read finds")
    func latestSnapshotVersion() async throws {
        let f = try Fixture()
        defer { f.close() }
        let busy = try await f.createOrg("busy")
        let quiet = try await f.createOrg("quiet")
        for n in 0..<140 { try await f.must(.updateProfile(displayName: "Busy \(n)", avatarURL: nil), by: "owner@example.com", on: .id(busy)) }
        try f.read { txn in
            let version = try SnapshotRow.latestVersion(of: busy, tables: f.store.tables, in: txn)
            #expect(version == (try SnapshotRow.latest(of: busy, includedIn: nil, tables: f.store.tables, in: txn))?.version)
            #expect(version.map { $0 >= 128 } == true)
            #expect(try SnapshotRow.latestVersion(of: quiet, tables: f.store.tables, in: txn) == nil)
        }
    }

    @Test("a read that misses folds on from the last state a read made, never from one the log does not hold")
    func readsFoldOnFromABase() async throws {
        let f = try Fixture()
        defer { f.close() }
        let org = try await f.createOrg("acme")
        // A cache of its own, which the writer never fills: every read misses and goes through a base.
        let cache = StateCache()
        func fresh() throws -> OrgState? { try f.read { txn in try StateCache.fold(org, tables: f.store.tables, in: txn).state } }
        func cached() throws -> OrgState? { try f.read { txn in try cache.state(of: org, tables: f.store.tables, in: txn) } }
        for i in 0..<20 {
            try await f.must(.invite(emails: ["p\(i)@example.com"], role: "member", ttlDays: nil, invitationIDs: ["inv_\(i)"]), by: "owner@example.com", on: .id(org))
            // Reads skip some versions, so a base is folded on by one event or by several.
            if i % 3 != 0 { #expect(try cached() == fresh(), "after invitation \(i)") }
        }
        // A read inside a batch's write transaction sees the batch's own event, which the abort then
        // takes back: that read leaves no base (the base stays the last committed state read).
        let head = try #require(try f.read { txn in try f.store.tables.log.streamHead(org, in: txn) })
        #expect(try cached() == fresh())
        let last = try #require(try f.store.log.events(inStream: org, fromVersion: head.version, limit: 1).first).envelope
        struct Aborted: Error {}
        #expect(throws: Aborted.self) {
            try f.store.environment.write { txn in
                let again = NewEvent(type: last.type, at: last.at, actor: last.actor, data: last.data)
                _ = try f.store.tables.log.append(AppendRequest(stream: org, expectedVersion: .exactly(head.version), events: [again]), in: txn).get()
                #expect(try cache.state(of: org, tables: f.store.tables, in: txn)?.version == head.version + 1)
                throw Aborted()
            }
        }
        #expect(cache.bases.withLock { $0[org]?.version } == head.version)
        #expect(try cached() == fresh())
        // Another event takes that version. A base that names a different event at it (as a base of the
        // aborted batch would) is not folded on: the stream does not hold its event.
        try await f.must(.invite(emails: ["late@example.com"], role: "admin", ttlDays: nil, invitationIDs: ["inv_late"]), by: "owner@example.com", on: .id(org))
        let stale = try #require(try f.read { txn in try StateCache.fold(org, tables: f.store.tables, in: txn).state })
        var wrong = stale
        wrong.displayName = "Not in the log"
        cache.bases.withLock { $0[org] = StateCache.Entry(head: .genesis, version: head.version + 1, state: wrong, maxAt: StateCache.noTime) }
        let now = try #require(try cached())
        #expect(now == (try fresh()))
        #expect(now.version == head.version + 1 && now.invitations["inv_late"] != nil && now.displayName != "Not in the log")
    }
}
