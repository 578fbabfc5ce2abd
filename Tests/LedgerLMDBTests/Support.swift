import EventLog
import Foundation
import LMDB
import LedgerCore
import OrgDomain
import LedgerTestSupport
import Testing
import Ledger
@testable import LedgerLMDB

let t0 = Timestamp(rfc3339: "2026-11-27T12:00:00.000Z")!

struct TemporaryFolder {
    let path: String
    init() throws {
        path = NSTemporaryDirectory() + "orgledger-proj-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// An actor as `X-Actor` names them: the ledger resolves the email to a user.
func user(_ s: String) -> Email { Email(trusted: s) }

/// The commands as the API sends them: people by email.
extension Command {
    static func invite(emails: [String], role: String, ttlDays: Int?, invitationIDs: [String]) -> Command {
        .invite(people: emails.map(PersonRef.email), role: role, ttlDays: ttlDays, invitationIDs: invitationIDs)
    }
    static func changeRole(email: String, role: String) -> Command { .changeRole(member: .email(email), role: role) }
    static func suspend(email: String) -> Command { .suspend(member: .email(email)) }
    static func reinstate(email: String) -> Command { .reinstate(member: .email(email)) }
    static func remove(email: String) -> Command { .remove(member: .email(email)) }
}

/// A store in a temporary folder with a settable clock.
final class Fixture: @unchecked Sendable {
    let folder: TemporaryFolder
    private var current: LMDBLedger?
    var store: LMDBLedger { current! }
    var now = t0
    private var counter = 0

    init() throws {
        folder = try TemporaryFolder()
        current = try LMDBLedger(path: folder.path)
    }

    func close() {
        store.close()
        folder.remove()
    }

    /// Closes the store and opens the folder again. The old environment is released first: LMDB
    /// forbids opening one environment twice in a process at the same time.
    func reopen() throws {
        current?.close()
        current = nil
        current = try LMDBLedger(path: folder.path)
    }

    /// A fresh id of the service's shape (`prefix_` + 26 base32 characters), so an export imports.
    func id(_ prefix: String) -> String {
        counter += 1
        let alphabet = Array("0123456789abcdefghjkmnpqrstvwxyz")
        var n = counter, digits: [Character] = []
        repeat {
            digits.append(alphabet[n % 32])
            n /= 32
        } while n > 0
        return prefix + "_" + String(repeating: "0", count: 26 - digits.count) + String(digits.reversed())
    }

    @discardableResult
    func run(_ command: Command, by actor: String?, on target: OrgRef, ifMatch: UInt64? = nil) async throws -> CommandOutcome {
        try await store.pipeline.execute(CommandRequest(target: target, command: command, actor: actor.map(user), now: now, ifMatch: ifMatch, meta: EventMeta(requestId: "r-\(counter)")))
    }

    /// Runs a command that must be applied.
    @discardableResult
    func must(_ command: Command, by actor: String, on target: OrgRef, sourceLocation: SourceLocation = #_sourceLocation) async throws -> [AppliedEvent] {
        let outcome = try await run(command, by: actor, on: target)
        guard case .applied(_, let events, _) = outcome else {
            Issue.record("not applied: \(outcome)", sourceLocation: sourceLocation)
            return []
        }
        return events
    }

    /// The `LedgerError` code a command fails with through the `Ledger` seam (nil if it does not fail so).
    func storageErrorCode(of command: Command, by actor: String, on target: OrgRef) async -> LedgerError.Code? {
        do {
            _ = try await (store as any Ledger).execute(CommandRequest(target: target, command: command, actor: user(actor), now: now), render: { _, _, _, _ in .none }, idempotency: nil)
            return nil
        } catch let error as LedgerError {
            return error.code
        } catch {
            return nil
        }
    }

    /// Runs the due events at each time in turn; how many each run appended.
    func dueCounts(at times: [Timestamp]) async throws -> [Int] {
        var counts: [Int] = []
        for time in times { counts.append(try await store.pipeline.appendDue(now: time)) }
        return counts
    }

    /// Org acme (2 events), then a profile update with If-Match 1 (stale) and with 2; each step as text.
    func ifMatchScenario() async throws -> [String] {
        let org = try await createOrg("acme")
        let head = try store.log.head()
        var steps: [String] = []
        let stale = try await run(.updateProfile(displayName: "New", avatarURL: nil), by: "owner@example.com", on: .id(org), ifMatch: 1)
        if case .versionMismatch(let current) = stale { steps.append("version mismatch at \(current)") } else { steps.append("\(stale)") }
        steps.append(try store.log.head() == head ? "head unchanged" : "head moved")
        let ok = try await run(.updateProfile(displayName: "New", avatarURL: nil), by: "owner@example.com", on: .id(org), ifMatch: 2)
        if case .applied(_, let events, _) = ok { steps.append("applied \(events.count) event") } else { steps.append("\(ok)") }
        return steps
    }

    /// Org acme (2 events), then the same idempotent invitation: first, again, with another request's
    /// fingerprint, and a day later; each outcome as text, and whether the head moved.
    func idempotencyScenario() async throws -> [String] {
        let org = try await createOrg("acme")
        var steps = [try await idempotentInvite(org, id: "inv_1", fingerprint: 1)]
        let head = try store.log.head()
        steps.append(try await idempotentInvite(org, id: "inv_2", fingerprint: 1))
        steps.append(try store.log.head() == head ? "head unchanged" : "head moved")
        steps.append(try await idempotentInvite(org, id: "inv_4", fingerprint: 2))
        steps.append(try store.log.head() == head ? "head unchanged" : "head moved")
        now = t0.adding(days: 1)
        steps.append(try await idempotentInvite(org, id: "inv_3", fingerprint: 1))
        return steps
    }

    /// Invites ada@example.com as the owner with idempotency key `key-1` and a fingerprint of 32 bytes
    /// `fingerprint`; the outcome as text.
    func idempotentInvite(_ org: String, id: String, fingerprint: UInt8) async throws -> String {
        let render: @Sendable (CommandOutcome) -> StoredResponse? = { outcome in
            guard case .applied(_, let events, _) = outcome else { return nil }
            return StoredResponse(status: 201, body: Array("seq \(events.last?.seq ?? 0)".utf8), at: t0)
        }
        let outcome = try await store.pipeline.execute(
            CommandRequest(target: .id(org), command: .invite(emails: ["ada@example.com"], role: "member", ttlDays: nil, invitationIDs: [id]), actor: user("owner@example.com"), now: now),
            idempotency: Idempotency(key: "key-1", fingerprint: Array(repeating: fingerprint, count: 32), keep: render))
        switch outcome {
        case .applied: return "applied"
        case .replayed(let stored): return "replayed \(stored.status) \(String(decoding: stored.body, as: UTF8.self))"
        case .idempotencyKeyReused: return "idempotency key reused"
        case .refused(let refusal): return "refused \(refusal)"
        case .versionMismatch: return "version mismatch"
        }
    }

    func createOrg(_ handle: String, owner: String = "owner@example.com") async throws -> String {
        let orgID = id("org")
        try await must(.createOrg(orgID: orgID, handle: handle, displayName: "Org \(handle)"), by: owner, on: .new(orgID))
        return orgID
    }

    func read<R>(_ body: (borrowing ReadTransaction) throws -> R) throws -> R { try store.environment.read(body) }

    /// The current email of a user, from the people store.
    func email(of user: UserID) throws -> String {
        try read { txn in try store.tables.people.row(user, in: txn)?.email?.value } ?? "[erased]"
    }

    /// The user of an email, from the people store.
    func userID(_ email: String) throws -> UserID? {
        try read { txn in try store.tables.people.userID(of: Email(trusted: email), in: txn) }
    }

    func projectionProblem() throws -> ProjectionProblem? {
        try read { txn in try Replay.verify(tables: store.tables, in: txn) }
    }
}

/// Random commands through the real pipeline: several orgs, people, a moving clock, due events.
func randomCommands(_ f: Fixture, seed: UInt64, steps: Int, afterEach: (UInt64) async throws -> Void = { _ in }) async throws {
    var rng = SplitMix64(seed: seed)
    let people = (0..<6).map { "p\($0)@example.com" }
    let handles = ["acme", "beta", "gamma", "acme-two", "delta"]
    let orgs = [try await f.createOrg("acme", owner: people[0]), try await f.createOrg("beta", owner: people[1])]
    for _ in 0..<steps {
        let org = orgs.randomElement(using: &rng)!
        let role = Role.allCases.randomElement(using: &rng)!.rawValue
        let state = try f.read { txn in try f.store.pipeline.cache.state(of: org, tables: f.store.tables, in: txn) }
        // Mostly members act (so most commands are decided on their merits, not refused as strangers).
        let members = try state.map { try $0.members.keys.map { try f.email(of: $0) }.sorted() } ?? []
        let actor = Int.random(in: 0..<4, using: &rng) > 0 ? (members.randomElement(using: &rng) ?? people[0]) : people.randomElement(using: &rng)!
        let someone = people.randomElement(using: &rng)!
        let invitations = state.map { $0.invitations.keys.sorted() } ?? []
        let keys = state.map { $0.apiKeys.keys.sorted() } ?? []
        switch Int.random(in: 0..<15, using: &rng) {
        case 0, 1, 2:
            let emails = (0..<Int.random(in: 1...3, using: &rng)).map { _ in people.randomElement(using: &rng)! }
            try await f.run(.invite(emails: emails, role: role, ttlDays: [nil, 1, 2].randomElement(using: &rng)!, invitationIDs: emails.map { _ in f.id("inv") }), by: actor, on: .id(org))
        case 3, 4:
            if let id = invitations.randomElement(using: &rng), let invitee = try state?.invitations[id].map({ try f.email(of: $0.invitee) }) {
                let c: Command = Bool.random(using: &rng) ? .acceptInvitation(id: id) : .declineInvitation(id: id)
                try await f.run(c, by: invitee, on: .invitation(id))
            }
        case 5, 6: try await f.run(.changeRole(email: someone, role: role), by: actor, on: .id(org))
        case 7: try await f.run(.suspend(email: someone), by: actor, on: .id(org))
        case 8: try await f.run(.reinstate(email: someone), by: actor, on: .id(org))
        case 9: try await f.run(.remove(email: someone), by: actor, on: .id(org))
        case 10: try await f.run(.createAPIKey(keyID: f.id("key"), name: "k", role: role, secretSHA256: String(repeating: "a", count: 63) + "\(Int.random(in: 0...9, using: &rng))"), by: actor, on: .id(org))
        case 11: try await f.run(keys.randomElement(using: &rng).map { .revokeAPIKey(keyID: $0) } ?? .resetAuth, by: actor, on: .id(org))
        case 12: try await f.run(.renameHandle(handles.randomElement(using: &rng)!), by: actor, on: .id(org))
        case 13:
            let schedule = Int.random(in: 0..<4, using: &rng) == 0
            try await f.run(schedule ? .scheduleDeletion(confirm: state?.handle.value ?? "") : .cancelDeletion, by: actor, on: .id(org))
        default:
            f.now = f.now.adding(days: Int.random(in: 0...3, using: &rng))
            try await f.store.pipeline.appendDue(now: f.now)
        }
        try await afterEach(try f.store.log.head().seq)
    }
}


/// Every entry of every view table, for byte-for-byte comparisons.
func dump(_ f: Fixture) throws -> [String: [[UInt8]: [UInt8]]] {
    try f.read { txn in
        var out: [String: [[UInt8]: [UInt8]]] = [:]
        for table in ProjectionTables.Table.allCases {
            var rows: [[UInt8]: [UInt8]] = [:]
            try txn.withCursor(on: f.store.tables[table]) { cursor in
                try cursor.forEach(from: [UInt8]?.none) { entry in
                    rows[Array(entry.key)] = Array(entry.value)
                    return true
                }
            }
            out[table.rawValue] = rows
        }
        return out
    }
}
