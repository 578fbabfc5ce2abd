import Foundation
import Hummingbird
import HummingbirdTesting
import Ledger
import LedgerCore
import OrgDomain
import LedgerPostgres
import LedgerTestSupport
import Service
import Testing

/// Two instances of one ledger on PostgreSQL, in process: what one writes the other shows, a command
/// sent to the follower is refused with the time to retry after, and the follower writes once the
/// writer is gone (product spec §11). The e2e suite does the same with processes and SIGKILL.
@Suite("PostgreSQL: a writer and a follower")
struct PostgresInstancesTests {
    @Test("the follower refuses commands, shows the writer's, and writes once the writer stops")
    func followerTakesOver() async throws {
        let database = try await TestDatabase.make()
        let folder = NSTemporaryDirectory() + "orgledger-instances-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let writer = try await PostgresLedger.open(database.location, instanceKeyPath: folder + "/instance.key")
        let follower = try await PostgresLedger.open(database.location, instanceKeyPath: folder + "/instance.key")
        #expect(writer.isWriter && !follower.isWriter)
        let renewing = Task { await writer.maintain() }
        let following = Task { await follower.maintain() }
        let clock = TestClock()
        let onWriter = Application(router: OrgLedgerServer.router(LedgerAPI(ledger: writer, clock: { clock.now })))
        let onFollower = Application(router: OrgLedgerServer.router(LedgerAPI(ledger: follower, clock: { clock.now })))

        try await onWriter.test(.router) { client in _ = try await client.createOrg("acme") }
        let headAfterCreate = try await writer.head().seq
        try await onFollower.test(.router) { client in
            let refused = try await client.send(.post, "/v1/orgs", as: owner, json: #"{"handle":"beta","display_name":"Beta"}"#)
            #expect(refused.status == .serviceUnavailable && refused.reason == "not_writer" && refused.headers[.retryAfter] == "1")
            #expect(try await client.send(.get, "/v1/health")["writes"] == false)
            // The writer's org shows on the follower within moments (NOTIFY, or the next poll).
            var shown = try await client.send(.get, "/v1/orgs/acme", as: owner)
            for _ in 0..<100 where shown.status != .ok {
                try await Task.sleep(for: .milliseconds(50))
                shown = try await client.send(.get, "/v1/orgs/acme", as: owner)
            }
            #expect(shown.status == .ok && shown["handle"]?.stringValue == "acme")
        }
        #expect(try await follower.head().seq == headAfterCreate)

        // The writer stops renewing its lease; once it lapses the follower takes over.
        renewing.cancel()
        await renewing.value
        writer.close()
        for _ in 0..<200 where !follower.isWriter { try await Task.sleep(for: .milliseconds(50)) }
        #expect(follower.isWriter, "the follower took over within 10 s")
        try await onFollower.test(.router) { client in
            let created = try await client.send(.post, "/v1/orgs", as: owner, json: #"{"handle":"beta","display_name":"Beta"}"#)
            #expect(created.status == .created)
            #expect(try await client.send(.get, "/v1/orgs/acme", as: owner).status == .ok)
        }
        #expect(try await follower.head().seq > headAfterCreate)
        following.cancel()
        await following.value
        follower.close()
        await database.drop()
    }

    @Test("views of another format in the database: an instance refuses to start until rebuilt, then starts")
    func viewsOfAnotherFormat() async throws {
        let database = try await TestDatabase.make()
        let folder = NSTemporaryDirectory() + "orgledger-format-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let first = try await PostgresLedger.open(database.location, instanceKeyPath: folder + "/instance.key")
        let clock = TestClock()
        let app = Application(router: OrgLedgerServer.router(LedgerAPI(ledger: first, clock: { clock.now })))
        try await app.test(.router) { client in _ = try await client.createOrg("acme") }
        first.close()
        // As a later version would find it: the stored format is not this version's.
        try await TestDatabase.run(
            "UPDATE orgledger_rows SET value = '\\x0000000000000001'::bytea WHERE tbl = 'projection_meta' AND key = convert_to('format_version', 'UTF8')",
            on: database.location)
        let refusal = await #expect(throws: PostgresLedgerError.self) {
            try await PostgresLedger.open(database.location, instanceKeyPath: folder + "/instance.key").close()
        }
        #expect(refusal?.description.contains("rebuild --store") == true)
        let rebuilt = try await Task.detached { try PostgresLedger.rebuild(database.location) }.value
        #expect(rebuilt.seq > 0 && rebuilt.rows > 0)
        let again = try await PostgresLedger.open(database.location, instanceKeyPath: folder + "/instance.key")
        #expect(try await again.org(try await again.handleClaim(Handle.parse("acme").get())?.orgID ?? "") != nil)
        again.close()
        await database.drop()
    }
}
