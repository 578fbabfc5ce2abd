import EventLog
import Foundation
import LMDB
import Ledger
import LedgerCore
import OrgDomain

/// Loads an export (NDJSON envelopes with `hash`) into a new data folder, checking the chain as it goes.
///
/// Every line must hash to its `hash` (re-encoded canonically without it), follow the previous line's
/// hash, and carry the next seq and its stream's next version; and it must be an event the service
/// could have written (`RecordedEventRules`, `EventMeta.problem`, the envelope's schema version). With
/// `expectedHead`, the last hash must be that one. The first bad line stops the import and the folder is
/// left without data: the files this import created are removed.
public enum Importer {
    public struct ImportError: Error, CustomStringConvertible {
        public let line: Int
        public let message: String
        public var description: String { "line \(line): \(message)" }
    }

    /// Imports `lines` into the folder `path`, which must not hold a log yet. Returns the head.
    /// An event is at most 64 KiB (product spec §4); its export line adds the hash and little else.
    public static let maximumLineBytes = 72 * 1024

    /// With `disclosure` (an export's `--disclose` file), the personal-data store is restored from it:
    /// every line must open the commitment it names; `instanceKey` (the source's `instance.key`) keeps the
    /// instance id and lookup secret, so a moved ledger is the same ledger (a new key is made without one).
    public static func load(
        _ lines: some Sequence<[UInt8]>, into path: String, expectedHead: ChainHash? = nil, expectedCheckpoint: Checkpoint? = nil,
        disclosure: [DisclosureLine] = [], instanceKey: InstanceKey? = nil, progress: ((UInt64) -> Void)? = nil
    ) throws -> LogHead {
        let dataFile = path + "/data.mdb"
        let keyFile = path + "/" + InstanceKey.fileName
        guard !FileManager.default.fileExists(atPath: dataFile), !FileManager.default.fileExists(atPath: keyFile) else {
            throw ImportError(line: 0, message: "\(path) already holds a log or an instance key; import only into a new folder")
        }
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        do {
            let head = try loadChecked(lines, into: path, progress: progress)
            guard head.seq > 0 else { throw ImportError(line: 0, message: "the export holds no events") }
            if let expectedHead, head.hash != expectedHead {
                throw ImportError(line: 0, message: "the export ends at seq \(head.seq) with hash \(head.hash.hex), not the expected \(expectedHead.hex)")
            }
            if let expectedCheckpoint { try requireExtends(expectedCheckpoint, path: path, head: head) }
            let key = instanceKey ?? InstanceKey.generate()
            try PeopleImport.restore(into: path, disclosure: disclosure, key: key)
            try key.write(to: keyFile)
            return head
        } catch {
            try? FileManager.default.removeItem(atPath: dataFile)
            try? FileManager.default.removeItem(atPath: path + "/lock.mdb")
            try? FileManager.default.removeItem(atPath: keyFile)  // none was there before (checked above)
            throw error
        }
    }

    /// The imported tree (built as the events were written) must have the pinned checkpoint's root at its
    /// size: a log rewritten and re-hashed, or cut short, is refused.
    private static func requireExtends(_ checkpoint: Checkpoint, path: String, head: LogHead) throws {
        guard head.seq >= checkpoint.size else {
            throw ImportError(line: 0, message: "the export holds \(head.seq) events; the expected checkpoint covers \(checkpoint.size): the log lost events")
        }
        let environment = try Environment(path: path)
        let log = try LogTables(environment: environment)
        let root = try environment.read { txn in try log.root(size: checkpoint.size, in: txn) }
        guard root == checkpoint.root else {
            throw ImportError(line: 0, message: "the export's first \(checkpoint.size) events do not have the expected checkpoint's root: the log was rewritten")
        }
    }

    private static func loadChecked(_ lines: some Sequence<[UInt8]>, into path: String, progress: ((UInt64) -> Void)?) throws -> LogHead {
        let environment = try Environment(path: path)
        let log = try LogTables(environment: environment)
        var verifier = ChainVerifier()
        var model = ImportModel()
        var batch: [RecordedEvent] = []
        var lineNumber = 0
        func flush() throws {
            guard !batch.isEmpty else { return }
            let events = batch
            try environment.write { txn in
                for event in events { try log.write(event, in: txn) }
            }
            batch.removeAll(keepingCapacity: true)
        }
        for line in lines {
            lineNumber += 1
            if line.isEmpty || line.allSatisfy({ $0 == 0x20 || $0 == 0x0D }) { continue }
            guard line.count <= maximumLineBytes else {
                throw ImportError(line: lineNumber, message: "the line is longer than \(maximumLineBytes) bytes (an event is at most 64 KiB)")
            }
            let decoded: (envelope: EventEnvelope, hash: ChainHash?)
            do { decoded = try EventEnvelope.decode(line) } catch {
                throw ImportError(line: lineNumber, message: "not an envelope: \(error)")
            }
            guard let hash = decoded.hash else { throw ImportError(line: lineNumber, message: "the envelope has no hash") }
            let bytes = try decoded.envelope.canonicalBytes()
            if let problem = bytes.withUnsafeBytes({ verifier.check(keySeq: decoded.envelope.seq, storedHash: hash, bytes: $0) }) {
                throw ImportError(line: lineNumber, message: "chain broken at seq \(problem.seq): \(problem.reason)")
            }
            if let problem = model.admit(decoded.envelope) {
                throw ImportError(line: lineNumber, message: "seq \(decoded.envelope.seq): \(problem)")
            }
            batch.append(RecordedEvent(envelope: decoded.envelope, hash: hash, canonicalBytes: bytes))
            if batch.count == 10_000 {
                try flush()
                progress?(decoded.envelope.seq)
            }
        }
        if let problem = model.endProblem { throw ImportError(line: lineNumber, message: problem) }
        try flush()
        let tables = try ProjectionTables(environment: environment, log: log, key: nil)
        try Replay.rebuild(environment: environment, tables: tables)
        return verifier.head
    }
}

/// The orgs of an import as their events make them: each event is checked against the state before it
/// by asking the domain again what the service would have written there (`RecordedEventRules`).
///
/// A command's events are contiguous in the log (one append), so the log is read in order: the first
/// event of each command names the command; the events it owes after that (the owner joining after
/// `org.created`, the member joining after `invitation.accepted`, the rest of a due-event run) must
/// follow at once, by the same actor at the same time. A replacing `invitation.revoked` is held until
/// the `invitation.sent` it belongs to.
struct ImportModel {
    private var states: [String: OrgState] = [:]
    private var claims: [Handle: HandleClaim] = [:]
    private var owed: (stream: String, actor: Actor, at: Timestamp, events: ArraySlice<OrgEvent>)?
    private var heldReplacement: (envelope: EventEnvelope, event: OrgEvent)?
    /// The first events of a SCIM provision (`invitation.revoked` `provisioned`, `member.joined`), held
    /// until the `member.directory_updated` whose profile the provision was decided with.
    private var heldProvision: [(envelope: EventEnvelope, event: OrgEvent)] = []
    /// Each user stream's state so far (nil inside: the stream has not begun).
    private var users: [UserID: UserState?] = [:]

    /// A user stream's event: a user id of the service's shape, an event type of §7 whose data reads
    /// back exactly, by `system` or a user, in an order the service could have written
    /// (`RecordedEventRules.userEventProblem`); the stream's state is folded for the next.
    private mutating func admitUserEvent(_ envelope: EventEnvelope) -> String? {
        guard let user = UserID(checking: envelope.stream) else { return "stream \(envelope.stream) is not a user id of the service's shape" }
        guard envelope.actor == "system" || UserID(checking: envelope.actor) != nil else { return "actor is neither system nor a user id" }
        let event: UserEvent
        do { event = try UserEvent(type: envelope.type, data: envelope.data) } catch { return "\(error)" }
        guard (try? CanonicalJSON.encode(event.data)) == (try? CanonicalJSON.encode(envelope.data)) else {
            return "data of \(envelope.type) is not exactly what the event type encodes"
        }
        let actor = Actor(recorded: envelope.actor)
        if let actorID = actor.user, actorID != user, users[actorID] == nil { return "actor \(actorID) has no user.created before" }
        var state = users[user] ?? nil
        if let problem = RecordedEventRules.userEventProblem(event, by: actor, at: envelope.at, stream: user, state: state) { return problem }
        OrgDomain.apply(&state, event, stream: user, EventContext(at: envelope.at, actor: actor, version: envelope.version))
        users[user] = state
        return nil
    }

    /// Every user an org event names (its actor, the person it is about) has a stream begun before it.
    private func peopleProblem(_ event: OrgEvent, actor: Actor) -> String? {
        for user in [actor.user, event.person].compactMap({ $0 }) where users[user] == nil {
            return "\(user) has no user.created before this event"
        }
        return nil
    }

    /// A ledger-wide fact: a type of §4 whose data reads back exactly, by `system`.
    private func admitLedgerEvent(_ envelope: EventEnvelope) -> String? {
        guard envelope.actor == "system" else { return "\(envelope.type) is appended only by the service (actor system)" }
        do {
            let event = try LedgerEvent(type: envelope.type, data: envelope.data)
            guard (try? CanonicalJSON.encode(event.data)) == (try? CanonicalJSON.encode(envelope.data)) else {
                return "data of \(envelope.type) is not exactly what the event type encodes"
            }
            if case .requestContextErased(let beforeSeq, _) = event, beforeSeq > envelope.seq { return "before_seq \(beforeSeq) is after the event itself" }
        } catch {
            return "\(error)"
        }
        return nil
    }

    /// Why the envelope is not one the service could have written here, or nil (and it is applied).
    mutating func admit(_ envelope: EventEnvelope) -> String? {
        guard envelope.schemaVersion == EventEnvelope.schemaVersion else {
            return envelope.schemaVersion == 1
                ? "schema_version 1: an export of the first format (people as emails in the log), which this version does not read"
                : "schema_version \(envelope.schemaVersion) is not \(EventEnvelope.schemaVersion)"
        }
        if let problem = envelope.meta.problem { return problem }
        if envelope.stream.hasPrefix(UserID.prefix + "_") { return admitUserEvent(envelope) }
        if envelope.stream == LedgerEvent.stream { return admitLedgerEvent(envelope) }
        let (event, actor): (OrgEvent, Actor)
        switch RecordedEventRules.envelopeEvent(type: envelope.type, data: envelope.data, actor: envelope.actor, stream: envelope.stream) {
        case .success(let found): (event, actor) = found
        case .failure(let problem): return problem.description
        }
        if let problem = peopleProblem(event, actor: actor) { return problem }
        var apiKey: String?
        if case .scim(let keyID)? = envelope.meta.via {
            guard ResourceID.isWellFormed(keyID, prefix: "key") else { return "meta.api_key_id \(keyID) is not a key id of the service's shape" }
            apiKey = keyID
        }
        if let first = heldProvision.first {
            guard envelope.stream == first.envelope.stream, envelope.actor == first.envelope.actor, envelope.at == first.envelope.at else {
                return "a SCIM provision's \(first.event.type) must be followed by its member.directory_updated"
            }
            switch event {
            case .memberJoined where heldProvision.count == 1 && { if case .invitationRevoked = first.event { true } else { false } }():
                heldProvision.append((envelope, event))
                return nil
            case .memberDirectoryUpdated(_, let profile):
                let recorded = heldProvision.map(\.event) + [event]
                let claims = self.claims
                switch RecordedEventRules.expectedEvents(
                    startingWith: first.event, actor: actor, at: envelope.at, state: states[envelope.stream], handleHolder: { claims[$0] }, apiKey: apiKey,
                    provisionedWith: profile)
                {
                case .failure(let problem): return problem.description
                case .success(let expected):
                    guard expected.count >= recorded.count, zip(expected, recorded).allSatisfy(Self.same) else {
                        return "the service writes \(expected.map(Self.described).joined(separator: ", ")) here, not \(recorded.map(Self.described).joined(separator: ", "))"
                    }
                    for held in heldProvision { apply(held.event, held.envelope) }
                    apply(event, envelope)
                    heldProvision = []
                    if expected.count > recorded.count { owed = (envelope.stream, actor, envelope.at, expected.dropFirst(recorded.count)) }
                    return nil
                }
            default:
                return "a SCIM provision's \(first.event.type) must be followed by its member.directory_updated, not \(event.type)"
            }
        }
        if let owed {
            guard envelope.stream == owed.stream, actor == owed.actor, envelope.at == owed.at, let next = owed.events.first, Self.same(event, next) else {
                return "the service writes \(owed.events.first.map(Self.described) ?? "nothing") here (by \(owed.actor) at \(owed.at)), not \(Self.described(event))"
            }
            self.owed = owed.events.count > 1 ? (owed.stream, owed.actor, owed.at, owed.events.dropFirst()) : nil
            apply(event, envelope)
            return nil
        }
        if let held = heldReplacement {
            heldReplacement = nil
            guard case .invitationSent = event, envelope.stream == held.envelope.stream, envelope.actor == held.envelope.actor, envelope.at == held.envelope.at else {
                return "a replacing invitation.revoked must be followed by the invitation.sent that replaces it"
            }
            if let problem = expect([held.event, event], from: event, actor: actor, envelope: envelope) { return problem }
            apply(held.event, held.envelope)
            apply(event, envelope)
            return nil
        }
        if case .invitationRevoked(_, _, .replaced) = event {
            heldReplacement = (envelope, event)
            return nil
        }
        switch event {
        case .invitationRevoked(_, _, .provisioned), .memberJoined(_, _, _?, nil):
            heldProvision = [(envelope, event)]
            return nil
        default:
            break
        }
        let claims = self.claims
        switch RecordedEventRules.expectedEvents(startingWith: event, actor: actor, at: envelope.at, state: states[envelope.stream], handleHolder: { claims[$0] }, apiKey: apiKey) {
        case .failure(let problem): return problem.description
        case .success(let expected):
            guard let first = expected.first, Self.same(first, event) else {
                return "the service writes \(expected.map(Self.described).joined(separator: ", ")) here, not \(Self.described(event))"
            }
            if expected.count > 1 { owed = (envelope.stream, actor, envelope.at, expected.dropFirst()) }
            apply(event, envelope)
            return nil
        }
    }

    /// Why the log cannot end here (inside a command), or nil.
    var endProblem: String? {
        if let owed { return "the log ends before the \(owed.events.first?.type ?? "") the service writes next" }
        if heldReplacement != nil { return "the log ends after a replacing invitation.revoked, before its invitation.sent" }
        if let held = heldProvision.first { return "the log ends after a SCIM provision's \(held.event.type), before its member.directory_updated" }
        return nil
    }

    /// Checks that deciding again from `event` answers exactly `recorded`.
    private func expect(_ recorded: [OrgEvent], from event: OrgEvent, actor: Actor, envelope: EventEnvelope) -> String? {
        let claims = self.claims
        switch RecordedEventRules.expectedEvents(startingWith: event, actor: actor, at: envelope.at, state: states[envelope.stream], handleHolder: { claims[$0] }) {
        case .failure(let problem): return problem.description
        case .success(let expected):
            guard expected.count == recorded.count, zip(expected, recorded).allSatisfy(Self.same) else {
                return "the service writes \(expected.map(Self.described).joined(separator: ", ")) here, not \(recorded.map(Self.described).joined(separator: ", "))"
            }
            return nil
        }
    }

    /// `type {data}` (data as canonical JSON, escaped where not plain ASCII), for messages.
    private static func described(_ event: OrgEvent) -> String {
        let data = (try? CanonicalJSON.encode(event.data)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        return event.type + " " + data.unicodeScalars.map { $0.isASCII ? String($0) : "\\u{\(String($0.value, radix: 16))}" }.joined()
    }

    /// The same event to the byte: type and canonical data (Swift's `==` on strings would equate NFC and NFD).
    private static func same(_ a: OrgEvent, _ b: OrgEvent) -> Bool {
        a.type == b.type && (try? CanonicalJSON.encode(a.data)) == (try? CanonicalJSON.encode(b.data))
    }

    private mutating func apply(_ event: OrgEvent, _ envelope: EventEnvelope) {
        let before = states[envelope.stream]
        var next = before
        OrgAggregate.apply(&next, event, EventContext(at: envelope.at, actor: Actor(recorded: envelope.actor), version: envelope.version))
        updateClaims(before: before, after: next)
        states[envelope.stream] = next
    }

    /// The handles an org holds (its current one, and former ones within their hold) as the directory has them.
    private mutating func updateClaims(before: OrgState?, after: OrgState?) {
        if let before {
            for handle in [before.handle] + Array(before.heldHandles.keys) where claims[handle]?.orgID == before.id { claims[handle] = nil }
        }
        guard let after, after.status != .purged else { return }
        claims[after.handle] = HandleClaim(orgID: after.id, heldUntil: nil)
        for (handle, until) in after.heldHandles { claims[handle] = HandleClaim(orgID: after.id, heldUntil: until) }
    }
}

/// The personal-data store of an imported log, restored from its disclosure (product spec §8, "Moving a
/// ledger"): each disclosed value checked against the commitment its pointer names, kept for its owner
/// (the user whose stream it is on; the acting user for request context), each user's row re-made by
/// folding their stream with the values disclosed, and the orgs that name each user noted.
enum PeopleImport {
    static func restore(into path: String, disclosure: [DisclosureLine], key: InstanceKey) throws {
        var pending = Dictionary(grouping: disclosure, by: \.seq)
        let environment = try Environment(path: path)
        let log = try LogTables(environment: environment)
        let tables = try ProjectionTables(environment: environment, log: log, key: key)
        let people = tables.people
        try environment.write { txn in
            var states: [UserID: UserState?] = [:]
            var rows: [UserID: UserRow] = [:]
            var kept: [(seq: UInt64, owner: UserID, line: DisclosureLine)] = []
            var named: [(orgID: String, user: UserID)] = []
            var contextErasedBefore: UInt64 = 0
            try log.forEachEventBytes(after: 0, in: txn) { seq, bytes in
                let (view, data) = try EnvelopeView.readWithData(bytes)
                let lines = pending.removeValue(forKey: seq) ?? []
                let orgEvent = OrgAggregate.owns(stream: view.stream) ? try OrgAggregate.decode(type: view.type, data: data) : nil
                if !lines.isEmpty {
                    let envelope = try JSONParser.parse(Array(bytes))
                    for line in lines {
                        if let problem = line.problem(in: envelope) { throw Importer.ImportError(line: 0, message: "disclosure at \(problem)") }
                        // Request context is the actor's; a user event's values the user's; an org event's
                        // (a directory profile) the member's.
                        let owner = line.field.hasPrefix("/meta/") ? UserID(checking: view.actor) : orgEvent?.personalValues?.owner ?? UserID(checking: view.stream)
                        guard let owner else { throw Importer.ImportError(line: 0, message: "disclosure at seq \(seq), field \(line.field): no user owns this value") }
                        kept.append((seq, owner, line))
                    }
                }
                if let orgEvent {
                    if let person = orgEvent.person { named.append((view.stream, person)) }
                } else if view.stream == LedgerEvent.stream {
                    if case .requestContextErased(let beforeSeq, _) = try LedgerEvent(type: view.type, data: .object(Dictionary(data, uniquingKeysWith: { a, _ in a }))) {
                        contextErasedBefore = max(contextErasedBefore, beforeSeq)
                    }
                } else if let user = UserID(checking: view.stream) {
                    let event = try UserEvent(type: view.type, data: .object(Dictionary(data, uniquingKeysWith: { a, _ in a })))
                    var state = states[user] ?? nil
                    OrgDomain.apply(&state, event, stream: user, EventContext(at: view.at, actor: Actor(recorded: view.actor), version: view.version))
                    states[user] = state
                    guard let state else { return true }
                    var row = rows[user] ?? UserRow(id: user, status: state.status, createdAt: view.at, version: state.version)
                    row.apply(event, state: state)
                    // An email the disclosure does not give is not the old one: the row holds none.
                    if case .created = event { row.email = nil }
                    if case .emailChanged = event { row.email = nil }
                    for line in lines where !line.field.hasPrefix("/meta/") { row.disclose(line.value, at: line.field) }
                    rows[user] = row
                }
                return true
            }
            if let seq = pending.keys.min() {
                throw Importer.ImportError(line: 0, message: "disclosure at seq \(seq): the export has no such event")
            }
            // What the source had erased stays erased, whatever an older disclosure still holds: the values
            // of users erased since, and request context a retention run erased.
            for (seq, owner, line) in kept {
                if rows[owner]?.status == .erased { continue }
                if line.field.hasPrefix("/meta/"), seq < contextErasedBefore { continue }
                let value = PersonalValue(committing: line.value, salt: line.salt)
                try people.keep([Disclosure(pointer: line.field, value: value)], seq: seq, owner: owner, in: txn)
            }
            // Users in id order, and an email claimed twice (an older disclosure) refused: one email, one user.
            var claimed: [Email: UserID] = [:]
            for row in rows.values.sorted(by: { $0.id < $1.id }) {
                if let email = row.email {
                    if let other = claimed[email] {
                        throw Importer.ImportError(line: 0, message: "the disclosure gives \(other) and \(row.id) the same email; it is not the export's")
                    }
                    claimed[email] = row.id
                }
                try people.put(row, previous: nil, in: txn)
            }
            if contextErasedBefore > 0 { try people.restoreRequestContextWatermark(contextErasedBefore, in: txn) }
            for (orgID, user) in named { try people.noteOrg(orgID, names: user, in: txn) }
            // The directory names (SCIM) of the members whose profile values the disclosure gave.
            for orgID in Set(named.map(\.orgID)) {
                guard let state = try StateCache.fold(orgID, tables: tables, in: txn).state, state.status != .purged else { continue }
                for member in state.members.values {
                    guard let version = member.directoryVersion, let profile = try DirectoryQuery.profile(orgID, version: version, tables: tables, in: txn) else { continue }
                    try people.setDirectoryName(profile.userName, of: member.user, in: orgID, txn: txn)
                }
            }
        }
    }
}
