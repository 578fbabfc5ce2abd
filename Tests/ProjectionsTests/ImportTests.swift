import EventLog
import Foundation
import LMDB
import LedgerCore
import OrgDomain
import Testing
@testable import Projections

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
        ("system grants owner", "system appends only due events"), ("user appends a due event", "appended only by the service"),
        ("invalid email", "neither system nor a normalized email"), ("zero-width email", "neither system nor a normalized email"),
        ("reserved handle", "is not a valid handle"), ("NUL in stream id", "is not an org id"), ("control in stream id", "is not an org id"),
        ("unknown data member", "members the event type does not define"), ("duplicate handle", "is held by"),
        ("owner by joining", "never by joining"), ("event on an unknown org", "does not exist"), ("bad client ip", "client_ip"),
        ("bidi in request id", "U+202E"), ("second org.created", "must open its stream"), ("wrong schema version", "schema_version 7"),
    ])
    func forgeries(_ forgery: String, rule: String) async throws {
        var log = try await Self.honestLog()
        let joined = Self.first(log, "member.joined")
        switch forgery {
        case "system grants owner":
            var e = log[joined]
            e.actor = "system"
            log.append(EventEnvelope(seq: 0, stream: e.stream, version: 0, event: NewEvent(type: "member.role_changed", at: e.at, actor: "system",
                data: ["email": log[joined].data["email"]!, "from": "owner", "to": "owner"]), prevHash: .genesis))
        case "user appends a due event":
            let sent = log[Self.first(log, "invitation.sent")]
            log.append(EventEnvelope(seq: 0, stream: sent.stream, version: 0, event: NewEvent(type: "invitation.expired", at: sent.at, actor: sent.actor,
                data: ["invitation_id": sent.data["invitation_id"]!, "email": sent.data["email"]!]), prevHash: .genesis))
        case "invalid email":
            log[joined].data = ["email": "not-an-email", "role": "owner", "invited_by": .null, "invitation_id": .null]
            log[joined].actor = "not-an-email"
        case "zero-width email":
            log[joined].data = ["email": "ada\u{200B}@example.com", "role": "owner", "invited_by": .null, "invitation_id": .null]
            log[joined].actor = "ada\u{200B}@example.com"
        case "reserved handle":
            let created = Self.first(log, "org.created")
            if case .object(var data) = log[created].data { data["handle"] = "admin"; log[created].data = .object(data) }
        case "NUL in stream id":
            log[Self.first(log, "org.created")].stream = "org_\u{0}"
        case "control in stream id":
            let s = log[0].stream
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
        case "bad client ip":
            log[joined].meta.clientIP = "not-an-ip"
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

    @Test("a line longer than an event can be is refused before it is parsed")
    func longLine() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let line = Array(repeating: UInt8(ascii: " "), count: Importer.maximumLineBytes) + Array("{}".utf8)
        #expect(throws: Importer.ImportError.self) { try Importer.load([line], into: folder.path + "/data") }
    }
}
