import EventLog
import Ledger
import LMDB
import LedgerCore
import OrgDomain
import Testing
@testable import LedgerLMDB

@Suite("State cache")
struct StateCacheTests {
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
        // A batch that is aborted after a read in its transaction: the base that read made names an event
        // (its version and hash) that the log never holds...
        let head = try #require(try f.read { txn in try f.store.tables.log.streamHead(org, in: txn) })
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
        #expect(try cached() == fresh())
        // ... and when another event takes that version, the base is not used for it.
        try await f.must(.invite(emails: ["late@example.com"], role: "admin", ttlDays: nil, invitationIDs: ["inv_late"]), by: "owner@example.com", on: .id(org))
        let now = try #require(try cached())
        #expect(now == (try fresh()))
        #expect(now.version == head.version + 1 && now.invitations["inv_late"] != nil)
    }
}
