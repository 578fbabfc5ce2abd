import EventLog
import LMDB
import Ledger
import LedgerCore
import OrgDomain

/// Commands, end to end, inside the writer's transaction: load the org's state, decide, append, project,
/// keep the idempotent response; one commit per batch for all of it.
public final class CommandPipeline: Sendable {
    public let environment: Environment
    public let writer: GroupCommitWriter
    public let tables: ProjectionTables
    public let projector: Projector
    public let cache: StateCache

    public init(environment: Environment, writer: GroupCommitWriter, tables: ProjectionTables, cache: StateCache = StateCache()) {
        self.environment = environment
        self.writer = writer
        self.tables = tables
        self.projector = Projector(tables: tables)
        self.cache = cache
    }

    /// Runs a command in the writer's next batch; `render` answers it from the state it produced.
    public func execute(
        _ request: CommandRequest, render: @escaping RenderApplied = { _, _, _ in .none }, idempotency: Idempotency? = nil
    ) async throws -> CommandOutcome {
        try await writer.submit { [self] txn in try run(request, render: render, idempotency: idempotency, in: txn) }
    }

    func run(_ request: CommandRequest, render: RenderApplied, idempotency: Idempotency?, in txn: borrowing WriteTransaction) throws -> CommandOutcome {
        let idempotencyKey = idempotency.flatMap { i in request.actor.map { Keys.joined($0.description, i.key) } }
        if let idempotencyKey, let idempotency,
            let stored = try txn.withValue(in: tables.idempotency, forKey: idempotencyKey, { StoredResponse(decoding: $0) }) ?? nil,
            stored.isLive(at: request.now)
        {
            return stored.fingerprint == idempotency.fingerprint ? .replayed(stored) : .idempotencyKeyReused
        }
        let outcome = try decideAndApply(request, render: render, in: txn)
        if let idempotencyKey, let idempotency, let response = idempotency.keep(outcome) {
            let kept = StoredResponse(status: response.status, body: response.body, at: response.at, etag: response.etag, fingerprint: idempotency.fingerprint)
            try txn.put(in: tables.idempotency, key: idempotencyKey, value: kept.encoded)
        }
        return outcome
    }

    private func decideAndApply(_ request: CommandRequest, render: RenderApplied, in txn: borrowing WriteTransaction) throws -> CommandOutcome {
        guard let orgID = try resolve(request.target, in: txn) else {
            if case .invitation(let id) = request.target { return .refused(Refusal(.invitationNotFound, "no invitation \(id)")) }
            return .refused(Refusal(.orgNotFound, "no such org"))
        }
        // The writer owns this org's state for the command: taken out of the cache, changed in place.
        // Destructured, not kept as a tuple: a second reference to the state would make its first change
        // copy the member and invitation tables (the writer changes the state in place).
        var state: OrgState?, head: StateCache.StreamHead?
        (state, head) = try cache.take(orgID, tables: tables, in: txn)
        /// Puts the unchanged state back (a refusal or a command that changes nothing).
        func keep() { if let head { cache.remember(orgID, head: head, state: state) } }
        let claim = try handleClaim(for: request.command, in: txn)
        let context = DecisionContext(now: request.now, handleHolder: { handle in claim?.0 == handle ? claim?.1 : nil })
        let events: [OrgEvent]
        switch decide(request.command, by: request.actor, state: state, context: context) {
        case .failure(let refusal):
            keep()
            return .refused(refusal)
        case .success(let decided): events = decided
        }
        // If-Match only once the command would be allowed (RFC 9110 §13.2.1): a stranger learns nothing,
        // not even the version, from a precondition.
        if let expected = request.ifMatch, expected != (state?.version ?? 0) {
            keep()
            return .versionMismatch(current: state?.version ?? 0)
        }
        guard !events.isEmpty else {
            keep()
            return .applied(orgID: orgID, events: [], response: render(orgID, [], state))
        }
        let actor = request.actor ?? .system
        let applied = try append(events, to: orgID, state: &state, head: head, actor: actor, at: request.now, meta: request.meta, in: txn)
        return .applied(orgID: orgID, events: applied, response: render(orgID, applied, state))
    }

    /// Appends events to an org's stream (whose head the command read, nil for a new one), applies them
    /// to `state` in place and projects them, snapshots included; returns what was recorded. The new
    /// state goes back into the cache.
    func append(
        _ events: [OrgEvent], to orgID: String, state: inout OrgState?, head: StateCache.StreamHead?, actor: Actor, at now: Timestamp, meta: EventMeta,
        in txn: borrowing WriteTransaction
    ) throws -> [AppliedEvent] {
        let request = AppendRequest(stream: orgID, expectedVersion: .exactly(state?.version ?? 0), events: events.map { $0.newEvent(at: now, actor: actor, meta: meta) })
        let receipt: AppendReceipt
        switch try tables.log.append(request, streamVersion: head?.version ?? 0, in: txn) {
        case .success(let r): receipt = r
        case .failure(let error): throw error  // the writer owns the stream: a conflict here is a bug
        }
        let maxAt = max(head?.maxAt ?? StateCache.noTime, now)
        for (event, recorded) in zip(events, receipt.events) {
            let parts = Projector.parts(for: event, before: state)
            let old = Projector.rows(parts, of: state)
            OrgAggregate.apply(&state, event, EventContext(at: now, actor: actor, version: recorded.version))
            try projector.project(recorded, event, parts: parts, old: old, after: state, maxAt: maxAt, in: txn)
        }
        let last = receipt.events.last!
        cache.remember(orgID, head: StateCache.StreamHead(version: last.version, hash: last.hash, maxAt: maxAt), state: state)
        return zip(events, receipt.events).map { AppliedEvent(event: $0, seq: $1.seq, hash: $1.hash) }
    }

    private func resolve(_ ref: OrgRef, in txn: borrowing WriteTransaction) throws -> String? {
        switch ref {
        case .new(let id), .id(let id):
            return id
        case .handle(let raw):
            guard case .success(let handle) = Handle.parse(raw) else { return nil }
            return try Queries.currentHolder(of: handle, tables: tables, in: txn)
        case .invitation(let id):
            return try txn.withValue(in: tables[.invitations], forKey: Array(id.utf8)) { try JSONParser.parse(Array($0))["org_id"]?.stringValue } ?? nil
        }
    }

    /// For commands that claim a handle: who holds it now (the only handle `decide` will ask about).
    private func handleClaim(for command: Command, in txn: borrowing WriteTransaction) throws -> (Handle, HandleClaim)? {
        let raw: String
        switch command {
        case .createOrg(_, let handle, _): raw = handle
        case .renameHandle(let handle): raw = handle
        default: return nil
        }
        guard case .success(let handle) = Handle.parse(raw), let claim = try Queries.claim(on: handle, tables: tables, in: txn) else { return nil }
        return (handle, claim)
    }

    // MARK: Due events

    /// Appends every event that is due at `now` (actor `system`): invitation expiries, handle releases,
    /// purges. Exactly once: each is decided against the state in the same transaction. Also forgets
    /// idempotency keys older than 24 hours. Returns the number of events appended.
    @discardableResult
    public func appendDue(now: Timestamp) async throws -> Int {
        var total = 0
        while true {
            let (appended, more) = try await writer.submit { [self] txn in try dueBatch(now: now, limit: 500, in: txn) }
            total += appended
            if !more { break }
        }
        _ = try await writer.submit { [self] txn in try forgetIdempotency(before: now, in: txn) }
        return total
    }

    private func dueBatch(now: Timestamp, limit: Int, in txn: borrowing WriteTransaction) throws -> (Int, Bool) {
        var orgs: [String] = []
        try txn.withCursor(on: tables[.due]) { cursor in
            try cursor.forEach(from: [UInt8]?.none) { entry in
                let (time, orgID) = Keys.dueTime(entry.key)
                guard time <= now, orgs.count < limit else { return false }
                if orgs.last != orgID, !orgs.contains(orgID) { orgs.append(orgID) }
                return true
            }
        }
        var appended = 0
        for orgID in orgs {
            var state: OrgState?, head: StateCache.StreamHead?
            (state, head) = try cache.take(orgID, tables: tables, in: txn)
            let events = state.map { dueEvents($0, now: now) } ?? []
            guard !events.isEmpty else {
                if let head { cache.remember(orgID, head: head, state: state) }
                continue
            }
            appended += try append(events, to: orgID, state: &state, head: head, actor: .system, at: now, meta: EventMeta(), in: txn).count
        }
        return (appended, orgs.count == limit)
    }

    private func forgetIdempotency(before now: Timestamp, in txn: borrowing WriteTransaction) throws {
        var stale: [[UInt8]] = []
        try txn.withCursor(on: tables.idempotency) { cursor in
            try cursor.forEach(from: [UInt8]?.none) { entry in
                guard let stored = StoredResponse(decoding: entry.value) else {
                    stale.append(Array(entry.key))  // an older layout: unreadable, so of no use
                    return true
                }
                if !stored.isLive(at: now) { stale.append(Array(entry.key)) }
                return true
            }
        }
        for key in stale { try txn.delete(in: tables.idempotency, key: key) }
    }
}

/// How an idempotent response is kept in the `idempotency` table.
extension StoredResponse {
    /// Layout (version 2): 0x02 ‖ at (8) ‖ status (8) ‖ etag + 1 (8, 0 = none) ‖ fingerprint (32) ‖ body.
    /// A value of the first layout (it starts with a zero byte) is treated as absent.
    static let layout: UInt8 = 2
    static let headerSize = 1 + 8 + 8 + 8 + 32

    var encoded: [UInt8] {
        var out: [UInt8] = [Self.layout]
        out.reserveCapacity(Self.headerSize + body.count)
        Keys.appendBE64(UInt64(bitPattern: at.millisecondsSinceEpoch), to: &out)
        Keys.appendBE64(UInt64(status), to: &out)
        Keys.appendBE64(etag.map { $0 + 1 } ?? 0, to: &out)
        out += fingerprint.count == 32 ? fingerprint : [UInt8](repeating: 0, count: 32)
        out += body
        return out
    }

    convenience init?(decoding bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= Self.headerSize, bytes[0] == Self.layout else { return nil }
        func word(_ offset: Int) -> UInt64 { Keys.readBE64(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + 8)])) }
        let tag = word(17)
        self.init(
            status: Int(truncatingIfNeeded: word(9)), body: Array(bytes[57...]), at: Timestamp(millisecondsSinceEpoch: Int64(bitPattern: word(1))),
            etag: tag == 0 ? nil : tag - 1, fingerprint: Array(bytes[25..<57]))
    }
}
