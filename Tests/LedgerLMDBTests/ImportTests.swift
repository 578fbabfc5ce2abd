import EventLog
import Foundation
import LMDB
import LedgerCore
import OrgDomain
import Testing
import Ledger
@testable import LedgerLMDB

/// An import must refuse what the service could never have written, even with a correct hash chain:
/// each forgery below is re-chained (every hash recomputed), so only the model's rules can catch it.
@Suite("Import: only what the service could have written")
struct ImportTests {
    /// An honest log of two orgs (acme, beta) with members, invitations and a key, as envelopes.
    static func honestLog() async throws -> [EventEnvelope] {
        let f = try Fixture()
        defer { f.close() }
        try await randomCommands(f, seed: 11, steps: 60)
        return try f.store.log.events(after: 0, limit: Int.max).map(\.envelope)
    }

    /// Export lines for `envelopes` with seq, prev_hash and hash recomputed: a chain that verifies.
    static func rechained(_ envelopes: [EventEnvelope]) throws -> [[UInt8]] {
        var prev = ChainHash.genesis
        var versions: [String: UInt64] = [:]
        return try envelopes.enumerated().map { index, original in
            var envelope = original
            envelope.seq = UInt64(index + 1)
            envelope.prevHash = prev
            versions[envelope.stream, default: 0] += 1
            envelope.version = versions[envelope.stream]!
            let hash = ChainHash.of(try envelope.canonicalBytes())
            prev = hash
            return try envelope.exportBytes(hash: hash)
        }
    }

    /// The import's refusal message, or nil if it loaded.
    static func importProblem(_ envelopes: [EventEnvelope], expectedHead: ChainHash? = nil) throws -> String? {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        do {
            _ = try Importer.load(try rechained(envelopes), into: folder.path + "/data", expectedHead: expectedHead)
            return nil
        } catch let error as Importer.ImportError {
            #expect(!FileManager.default.fileExists(atPath: folder.path + "/data/data.mdb"), "a refused import left data behind")
            return error.description
        }
    }

    static func first(_ log: [EventEnvelope], _ type: String) -> Int { log.firstIndex { $0.type == type }! }

    @Test("the honest log, re-chained, imports")
    func honest() async throws {
        let log = try await Self.honestLog()
        #expect(try Self.importProblem(log) == nil)
    }

    @Test("forgeries with a valid chain are refused, naming the seq and the rule", arguments: [
        ("system grants owner", "system_actor"), ("user appends a due event", "appended only by the service"),
        ("invalid user id", "neither system nor a user id"), ("zero-width user id", "neither system nor a user id"),
        ("reserved handle", "is reserved"), ("NUL in stream id", "is not an org id"), ("control in stream id", "is not an org id"),
        ("unknown data member", "not exactly what the event type encodes"), ("duplicate handle", "handle_taken"),
        ("owner by joining", #"not member.joined {"invitation_id":"inv_00000000000000000000000003","invited_by":"usr_"#), ("event on an unknown org", "not the first event of anything"), ("bidi in idempotency key", "idempotency_key"),
        ("bidi in request id", "U+202E"), ("second org.created", "org_exists"), ("wrong schema version", "schema_version 7"),
    ])
    func forgeries(_ forgery: String, rule: String) async throws {
        var log = try await Self.honestLog()
        let joined = Self.first(log, "member.joined")
        switch forgery {
        case "system grants owner":
            var e = log[joined]
            e.actor = "system"
            log.append(EventEnvelope(seq: 0, stream: e.stream, version: 0, event: NewEvent(type: "member.role_changed", at: e.at, actor: "system",
                data: ["user_id": log[joined].data["user_id"]!, "from": "owner", "to": "owner"]), prevHash: .genesis))
        case "user appends a due event":
            let sent = log[Self.first(log, "invitation.sent")]
            log.append(EventEnvelope(seq: 0, stream: sent.stream, version: 0, event: NewEvent(type: "invitation.expired", at: sent.at, actor: sent.actor,
                data: ["invitation_id": sent.data["invitation_id"]!, "user_id": sent.data["user_id"]!]), prevHash: .genesis))
        case "invalid user id":
            log[joined].data = ["user_id": "not-a-user", "role": "owner", "invited_by": .null, "invitation_id": .null]
            log[joined].actor = "not-a-user"
        case "zero-width user id":
            let id = log[joined].actor
            log[joined].actor = String(id.prefix(6)) + "\u{200B}" + id.dropFirst(7)
        case "reserved handle":
            let created = Self.first(log, "org.created")
            if case .object(var data) = log[created].data { data["handle"] = "admin"; log[created].data = .object(data) }
        case "NUL in stream id":
            log[Self.first(log, "org.created")].stream = "org_\u{0}"
        case "control in stream id":
            let s = log[Self.first(log, "org.created")].stream
            for i in log.indices where log[i].stream == s { log[i].stream = "org_\u{1}" + s.dropFirst(6) }
        case "unknown data member":
            if case .object(var data) = log[joined].data { data["superuser"] = true; log[joined].data = .object(data) }
        case "duplicate handle":
            let creations = log.indices.filter { log[$0].type == "org.created" }
            guard creations.count >= 2 else { Issue.record("the log needs two orgs"); return }
            let taken = log[creations[0]].data["handle"]!
            if case .object(var data) = log[creations[1]].data { data["handle"] = taken; log[creations[1]].data = .object(data) }
        case "owner by joining":
            let invited = Self.first(log, "invitation.accepted") + 1  // the member.joined after an acceptance
            if case .object(var data) = log[invited].data { data["role"] = "owner"; log[invited].data = .object(data) }
        case "event on an unknown org":
            var e = log[joined]
            e.stream = "org_" + String(repeating: "z", count: 26)
            log.append(e)
        case "bidi in idempotency key":
            log[joined].meta.idempotencyKey = "k\u{202E}1"
        case "bidi in request id":
            log[joined].meta.requestId = "r\u{202E}1"
        case "second org.created":
            log.append(log[Self.first(log, "org.created")])
        case "wrong schema version":
            log[joined].schemaVersion = 7
        default:
            Issue.record("unknown forgery \(forgery)")
        }
        let problem = try Self.importProblem(log)
        #expect(problem != nil, "\(forgery) was imported")
        #expect(problem?.contains("seq ") == true && problem?.contains(rule) == true, "\(problem ?? "")")
    }

    /// acme by o@example.com; josé@example.com invited as viewer and joined; then `forge` appends,
    /// given the users' ids by email.
    static func smallLog(_ forge: (inout [EventEnvelope], [String: String]) -> Void) async throws -> String? {
        let f = try Fixture()
        defer { f.close() }
        let org = try await f.createOrg("acme", owner: "o@example.com")
        let invitation = f.id("inv")
        try await f.must(.invite(emails: ["jos\u{E9}@example.com"], role: "viewer", ttlDays: nil, invitationIDs: [invitation]), by: "o@example.com", on: .id(org))
        try await f.must(.acceptInvitation(id: invitation), by: "jos\u{E9}@example.com", on: .invitation(invitation))
        var log = try f.store.log.events(after: 0, limit: Int.max).map(\.envelope)
        var ids: [String: String] = [:]
        for email in ["o@example.com", "jos\u{E9}@example.com"] { ids[email] = try f.userID(email)?.value }
        forge(&log, ids)
        return try importProblem(log)
    }

    /// An event on the org's stream.
    static func event(_ log: [EventEnvelope], _ type: String, by actor: String, _ data: JSONValue) -> EventEnvelope {
        let org = log.first { $0.type == "org.created" }!.stream
        return EventEnvelope(seq: 0, stream: org, version: 0, event: NewEvent(type: type, at: log.last!.at, actor: actor, data: data), prevHash: .genesis)
    }

    @Test("what only the rules forbid is refused: the matrix, the last owner, due times, memberships, one spelling", arguments: [
        ("a viewer raises itself to owner", "cannot_raise_own_role"), ("the last owner leaves", "last_owner"),
        ("a purge of an active org", "nothing of"), ("a key by a non-member", "has no user.created before"),
        ("a join on a used invitation", "not the first event of anything"), ("a stranger's id suspended", "has no user.created before"),
    ])
    func rulesOnly(_ forgery: String, rule: String) async throws {
        let problem = try await Self.smallLog { log, ids in
            let jose = ids["jos\u{E9}@example.com"]!, owner = ids["o@example.com"]!
            let stranger = "usr_" + String(repeating: "x", count: 26)
            switch forgery {
            case "a viewer raises itself to owner":
                log.append(Self.event(log, "member.role_changed", by: jose, ["user_id": .string(jose), "from": "viewer", "to": "owner"]))
            case "the last owner leaves":
                log.append(Self.event(log, "member.left", by: owner, ["user_id": .string(owner), "role": "owner"]))
            case "a purge of an active org":
                log.append(Self.event(log, "org.purged", by: "system", ["handle": "acme"]))
            case "a key by a non-member":
                log.append(Self.event(log, "api_key.created", by: stranger, [
                    "key_id": .string("key_" + String(repeating: "a", count: 26)), "name": "k", "role": "owner",
                    "secret_sha256": .string(String(repeating: "a", count: 64)), "auth_epoch": 0,
                ]))
            case "a join on a used invitation":
                let joined = log.last!
                log.append(Self.event(log, "member.left", by: jose, ["user_id": .string(jose), "role": "viewer"]))
                log.append(Self.event(log, "member.joined", by: jose, joined.data))
            case "a stranger's id suspended":
                log.append(Self.event(log, "member.suspended", by: owner, ["user_id": .string(stranger), "role": "viewer"]))
            default:
                Issue.record("unknown forgery \(forgery)")
            }
        }
        // The honest log is 7 events (two user.created among them); the forged event is seq 8, or seq 9
        // after an honest one (a member leaving, before re-joining).
        let seq = forgery == "a join on a used invitation" ? "seq 9" : "seq 8"
        #expect(problem?.contains(seq) == true && problem?.contains(rule) == true, "\(problem ?? "imported")")
    }

    @Test("a long honest history imports: renames and releases, expiries, a purge and its handle reused, keys, re-invites")
    func longHonestHistory() async throws {
        let f = try Fixture()
        defer { f.close() }
        let o = "o@example.com"
        let acme = try await f.createOrg("acme", owner: o)
        let (i1, i2, i3, i4) = (f.id("inv"), f.id("inv"), f.id("inv"), f.id("inv"))
        try await f.must(.invite(emails: ["a@example.com", "b@example.com"], role: "admin", ttlDays: 1, invitationIDs: [i1, i2]), by: o, on: .id(acme))
        try await f.must(.acceptInvitation(id: i1), by: "a@example.com", on: .invitation(i1))
        try await f.must(.invite(emails: ["b@example.com"], role: "member", ttlDays: 3, invitationIDs: [i3]), by: o, on: .id(acme))  // replaces i2
        try await f.must(.declineInvitation(id: i3), by: "b@example.com", on: .invitation(i3))
        try await f.must(.invite(emails: ["c@example.com"], role: "viewer", ttlDays: 1, invitationIDs: [i4]), by: "a@example.com", on: .id(acme))
        try await f.must(.createAPIKey(keyID: f.id("key"), name: "deploy", role: "admin", secretSHA256: String(repeating: "a", count: 64)), by: "a@example.com", on: .id(acme))
        try await f.must(.remove(email: "a@example.com"), by: o, on: .id(acme))  // the key's creator leaves
        try await f.must(.updateProfile(displayName: "Acme", avatarURL: .some("https://cdn.example.com/a.png")), by: o, on: .id(acme))
        try await f.must(.updateProfile(displayName: nil, avatarURL: .some(nil)), by: o, on: .id(acme))
        try await f.must(.resetAuth, by: o, on: .id(acme))
        try await f.must(.renameHandle("acme-labs"), by: o, on: .id(acme))
        f.now = f.now.adding(days: 2)
        _ = try await f.store.pipeline.appendDue(now: f.now)  // i4 expires
        f.now = f.now.adding(days: 31)
        _ = try await f.store.pipeline.appendDue(now: f.now)  // the hold on "acme" ends
        let other = try await f.createOrg("acme", owner: "p@example.com")  // takes the released handle
        try await f.must(.scheduleDeletion(confirm: "acme"), by: "p@example.com", on: .id(other))
        try await f.must(.cancelDeletion, by: "p@example.com", on: .id(other))
        try await f.must(.scheduleDeletion(confirm: "acme"), by: "p@example.com", on: .id(other))
        f.now = f.now.adding(days: 31)
        _ = try await f.store.pipeline.appendDue(now: f.now)  // purged
        _ = try await f.createOrg("acme", owner: "q@example.com")  // the purged org's handle, reused
        let log = try f.store.log.events(after: 0, limit: Int.max).map(\.envelope)
        let types = Set(log.map(\.type))
        #expect(types.isSuperset(of: ["invitation.expired", "org.handle_released", "org.purged", "org.auth_reset", "invitation.declined", "member.removed"]))
        #expect(try Self.importProblem(log) == nil)
    }

    @Test("an honest small log imports (the rules above are not over-strict)")
    func smallHonest() async throws {
        let honest = try await Self.smallLog { _, _ in }
        #expect(honest == nil)
    }

    @Test("--expect-head: another head refuses the import; an empty export is refused")
    func expectedHead() async throws {
        let log = try await Self.honestLog()
        let lines = try Self.rechained(log)
        let realHead = try EventEnvelope.decode(lines.last!).hash!
        #expect(try Self.importProblem(log, expectedHead: realHead) == nil)
        let other = ChainHash.of([1, 2, 3])
        #expect(try Self.importProblem(log, expectedHead: other)?.contains("not the expected") == true)
        #expect(try Self.importProblem([])?.contains("no events") == true)
    }

    @Test("a folder or an export of the first format (people as emails) is refused with a message that says so")
    func firstFormatRefused() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let old = NewEvent(type: "org.created", schemaVersion: 1, at: t0, actor: "ada@example.com",
            data: ["org_id": "org_00000000000000000000000001", "handle": "acme", "display_name": "Acme", "avatar_url": .null])
        do {
            let log = try LMDBEventLog(path: folder.path)
            _ = try await log.append(AppendRequest(stream: "org_00000000000000000000000001", expectedVersion: .noStream, events: [old]))
            log.close()
        }
        #expect(Self.openingProblem(folder.path)?.contains("first format") == true)
        let envelope = EventEnvelope(seq: 1, stream: "org_00000000000000000000000001", version: 1, event: old, prevHash: .genesis)
        #expect(try Self.importProblem([envelope])?.contains("schema_version 1: an export of the first format") == true)
    }

    static func openingProblem(_ path: String) -> String? {
        do {
            _ = try LMDBLedger(path: path)
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test("a line longer than an event can be is refused before it is parsed")
    func longLine() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let line = Array(repeating: UInt8(ascii: " "), count: Importer.maximumLineBytes) + Array("{}".utf8)
        do {
            _ = try Importer.load([line], into: folder.path + "/data")
            Issue.record("an over-long line was imported")
        } catch let error as Importer.ImportError {
            #expect(error.message.contains("longer than"), "\(error)")
        }
    }
}
