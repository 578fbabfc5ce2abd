import HTTPTypes
import HummingbirdTesting
import Ledger
import LedgerCore
import Service
import Testing

/// Every route of the API in process: its happy path and the refusals an attacker would try first.
/// (The e2e suite drives the real binary over the socket; these need no build of it.)
@Suite("Routes in process")
struct RouteTests {
    @Test("POST /v1/orgs creates an org owned by the actor; no actor 401, a bad handle 400, a taken one 409", arguments: Backend.allCases)
    func createOrg(_ backend: Backend) async throws {
        let f = try await APIFixture(backend)
        defer { f.close() }
        try await f.withClient { client in
            let created = try await client.send(.post, "/v1/orgs", as: owner, json: #"{"handle":"acme","display_name":"Acme"}"#)
            #expect(created.status == .created)
            #expect(created["handle"] == "acme" && created["member_count"] == 1 && created["version"] == 2)
            #expect(created.headers[.eTag] == "\"2\"", "org.created and the owner's member.joined")
            let anonymous = try await client.send(.post, "/v1/orgs", json: #"{"handle":"other","display_name":"Other"}"#)
            #expect(anonymous.status == .unauthorized)
            let badHandle = try await client.send(.post, "/v1/orgs", as: owner, json: #"{"handle":"Not A Handle","display_name":"x"}"#)
            #expect(badHandle.status == .badRequest)
            let taken = try await client.send(.post, "/v1/orgs", as: "mallory@example.com", json: #"{"handle":"acme","display_name":"Mine"}"#)
            #expect(taken.status == .conflict)
            let extra = try await client.send(.post, "/v1/orgs", as: owner, json: #"{"handle":"extra","display_name":"x","owner":"mallory@example.com"}"#)
            #expect(extra.status == .badRequest, "unknown members are refused, not ignored")
        }
    }

    @Test("GET /v1/orgs lists the actor's orgs with their role, paged; a stranger sees none", arguments: Backend.allCases)
    func listOrgs(_ backend: Backend) async throws {
        let f = try await APIFixture(backend)
        defer { f.close() }
        try await f.withClient { client in
            for handle in ["acme", "beta", "gamma"] { _ = try await client.createOrg(handle) }
            let first = try await client.send(.get, "/v1/orgs?limit=2", as: owner)
            #expect(first.status == .ok)
            #expect(first["orgs"]?.arrayValue?.count == 2)
            #expect(first["orgs"]?.arrayValue?.allSatisfy { $0["role"] == "owner" } == true)
            let cursor = first["next_cursor"]?.stringValue ?? ""
            #expect(first.headers[HTTPField.Name("Link")!]?.contains("cursor=\(cursor)") == true)
            let second = try await client.send(.get, "/v1/orgs?limit=2&cursor=\(cursor)", as: owner)
            #expect(second["orgs"]?.arrayValue?.count == 1 && second["next_cursor"] == .null)
            let stranger = try await client.send(.get, "/v1/orgs", as: "mallory@example.com")
            #expect(stranger["orgs"]?.arrayValue?.isEmpty == true)
            let forged = try await client.send(.get, "/v1/orgs?cursor=../../etc", as: owner)
            #expect(forged.status == .badRequest)
        }
    }

    @Test("GET /v1/orgs/{org} by id or handle, 308 for a former handle, 404 to a stranger's typo, 403 to a non-member", arguments: Backend.allCases)
    func readOrg(_ backend: Backend) async throws {
        let f = try await APIFixture(backend)
        defer { f.close() }
        try await f.withClient { client in
            let org = try await client.createOrg("acme")
            let byID = try await client.send(.get, "/v1/orgs/\(org)", as: owner)
            let byHandle = try await client.send(.get, "/v1/orgs/acme", as: owner)
            #expect(byID.status == .ok && byID.body == byHandle.body)
            let renamed = try await client.send(.post, "/v1/orgs/\(org)/handle", as: owner, json: #"{"handle":"acme-inc"}"#)
            #expect(renamed.status == .ok && renamed["handle"] == "acme-inc")
            let moved = try await client.send(.get, "/v1/orgs/acme/members?limit=5", as: owner)
            #expect(moved.status == .permanentRedirect)
            #expect(moved.headers[.location] == "/v1/orgs/acme-inc/members?limit=5")
            let unknown = try await client.send(.get, "/v1/orgs/nope", as: owner)
            #expect(unknown.status == .notFound)
            let malformedID = try await client.send(.get, "/v1/orgs/org_../x", as: owner)
            #expect(malformedID.status == .notFound)
            let stranger = try await client.send(.get, "/v1/orgs/\(org)", as: "mallory@example.com")
            #expect(stranger.status == .forbidden)
            // seq 1 is the owner's user.created; the org begins at seq 2.
            let past = try await client.send(.get, "/v1/orgs/\(org)?as_of=2", as: owner)
            #expect(past.status == .ok && past["handle"] == "acme" && past.headers[.eTag] == "\"1\"")
            let badPoint = try await client.send(.get, "/v1/orgs/\(org)?as_of=yesterday", as: owner)
            #expect(badPoint.status == .badRequest)
        }
    }

    @Test("PATCH /v1/orgs/{org} updates the profile; If-Match on another version 412; a viewer 403", arguments: Backend.allCases)
    func updateProfile(_ backend: Backend) async throws {
        let f = try await APIFixture(backend)
        defer { f.close() }
        try await f.withClient { client in
            let org = try await client.createOrg("acme")
            try await client.addMember("vic@example.com", role: "viewer", to: org)
            let stale = try await client.send(.patch, "/v1/orgs/\(org)", as: owner, json: #"{"display_name":"New"}"#, headers: [.ifMatch: "\"1\""])
            #expect(stale.status == .preconditionFailed && stale.reason == "version_mismatch")
            let version = try await client.send(.get, "/v1/orgs/\(org)", as: owner).headers[.eTag] ?? ""
            let updated = try await client.send(.patch, "/v1/orgs/\(org)", as: owner, json: #"{"display_name":"New"}"#, headers: [.ifMatch: version])
            #expect(updated.status == .ok && updated["display_name"] == "New")
            let viewer = try await client.send(.patch, "/v1/orgs/\(org)", as: "vic@example.com", json: #"{"display_name":"Mine"}"#)
            #expect(viewer.status == .forbidden)
            let notJSON = try await client.send(.patch, "/v1/orgs/\(org)", as: owner, json: "{", headers: [:])
            #expect(notJSON.status == .badRequest)
        }
    }

    @Test("deletion: the typed handle confirms (202), a wrong one 400, cancel undoes it; auth reset voids keys", arguments: Backend.allCases)
    func deletionAndReset(_ backend: Backend) async throws {
        let f = try await APIFixture(backend)
        defer { f.close() }
        try await f.withClient { client in
            let org = try await client.createOrg("acme")
            let key = try await client.send(.post, "/v1/orgs/\(org)/api-keys", as: owner, json: #"{"name":"ci","role":"member"}"#)
            #expect(key.status == .created)
            let reset = try await client.send(.post, "/v1/orgs/\(org)/auth/reset", as: owner)
            #expect(reset.status == .ok && reset["auth_epoch"] == 1)
            #expect(reset["voided_keys"]?.arrayValue == [key["id"] ?? .null])
            let wrong = try await client.send(.post, "/v1/orgs/\(org)/deletion", as: owner, json: #"{"confirm":"ACME"}"#)
            #expect(wrong.status == .badRequest)
            let scheduled = try await client.send(.post, "/v1/orgs/\(org)/deletion", as: owner, json: #"{"confirm":"acme"}"#)
            #expect(scheduled.status == .accepted && scheduled["status"] == "pending_deletion")
            let canceled = try await client.send(.delete, "/v1/orgs/\(org)/deletion", as: owner)
            #expect(canceled.status == .ok && canceled["status"] == "active")
        }
    }

    @Test("members: list with filters and pages, one member, role change, suspend, reinstate, remove; the last owner stays", arguments: Backend.allCases)
    func members(_ backend: Backend) async throws {
        let f = try await APIFixture(backend)
        defer { f.close() }
        try await f.withClient { client in
            let org = try await client.createOrg("acme")
            for (email, role) in [("ada@example.com", "admin"), ("bob@example.com", "member"), ("cy@example.com", "member")] {
                let accepted = try await client.addMember(email, role: role, to: org)
                #expect(accepted.status == .ok && accepted["member"]?["role"]?.stringValue == role)
            }
            // Members come in the order of their user ids (which an email change does not move); the
            // cursor is the last one's id.
            let page = try await client.send(.get, "/v1/orgs/\(org)/members?role=member&limit=1", as: owner)
            let first = try #require(page["members"]?.arrayValue?.first)
            #expect(page.status == .ok && page["members"]?.arrayValue?.count == 1 && page["next_cursor"] == first["user_id"])
            let cursor = try #require(first["user_id"]?.stringValue)
            let next = try await client.send(.get, "/v1/orgs/\(org)/members?role=member&limit=1&cursor=\(cursor)", as: owner)
            let emails = Set([first["email"], next["members"]?.arrayValue?.first?["email"]].compactMap { $0?.stringValue })
            #expect(emails == ["bob@example.com", "cy@example.com"] && next["next_cursor"] == .null)
            #expect(try #require(next["members"]?.arrayValue?.first?["user_id"]?.stringValue) > cursor)
            let badRole = try await client.send(.get, "/v1/orgs/\(org)/members?role=emperor", as: owner)
            #expect(badRole.status == .badRequest)
            let one = try await client.send(.get, "/v1/orgs/\(org)/members/ADA@Example.com", as: "bob@example.com")
            #expect(one.status == .ok && one["email"] == "ada@example.com", "any spelling of an email finds its one member")
            let promoted = try await client.send(.put, "/v1/orgs/\(org)/members/bob@example.com/role", as: "ada@example.com", json: #"{"role":"moderator"}"#)
            #expect(promoted.status == .ok && promoted["role"] == "moderator")
            let overreach = try await client.send(.put, "/v1/orgs/\(org)/members/ada@example.com/role", as: "bob@example.com", json: #"{"role":"owner"}"#)
            #expect(overreach.status == .forbidden)
            let suspended = try await client.send(.post, "/v1/orgs/\(org)/members/cy@example.com/suspend", as: "ada@example.com")
            #expect(suspended.status == .ok && suspended["status"] == "suspended")
            let blocked = try await client.send(.get, "/v1/orgs/\(org)/members", as: "cy@example.com")
            #expect(blocked.status == .forbidden && blocked.reason == "suspended")
            let reinstated = try await client.send(.post, "/v1/orgs/\(org)/members/cy@example.com/reinstate", as: "ada@example.com")
            #expect(reinstated.status == .ok && reinstated["status"] == "active")
            let removed = try await client.send(.delete, "/v1/orgs/\(org)/members/cy@example.com", as: "ada@example.com")
            #expect(removed.status == .ok && removed["event"] == "member.removed")
            let lastOwner = try await client.send(.delete, "/v1/orgs/\(org)/members/\(owner)", as: owner)
            #expect(lastOwner.status == .conflict)
            let gone = try await client.send(.get, "/v1/orgs/\(org)/members/cy@example.com", as: owner)
            #expect(gone.status == .notFound)
            let notAnEmail = try await client.send(.get, "/v1/orgs/\(org)/members/not-an-email", as: owner)
            #expect(notAnEmail.status == .badRequest)
            let asOf = try await client.send(.get, "/v1/orgs/\(org)/members?as_of=3", as: owner)
            #expect(asOf["members"]?.arrayValue?.map { $0["email"] } == [.string(owner)])
        }
    }

    @Test("invitations: sent, listed newest first with status filter and pages, revoked, declined; the invitee's own list", arguments: Backend.allCases)
    func invitations(_ backend: Backend) async throws {
        let f = try await APIFixture(backend)
        defer { f.close() }
        try await f.withClient { client in
            let org = try await client.createOrg("acme")
            let sent = try await client.send(.post, "/v1/orgs/\(org)/invitations", as: owner, json: #"{"emails":["a@example.com","b@example.com","c@example.com"],"role":"member"}"#)
            #expect(sent.status == .created && sent["invitations"]?.arrayValue?.count == 3)
            let ids = sent["invitations"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
            let page = try await client.send(.get, "/v1/orgs/\(org)/invitations?status=pending&limit=2", as: owner)
            #expect(page.status == .ok && page["invitations"]?.arrayValue?.count == 2)
            let cursor = page["next_cursor"]?.stringValue ?? ""
            let rest = try await client.send(.get, "/v1/orgs/\(org)/invitations?status=pending&limit=2&cursor=\(cursor)", as: owner)
            #expect(rest["invitations"]?.arrayValue?.count == 1 && rest["next_cursor"] == .null)
            let badCursor = try await client.send(.get, "/v1/orgs/\(org)/invitations?cursor=1.nope", as: owner)
            #expect(badCursor.status == .badRequest)
            let mine = try await client.send(.get, "/v1/invitations", as: "A@EXAMPLE.COM")
            #expect(mine["invitations"]?.arrayValue?.map { $0["id"] } == [.string(ids[0])])
            let revoked = try await client.send(.delete, "/v1/orgs/\(org)/invitations/\(ids[0])", as: owner)
            #expect(revoked.status == .ok && revoked["status"] == "revoked")
            let late = try await client.send(.post, "/v1/invitations/\(ids[0])/accept", as: "a@example.com")
            #expect(late.status == .gone)
            let notTheirs = try await client.send(.post, "/v1/invitations/\(ids[1])/accept", as: "mallory@example.com")
            #expect(notTheirs.status == .forbidden)
            let declined = try await client.send(.post, "/v1/invitations/\(ids[1])/decline", as: "b@example.com")
            #expect(declined.status == .ok && declined["invitation"]?["status"] == "declined")
            let unknown = try await client.send(.post, "/v1/invitations/inv_00000000000000000000000000/accept", as: "c@example.com")
            #expect(unknown.status == .notFound)
            let stranger = try await client.send(.get, "/v1/orgs/\(org)/invitations", as: "mallory@example.com")
            #expect(stranger.status == .forbidden)
        }
    }

    @Test("API keys: created with a secret shown once, listed, verified, revoked; a forged secret 401; a viewer cannot list", arguments: Backend.allCases)
    func apiKeys(_ backend: Backend) async throws {
        let f = try await APIFixture(backend)
        defer { f.close() }
        try await f.withClient { client in
            let org = try await client.createOrg("acme")
            try await client.addMember("vic@example.com", role: "viewer", to: org)
            let key = try await client.send(.post, "/v1/orgs/\(org)/api-keys", as: owner, json: #"{"name":"deploy","role":"admin"}"#)
            #expect(key.status == .created)
            let secret = key["secret"]?.stringValue ?? "", id = key["id"]?.stringValue ?? ""
            #expect(secret.hasPrefix("olk_"))
            let listed = try await client.send(.get, "/v1/orgs/\(org)/api-keys", as: owner)
            #expect(listed["api_keys"]?.arrayValue?.map { $0["id"] } == [.string(id)])
            #expect(!listed.text.contains(secret), "a listing never shows a secret")
            let viewer = try await client.send(.get, "/v1/orgs/\(org)/api-keys", as: "vic@example.com")
            #expect(viewer.status == .forbidden)
            let verified = try await client.send(.post, "/v1/auth/verify", json: #"{"secret":"\#(secret)"}"#)
            #expect(verified.status == .ok && verified["key_id"] == .string(id) && verified["role"] == "admin" && verified["handle"] == "acme")
            let forged = try await client.send(.post, "/v1/auth/verify", json: #"{"secret":"olk_forged"}"#)
            #expect(forged.status == .unauthorized)
            let revoked = try await client.send(.delete, "/v1/orgs/\(org)/api-keys/\(id)", as: owner)
            #expect(revoked.status == .ok && revoked["status"] == "revoked")
            let after = try await client.send(.post, "/v1/auth/verify", json: #"{"secret":"\#(secret)"}"#)
            #expect(after.status == .unauthorized)
        }
    }

    @Test("audit: newest first, filtered by actor (any spelling) and action, paged, as CSV; a member without the right 403", arguments: Backend.allCases)
    func audit(_ backend: Backend) async throws {
        let f = try await APIFixture(backend)
        defer { f.close() }
        try await f.withClient { client in
            let org = try await client.createOrg("acme")
            try await client.addMember("bob@example.com", role: "member", to: org)
            let all = try await client.send(.get, "/v1/orgs/\(org)/audit", as: owner)
            #expect(all.status == .ok)
            #expect(all["events"]?.arrayValue?.map { $0["action"] } == ["member.joined", "invitation.accepted", "invitation.sent", "member.joined", "org.created"])
            let byBob = try await client.send(.get, "/v1/orgs/\(org)/audit?actor=BOB@example.com&limit=1", as: owner)
            #expect(byBob["events"]?.arrayValue?.map { $0["action"] } == ["member.joined"] && byBob["next_cursor"] != .null)
            let csv = try await client.send(.get, "/v1/orgs/\(org)/audit?format=csv&action=org.created", as: owner)
            let createdAt = try #require(all["events"]?.arrayValue?.last?["at"]?.stringValue)
            #expect(csv.headers[.contentType]?.hasPrefix("text/csv") == true && csv.text.hasPrefix("seq,at,actor,action,target,data\n2,\(createdAt),owner@example.com,org.created,"))
            let member = try await client.send(.get, "/v1/orgs/\(org)/audit", as: "bob@example.com")
            #expect(member.status == .forbidden)
            let badTime = try await client.send(.get, "/v1/orgs/\(org)/audit?since=today", as: owner)
            #expect(badTime.status == .badRequest)
        }
    }

    @Test("the raw log pages by seq with Link: rel=next; health names the head; metrics count commands", arguments: Backend.allCases)
    func logHealthAndMetrics(_ backend: Backend) async throws {
        let f = try await APIFixture(backend)
        defer { f.close() }
        try await f.withClient { client in
            _ = try await client.createOrg("acme")
            _ = try await client.createOrg("beta")
            let page = try await client.send(.get, "/v1/events?limit=1")
            #expect(page.status == .ok && page.text.split(separator: "\n").count == 1)
            #expect(page.headers[HTTPField.Name("Link")!]?.contains("after=1") == true)
            // Five events: the owner's user.created, then each org's org.created and member.joined.
            let rest = try await client.send(.get, "/v1/events?after=4")
            #expect(rest.text.split(separator: "\n").count == 1 && rest.headers[HTTPField.Name("Link")!] == nil)
            let badAfter = try await client.send(.get, "/v1/events?after=-1")
            #expect(badAfter.status == .badRequest)
            let health = try await client.send(.get, "/v1/health")
            #expect(health["status"] == "ok" && health["head_seq"] == 5 && health["writes"] == true)
            let metrics = try await client.send(.get, "/metrics")
            #expect(metrics.text.contains(#"orgledger_commands_total{outcome="applied"} 2"#))
            let wrongMethod = try await client.send(.delete, "/v1/health")
            #expect(wrongMethod.status == .methodNotAllowed && wrongMethod.headers[.allow] == "GET")
        }
    }

    @Test("an idempotency key replays the first answer, and a secret is not kept for the replay", arguments: Backend.allCases)
    func idempotency(_ backend: Backend) async throws {
        let f = try await APIFixture(backend)
        defer { f.close() }
        try await f.withClient { client in
            let org = try await client.createOrg("acme")
            let key: HTTPFields = [HTTPField.Name("Idempotency-Key")!: "k-1"]
            let first = try await client.send(.post, "/v1/orgs/\(org)/api-keys", as: owner, json: #"{"name":"ci","role":"member"}"#, headers: key)
            let again = try await client.send(.post, "/v1/orgs/\(org)/api-keys", as: owner, json: #"{"name":"ci","role":"member"}"#, headers: key)
            #expect(first.status == .created && again.status == .created)
            #expect(again.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")
            #expect(again["id"] == first["id"] && again["secret"] == .null && again["secret_redacted"] == true)
            #expect(first["secret"]?.stringValue?.hasPrefix("olk_") == true)
            let other = try await client.send(.post, "/v1/orgs/\(org)/api-keys", as: owner, json: #"{"name":"other","role":"member"}"#, headers: key)
            #expect(other.status == .unprocessableContent && other.reason == "idempotency_key_reused")
        }
    }
}

@Suite("Storage failures as answers")
struct StorageFailureTests {
    @Test("a full disk is 507, an I/O failure or a follower 503 with Retry-After, damaged data 500 without it")
    func statuses() {
        let full = APIError(LedgerError(.storageFull, "full")), io = APIError(LedgerError(.io, "eio")), corrupt = APIError(LedgerError(.corrupt, "bad"))
        #expect(full.status.code == 507 && full.reason == "disk_full")
        #expect(io.status == .serviceUnavailable && io.headers[.retryAfter] == "1")
        #expect(corrupt.status == .internalServerError && corrupt.reason == "storage_corrupt" && corrupt.headers[.retryAfter] == nil)
        // A follower of the PostgreSQL ledger refusing a command: the client retries, or goes to the writer.
        let follower = APIError(LedgerError(.notWriter, "not the writer"))
        #expect(follower.status == .serviceUnavailable && follower.reason == "not_writer" && follower.headers[.retryAfter] == "1")
    }
}
