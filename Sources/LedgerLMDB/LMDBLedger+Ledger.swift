import EventLog
import Foundation
import LMDB
import Ledger
import LedgerCore
import NIOPosix
import OrgDomain

/// The `Ledger` seam on LMDB. Point reads (one key, or a few) run where they are called: they cost
/// the same whatever the data (key verification may fold an org from its latest snapshot on a cold
/// cache, a bounded cost). Reads whose cost grows with the data (a page of rows, `as_of` folding
/// a stream, the raw log) run on a thread pool, never on the event loop or Swift's cooperative
/// threads, so heavy reads queue behind each other while point reads, commands and `/v1/health` keep
/// answering (spec §5).
extension LMDBLedger: Ledger {
    // MARK: Writing

    public func execute(_ request: CommandRequest, render: @escaping RenderApplied, idempotency: Idempotency?) async throws -> CommandOutcome {
        do {
            return try await pipeline.execute(request, render: render, idempotency: idempotency)
        } catch {
            throw storageError(error)
        }
    }

    public func execute(_ request: UserCommandRequest, render: @escaping RenderUserApplied, idempotency: Idempotency?) async throws -> CommandOutcome {
        do {
            return try await pipeline.execute(request, render: render, idempotency: idempotency)
        } catch {
            throw storageError(error)
        }
    }

    public func appendDue(now: Timestamp) async throws -> Int {
        do {
            return try await pipeline.appendDue(now: now)
        } catch {
            throw storageError(error)
        }
    }

    // MARK: Reading

    public func head() async throws -> LedgerHead {
        try point { [log] txn in
            let head = try log.tables.head(in: txn)
            return LedgerHead(seq: head.seq, hash: head.hash)
        }
    }

    public func org(_ orgID: String) async throws -> [UInt8]? {
        try point { [tables] txn in try Queries.orgRow(orgID, tables: tables, in: txn) }
    }

    public func handleClaim(_ handle: Handle) async throws -> HandleClaim? {
        try point { [tables] txn in try Queries.claim(on: handle, tables: tables, in: txn) }
    }

    public func person(_ email: Email) async throws -> Person? {
        try point { [tables] txn in try tables.people.account(of: email, in: txn).map { Person(id: $0.id, email: email, status: $0.status) } }
    }

    public func userRow(_ user: UserID) async throws -> [UInt8]? {
        try point { [tables] txn in try tables.people.row(user, in: txn)?.json }
    }

    public func people(_ users: [UserID]) async throws -> [UserID: Person] {
        try await scan { [tables] txn in
            var out: [UserID: Person] = [:]
            for user in users { out[user] = try tables.people.person(user, in: txn) }
            return out
        }
    }

    public func standing(of user: UserID?, in orgID: String) async throws -> Standing? {
        try point { [tables] txn in
            guard try Queries.orgRow(orgID, tables: tables, in: txn) != nil else { return nil }
            guard let user, try tables.people.row(user, in: txn)?.status == .active,
                let row = try Queries.memberRow(orgID, user.value, tables: tables, in: txn), let (role, status) = memberFields(row)
            else { return .nonMember }
            return status == .active ? .active(role) : .suspended(role)
        }
    }

    public func member(_ user: UserID, of orgID: String) async throws -> VersionedRow? {
        try point { [tables] txn in
            guard let row = try Queries.memberRow(orgID, user.value, tables: tables, in: txn) else { return nil }
            return VersionedRow(row: try Self.resolved(row, tables: tables, in: txn), version: try Queries.orgVersion(orgID, tables: tables, in: txn) ?? 0)
        }
    }

    public func members(of orgID: String, filter: MemberFilter, page: PageRequest<String>) async throws -> RowPage {
        precondition(page.limit > 0, "a page holds at least one row")
        return try await scan { [tables] txn in
            let rows = try Queries.memberRows(orgID, after: page.after, limit: page.limit + 1, where: { row in
                filter.takesAll || memberFields(row).map { filter.accepts(role: $0.role, status: $0.status) } == true
            }, tables: tables, in: txn)
            return RowPage(
                rows: try rows.prefix(page.limit).map { try Self.resolved($0, tables: tables, in: txn) },
                next: rows.count > page.limit ? Self.field("user_id", of: rows[page.limit - 1]) : nil,
                version: try Queries.orgVersion(orgID, tables: tables, in: txn) ?? 0)
        }
    }

    public func invitations(of orgID: String, status: InvitationStatus?, page: PageRequest<InvitationCursor>) async throws -> RowPage {
        precondition(page.limit > 0, "a page holds at least one row")
        return try await scan { [tables] txn in
            let rows = try Queries.invitationRows(orgID, after: page.after, limit: page.limit + 1, where: { row in
                status == nil || Self.field("status", of: row) == status?.rawValue
            }, tables: tables, in: txn)
            var next: String?
            if rows.count > page.limit, let id = Self.field("id", of: rows[page.limit - 1]),
                let sentAt = Self.field("sent_at", of: rows[page.limit - 1]).flatMap(Timestamp.init(rfc3339:))
            {
                next = InvitationCursor(sentAt: sentAt, id: id).description
            }
            return RowPage(
                rows: try rows.prefix(page.limit).map { try Self.resolved($0, tables: tables, in: txn) }, next: next,
                version: try Queries.orgVersion(orgID, tables: tables, in: txn) ?? 0)
        }
    }

    public func pendingInvitations(to user: UserID, page: PageRequest<String>) async throws -> RowPage {
        try await indexedPage(under: Keys.pendingPrefix(user.value), index: .invitationsPending, table: .invitations, page: page, versionOf: nil)
    }

    public func apiKeys(of orgID: String, page: PageRequest<String>) async throws -> RowPage {
        try await indexedPage(under: Keys.joined(orgID, ""), index: .orgAPIKeys, table: .apiKeys, page: page, versionOf: orgID)
    }

    public func orgs(of user: UserID, page: PageRequest<String>) async throws -> RowPage {
        precondition(page.limit > 0, "a page holds at least one row")
        return try await scan { [tables] txn in
            let memberships = try Queries.entries(under: Keys.joined(user.value, ""), after: page.after.map { Array($0.utf8) }, limit: page.limit + 1, in: tables[.memberships], txn: txn)
            var rows: [[UInt8]] = []
            for membership in memberships.prefix(page.limit) {
                let orgID = String(decoding: membership.suffix, as: UTF8.self)
                guard let row = try Queries.orgRow(orgID, tables: tables, in: txn), case .object(var org) = try JSONParser.parse(row) else { continue }
                org["role"] = .string(String(decoding: membership.value, as: UTF8.self))
                let member = try Queries.memberRow(orgID, user.value, tables: tables, in: txn).flatMap(memberFields)
                org["member_status"] = .string(member?.status.rawValue ?? MemberStatus.active.rawValue)
                rows.append(try CanonicalJSON.encode(.object(org)))
            }
            let next = memberships.count > page.limit ? String(decoding: memberships[page.limit - 1].suffix, as: UTF8.self) : nil
            return RowPage(rows: rows, next: next, version: nil)
        }
    }

    public func verifyKey(secretSHA256 hash: String) async throws -> VerifiedKey? {
        try point { [tables, pipeline] txn in
            let candidates = try Queries.entries(under: Keys.joined(hash, ""), in: tables[.apiKeysByHash], txn: txn)
            for candidate in candidates {
                let keyID = String(decoding: candidate.suffix, as: UTF8.self), orgID = String(decoding: candidate.value, as: UTF8.self)
                guard let org = try pipeline.cache.state(of: orgID, tables: tables, in: txn), let key = org.apiKeys[keyID], key.secretSHA256 == hash,
                    key.status(in: org, creatorPendingDeletion: try tables.people.row(key.createdBy, in: txn)?.status == .pendingDeletion) == .active
                else { continue }
                return VerifiedKey(orgID: org.id, handle: org.handle.value, keyID: keyID, role: key.role)
            }
            return nil
        }
    }

    public func audit(of orgID: String, filter: AuditFilter, before: UInt64, limit: Int) async throws -> [AuditRecord] {
        try await scan { [tables] txn in
            try Queries.audit(orgID, before: before, limit: limit, filter: filter, tables: tables, in: txn).map { record in
                (record.entry, Render.resolvingPeople(auditRow: record.row) { try? tables.people.person($0, in: txn) })
            }
        }
    }

    public func directory(of orgID: String, filter: DirectoryFilter, startIndex: Int, count: Int) async throws -> DirectoryPage? {
        try await scan { [tables, pipeline] txn in
            guard let state = try pipeline.cache.state(of: orgID, tables: tables, in: txn), state.status != .purged else { return nil }
            return try DirectoryQuery.page(state, filter: filter, startIndex: startIndex, count: count, tables: tables, in: txn)
        }
    }

    public func directoryMember(_ user: UserID, of orgID: String) async throws -> DirectoryMember? {
        try point { [tables, pipeline] txn in
            guard let state = try pipeline.cache.state(of: orgID, tables: tables, in: txn), state.status != .purged, let member = state.members[user] else { return nil }
            return try DirectoryQuery.directoryMember(member, orgID: orgID, tables: tables, in: txn)
        }
    }

    public func state(of orgID: String, at point: TimeTravel.Point) async throws -> OrgState? {
        try await scan { [tables] txn in try TimeTravel.state(of: orgID, at: point, tables: tables, in: txn) }
    }

    public func events(after start: UInt64, limit: Int) async throws -> EventLines {
        try await scan { [log] txn in
            var out: [UInt8] = []
            var count = 0, last = start, more = false
            try log.tables.forEachEvent(after: start, in: txn) { seq, hash, bytes in
                guard count < limit else {
                    more = true
                    return false
                }
                out += try EventEnvelope.exportLine(stored: bytes, hash: hash)
                out.append(UInt8(ascii: "\n"))
                count += 1
                last = seq
                return true
            }
            return EventLines(bytes: out, lastSeq: last, more: more)
        }
    }

    // MARK: Evidence

    public var checkpointVerifierKey: String { checkpointSigner.verifierKey }

    public func latestCheckpoint() async throws -> SignedCheckpoint? {
        try point { [log] txn in try log.tables.latestCheckpoint(in: txn).map { SignedCheckpoint(size: $0.size, note: $0.note) } }
    }

    public func signCheckpoint() async throws -> SignedCheckpoint {
        let (environment, log, signer) = (environment, log, checkpointSigner)
        // Most calls find nothing new: a read answers them without waiting for the write lock.
        let current = try point { txn in (try log.tables.latestCheckpoint(in: txn), try log.tables.head(in: txn).seq) }
        if let latest = current.0, latest.size >= current.1 { return SignedCheckpoint(size: latest.size, note: latest.note) }
        do {
            return try await NIOThreadPool.singleton.runIfActive {
                try environment.write { txn in
                    // Every transaction sees the tree whole up to the head: the append writes both.
                    let size = try log.tables.head(in: txn).seq
                    if let latest = try log.tables.latestCheckpoint(in: txn), latest.size >= size { return SignedCheckpoint(size: latest.size, note: latest.note) }
                    let note = try signer.sign(Checkpoint(origin: signer.name, size: size, root: try log.tables.root(size: size, in: txn)).text)
                    try log.tables.storeCheckpoint(note, size: size, in: txn)
                    return SignedCheckpoint(size: size, note: note)
                }
            }
        } catch {
            throw storageError(error)
        }
    }

    public func tile(_ address: TileAddress) async throws -> [UInt8]? {
        try point { [log] txn in
            let size = try log.tables.head(in: txn).seq
            let first = address.index * UInt64(Evidence.tileWidth)
            let end = first + UInt64(address.width)
            guard let level = address.level else {
                // An entry bundle: each entry's canonical bytes, a big-endian uint16 length first.
                guard end <= size else { return nil }
                var out: [UInt8] = []
                try log.tables.forEachEventBytes(after: first, in: txn) { seq, bytes in
                    guard bytes.count <= 0xFFFF else { throw TreeError("seq \(seq) has \(bytes.count) bytes, more than an entry bundle can hold") }
                    out.append(UInt8(truncatingIfNeeded: bytes.count >> 8))
                    out.append(UInt8(truncatingIfNeeded: bytes.count))
                    out.append(contentsOf: bytes)
                    return seq < end
                }
                return out
            }
            let treeLevel = level * Evidence.tileHeight
            guard end <= size >> UInt64(treeLevel) else { return nil }
            var out: [UInt8] = []
            out.reserveCapacity(address.width * 32)
            for index in first..<end { out += try log.tables.node(treeLevel, index, in: txn).bytes }
            return out
        }
    }

    public func inclusionProof(seq: UInt64, size: UInt64) async throws -> InclusionProof? {
        try point { [log] txn in
            guard seq >= 1, seq <= size, size <= (try log.tables.head(in: txn).seq) else { return nil }
            return InclusionProof(seq: seq, treeSize: size, hashes: try log.tables.inclusionProof(seq: seq, size: size, in: txn))
        }
    }

    public func consistencyProof(from old: UInt64, to new: UInt64) async throws -> [MerkleTree.Hash]? {
        try point { [log] txn in
            guard old >= 1, old <= new, new <= (try log.tables.head(in: txn).seq) else { return nil }
            return try log.tables.consistencyProof(from: old, to: new, in: txn)
        }
    }

    public func provableStream(of orgID: String, at point: TimeTravel.Point, naming user: UserID, in checkpoint: SignedCheckpoint) async throws -> ProvableStream {
        try await scan { [log, tables] txn in
            var events: [ProvedEvent] = []
            var next: ProvedEvent?
            for seq in try log.tables.seqs(inStream: orgID, fromVersion: 1, limit: .max, in: txn) where seq <= checkpoint.size {
                let (event, recorded) = try log.tables.proved(seq, size: checkpoint.size, in: txn)
                // The fold stops at the first event the point excludes (TimeTravel): that one is the next.
                guard point.includes(seq: seq, at: recorded.envelope.at) else {
                    next = event
                    break
                }
                events.append(event)
            }
            var naming: [ProvedEvent] = []
            var disclosures: [DisclosureLine] = []
            for seq in try log.tables.seqs(inStream: user.value, fromVersion: 1, limit: .max, in: txn) where seq <= checkpoint.size {
                let (event, recorded) = try log.tables.proved(seq, size: checkpoint.size, in: txn)
                guard ["user.created", "user.email_changed"].contains(recorded.envelope.type) else { continue }
                naming.append(event)
                if let value = try tables.people.disclosed(seq: seq, pointer: "/data/email", in: txn) {
                    disclosures.append(DisclosureLine(seq: seq, field: "/data/email", salt: value.salt, value: value.value))
                }
            }
            return ProvableStream(checkpoint: checkpoint, events: events, next: next, naming: naming, disclosures: disclosures)
        }
    }

    // MARK: How reads run

    /// A read whose cost does not grow with the data, in a snapshot of its own.
    private func point<R>(_ body: (borrowing ReadTransaction) throws -> R) throws -> R {
        do {
            return try environment.read(body)
        } catch {
            throw storageError(error)
        }
    }

    /// A read whose cost grows with the data, on the thread pool.
    private func scan<R: Sendable>(_ body: @escaping @Sendable (borrowing ReadTransaction) throws -> R) async throws -> R {
        let environment = self.environment
        do {
            return try await NIOThreadPool.singleton.runIfActive { try environment.read(body) }
        } catch {
            throw storageError(error)
        }
    }

    /// The rows of `table` listed under `prefix` in `index`, a page of them, the next cursor being the
    /// last row's key (an id).
    private func indexedPage(
        under prefix: [UInt8], index: ProjectionTables.Table, table: ProjectionTables.Table, page: PageRequest<String>, versionOf orgID: String?
    ) async throws -> RowPage {
        precondition(page.limit > 0, "a page holds at least one row")
        return try await scan { [tables] txn in
            let found = try Queries.rows(
                indexedUnder: prefix, after: page.after.map { Array($0.utf8) }, limit: page.limit + 1, index: tables[index], table: tables[table], txn: txn)
            let next = found.count > page.limit ? String(decoding: found[page.limit - 1].key, as: UTF8.self) : nil
            let version = try orgID.map { try Queries.orgVersion($0, tables: tables, in: txn) ?? 0 }
            return RowPage(rows: try found.prefix(page.limit).map { try Self.resolved($0.row, tables: tables, in: txn) }, next: next, version: version)
        }
    }

    /// A stored row with the people it names shown by current email (`Render.resolvingPeople`).
    static func resolved(_ row: [UInt8], tables: ProjectionTables, in txn: borrowing some TransactionReading & ~Copyable) throws -> [UInt8] {
        Render.resolvingPeople(row) { try? tables.people.person($0, in: txn) }
    }

    /// A string member of a stored (canonical, flat) row.
    static func field(_ name: String, of row: [UInt8]) -> String? {
        (try? JSONParser.parse(row))?[name]?.stringValue
    }

    // MARK: Errors

    /// The one storage error: a full disk or map is `.storageFull`, anything else from LMDB `.io`, stored
    /// bytes that do not read back (envelope, snapshot, row, a stream the log disagrees on) `.corrupt`.
    /// LMDB reports a short write during commit as EIO (mdb_page_flush): on a full disk that is the same
    /// condition as ENOSPC, so the free space decides.
    func storageError(_ error: any Error) -> any Error {
        switch error {
        case let error as LMDBError where error.isDiskFull || error.code == LMDBError.mapFull.rawValue || (error.code == EIO && diskIsFull()):
            return LedgerError(.storageFull, "the disk is full; nothing was written", cause: error)
        case let error as LMDBError:
            return LedgerError(error.code == LMDBError.corrupted.rawValue ? .corrupt : .io, error.description, cause: error)
        case let error as EnvelopeError:
            return LedgerError(.corrupt, error.description, cause: error)
        case let error as SnapshotError:
            return LedgerError(.corrupt, error.description, cause: error)
        case let error as JSONParser.SyntaxError:
            return LedgerError(.corrupt, "a stored row is not JSON: \(error)", cause: error)
        case let error as AppendError:
            return LedgerError(.corrupt, "the log refused an append the writer decided: \(error)", cause: error)
        default:
            return error
        }
    }

    /// Whether the data folder's filesystem has (almost) no room left for a commit.
    private func diskIsFull() -> Bool {
        var stats = statvfs()
        guard statvfs(environment.path, &stats) == 0 else { return false }
        return UInt64(stats.f_bavail) * UInt64(stats.f_frsize) < 4 << 20
    }
}

/// `role` and `status` of a stored member row; nil when it does not parse (never for rows this
/// version wrote).
func memberFields(_ row: [UInt8]) -> (role: Role, status: MemberStatus)? {
    guard let member = try? JSONParser.parse(row), let role = member["role"]?.stringValue.flatMap(Role.init(rawValue:)),
        let status = member["status"]?.stringValue.flatMap(MemberStatus.init(rawValue:))
    else { return nil }
    return (role, status)
}

extension LogTables {
    /// Event `seq` as an export line with its inclusion proof in the tree of `size`, and as recorded
    /// (`?proof=true` and `orgledger prove`). 1 ≤ seq ≤ size ≤ the tree's size.
    public func proved(_ seq: UInt64, size: UInt64, in txn: borrowing some TransactionReading & ~Copyable) throws -> (ProvedEvent, RecordedEvent) {
        guard let event = try event(seq: seq, in: txn) else { throw EnvelopeError("seq \(seq) is not in the log") }
        let line = try event.canonicalBytes.withUnsafeBytes { try EventEnvelope.exportLine(stored: $0, hash: event.hash) }
        return (ProvedEvent(seq: seq, line: line, hashes: try inclusionProof(seq: seq, size: size, in: txn)), event)
    }
}
