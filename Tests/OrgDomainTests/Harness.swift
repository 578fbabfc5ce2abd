import Foundation
import Synchronization
import LedgerCore
import Testing
@testable import OrgDomain

let t0 = Timestamp(rfc3339: "2026-11-27T12:00:00.000Z")!

/// The user of an email in these tests: the domain sees only ids; the ledger's lookup (product spec §8)
/// is modelled by a fixed id per email (`usr_` + 26 base32 characters of two FNV-1a hashes of it, so
/// the events validate against the schemas), remembered for `address(of:)`.
func email(_ s: String) -> UserID {
    func fnv(_ seed: UInt64) -> UInt64 { s.utf8.reduce(seed) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 } }
    let alphabet = Array("0123456789abcdefghjkmnpqrstvwxyz")
    var digits = ""
    for word in [fnv(0xcbf2_9ce4_8422_2325), fnv(0x84222325_cbf29ce4)] {
        for i in 0..<13 { digits.append(alphabet[Int((word >> (UInt64(i) * 5)) & 31)]) }
    }
    let id = UserID(trusted: "usr_" + digits)
    knownAddresses.withLock { $0[id] = s }
    return id
}

/// The email a test's user id was made from.
func address(of user: UserID) -> String { knownAddresses.withLock { $0[user] } ?? user.value }

private let knownAddresses = Mutex<[UserID: String]>([:])
func user(_ s: String) -> Actor { .user(email(s)) }

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

/// A tiny in-memory ledger for domain tests: many orgs, one clock, decide + apply, every event kept.
final class Ledger {
    var now: Timestamp = t0
    private(set) var orgs: [String: OrgState] = [:]
    private(set) var streams: [String: [(OrgEvent, EventContext)]] = [:]
    private var nextID = 0

    func freshID(_ prefix: String) -> String {
        nextID += 1
        return "\(prefix)_\(String(repeating: "0", count: 6 - String(nextID).count))\(nextID)"
    }

    /// The handle directory as the projections will answer it.
    var handleHolder: @Sendable (Handle) -> HandleClaim? {
        var claims: [Handle: HandleClaim] = [:]
        for org in orgs.values where org.status != .purged {
            claims[org.handle] = HandleClaim(orgID: org.id, heldUntil: nil)
            for (handle, until) in org.heldHandles { claims[handle] = HandleClaim(orgID: org.id, heldUntil: until) }
        }
        let snapshot = claims
        return { snapshot[$0] }
    }

    @discardableResult
    func run(_ command: Command, by actor: Actor?, on orgID: String) -> Result<[OrgEvent], Refusal> {
        let result = decide(command, by: actor, state: orgs[orgID], context: DecisionContext(now: now, handleHolder: handleHolder, people: { email($0.value) }))
        if case .success(let events) = result {
            append(events, by: actor ?? .system, to: orgID)
        }
        return result
    }

    /// Runs a command through an API key (SCIM): the key's creator acts, the key's role decides.
    /// `nameHolder`: who holds each directory userName key (the ledger's index, here given).
    @discardableResult
    func run(
        _ command: Command, throughKey keyID: String, on orgID: String, nameHolder: @escaping @Sendable (String) -> UserID? = { _ in nil }
    ) -> Result<[OrgEvent], Refusal> {
        let creator = orgs[orgID]?.apiKeys[keyID].map { Actor.user($0.createdBy) }
        let context = DecisionContext(now: now, handleHolder: handleHolder, people: { email($0.value) }, apiKey: keyID, directoryNameHolder: nameHolder)
        let result = decide(command, by: creator, state: orgs[orgID], context: context)
        if case .success(let events) = result { append(events, by: creator ?? .system, to: orgID) }
        return result
    }

    /// Runs a command that must succeed; returns its events.
    @discardableResult
    func must(_ command: Command, by actor: String, on orgID: String, sourceLocation: SourceLocation = #_sourceLocation) -> [OrgEvent] {
        switch run(command, by: user(actor), on: orgID) {
        case .success(let events): return events
        case .failure(let refusal):
            Issue.record("refused: \(refusal)", sourceLocation: sourceLocation)
            return []
        }
    }

    /// Runs a command that must be refused; returns the refusal.
    @discardableResult
    func refused(_ command: Command, by actor: Actor?, on orgID: String, sourceLocation: SourceLocation = #_sourceLocation) -> Refusal? {
        let before = orgs[orgID]
        switch run(command, by: actor, on: orgID) {
        case .success(let events):
            Issue.record("accepted, producing \(events.map(\.type))", sourceLocation: sourceLocation)
            return nil
        case .failure(let refusal):
            #expect(orgs[orgID] == before, "a refusal changed the state", sourceLocation: sourceLocation)
            return refusal
        }
    }

    func append(_ events: [OrgEvent], by actor: Actor, to orgID: String) {
        for event in events {
            let version = UInt64(streams[orgID, default: []].count + 1)
            let context = EventContext(at: now, actor: actor, version: version)
            streams[orgID, default: []].append((event, context))
            orgs[orgID] = apply(orgs[orgID], event, context)
        }
    }

    /// Appends whatever is due for every org, as the service does.
    func runDue() {
        for id in orgs.keys.sorted() {
            guard let org = orgs[id] else { continue }
            append(dueEvents(org, now: now), by: .system, to: id)
        }
    }

    func advance(days: Int) { now = now.adding(days: days) }

    /// Creates an org owned by `owner` with the given members (joined by invitation).
    @discardableResult
    func org(_ handle: String, owner: String = "owner@example.com", members: [String: Role] = [:]) -> String {
        let id = freshID("org")
        must(.createOrg(orgID: id, handle: handle, displayName: "The \(handle) org"), by: owner, on: id)
        for (member, role) in members.sorted(by: { $0.key < $1.key }) {
            let invitationRole = role == .owner ? Role.admin : role
            let inv = freshID("inv")
            must(.invite(emails: [member], role: invitationRole.rawValue, ttlDays: nil, invitationIDs: [inv]), by: owner, on: id)
            must(.acceptInvitation(id: inv), by: member, on: id)
            if role == .owner { must(.changeRole(email: member, role: "owner"), by: owner, on: id) }
        }
        return id
    }

    func member(_ address: String, of orgID: String) -> Member? { orgs[orgID]?.members[email(address)] }

    /// Every event so far as canonical envelope lines, for the schema check (Tests/e2e).
    func envelopeLines() throws -> [String] {
        var lines: [String] = []
        var seq: UInt64 = 0
        var prev = ChainHash.genesis
        for id in streams.keys.sorted() {
            for (event, context) in streams[id]! {
                seq += 1
                let envelope = EventEnvelope(seq: seq, stream: id, version: context.version, event: event.newEvent(at: context.at, actor: context.actor, meta: EventMeta(requestId: "req-\(seq)")), prevHash: prev)
                let bytes = try envelope.canonicalBytes()
                let hash = ChainHash.of(bytes)
                lines.append(String(decoding: try envelope.exportBytes(hash: hash), as: UTF8.self))
                prev = hash
            }
        }
        return lines
    }
}

/// Where domain tests leave the events they produced, for the JSON Schema check in Tests/e2e.
func writeSamples(_ lines: [String], name: String) throws {
    let dir = ProcessInfo.processInfo.environment["ORGLEDGER_SAMPLES_DIR"] ?? FileManager.default.currentDirectoryPath + "/.build/event-samples"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    try (lines.joined(separator: "\n") + "\n").write(toFile: dir + "/\(name).ndjson", atomically: true, encoding: .utf8)
}
