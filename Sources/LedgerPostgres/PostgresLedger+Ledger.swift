import Ledger
import LedgerCore
import LedgerLMDB
import OrgDomain

/// The `Ledger` seam on PostgreSQL: reads are the working copy's (the LMDB backend's, answered on this
/// instance); commands run only on the writer, and reach the database through the working copy's
/// commit hook (`PostgresLedger.ship`).
extension PostgresLedger: Ledger {
    // MARK: Writing

    public func execute(_ request: CommandRequest, render: @escaping RenderApplied, idempotency: Idempotency?) async throws -> CommandOutcome {
        try requireWriter()
        return try await working.execute(request, render: render, idempotency: idempotency)
    }

    public func execute(_ request: UserCommandRequest, render: @escaping RenderUserApplied, idempotency: Idempotency?) async throws -> CommandOutcome {
        try requireWriter()
        return try await working.execute(request, render: render, idempotency: idempotency)
    }

    /// Due events are the writer's to append; a follower has none to append.
    public func appendDue(now: Timestamp) async throws -> Int {
        guard isWriter else { return 0 }
        return try await working.appendDue(now: now)
    }

    public var acceptsCommands: Bool { isWriter }

    /// Refuses before any work on an instance that does not write now.
    private func requireWriter() throws {
        guard isWriter else { throw LedgerError(.notWriter, "this instance does not write now") }
    }

    // MARK: Reading

    public func head() async throws -> LedgerHead { try await working.head() }
    public func org(_ orgID: String) async throws -> [UInt8]? { try await working.org(orgID) }
    public func handleClaim(_ handle: Handle) async throws -> HandleClaim? { try await working.handleClaim(handle) }
    public func person(_ email: Email) async throws -> Person? { try await working.person(email) }
    public func userRow(_ user: UserID) async throws -> [UInt8]? { try await working.userRow(user) }
    public func standing(of user: UserID?, in orgID: String) async throws -> Standing? { try await working.standing(of: user, in: orgID) }
    public func member(_ user: UserID, of orgID: String) async throws -> VersionedRow? { try await working.member(user, of: orgID) }

    public func members(of orgID: String, filter: MemberFilter, page: PageRequest<String>) async throws -> RowPage {
        try await working.members(of: orgID, filter: filter, page: page)
    }

    public func invitations(of orgID: String, status: InvitationStatus?, page: PageRequest<InvitationCursor>) async throws -> RowPage {
        try await working.invitations(of: orgID, status: status, page: page)
    }

    public func pendingInvitations(to user: UserID, page: PageRequest<String>) async throws -> RowPage {
        try await working.pendingInvitations(to: user, page: page)
    }

    public func apiKeys(of orgID: String, page: PageRequest<String>) async throws -> RowPage { try await working.apiKeys(of: orgID, page: page) }
    public func orgs(of user: UserID, page: PageRequest<String>) async throws -> RowPage { try await working.orgs(of: user, page: page) }
    public func verifyKey(secretSHA256: String) async throws -> VerifiedKey? { try await working.verifyKey(secretSHA256: secretSHA256) }

    public func audit(of orgID: String, filter: AuditFilter, before: UInt64, limit: Int) async throws -> [AuditRecord] {
        try await working.audit(of: orgID, filter: filter, before: before, limit: limit)
    }

    public func state(of orgID: String, at point: TimeTravel.Point) async throws -> OrgState? { try await working.state(of: orgID, at: point) }
    public func people(_ users: [UserID]) async throws -> [UserID: Person] { try await working.people(users) }

    public func directory(of orgID: String, filter: DirectoryFilter, startIndex: Int, count: Int) async throws -> DirectoryPage? {
        try await working.directory(of: orgID, filter: filter, startIndex: startIndex, count: count)
    }

    public func directoryMember(_ user: UserID, of orgID: String) async throws -> DirectoryMember? { try await working.directoryMember(user, of: orgID) }
    public func events(after seq: UInt64, limit: Int) async throws -> EventLines { try await working.events(after: seq, limit: limit) }

    // MARK: Evidence

    public var checkpointVerifierKey: String { working.checkpointVerifierKey }
    public func latestCheckpoint() async throws -> SignedCheckpoint? { try await working.latestCheckpoint() }

    /// The writer signs (a checkpoint is a row the database keeps); a follower answers the latest it holds.
    public func signCheckpoint() async throws -> SignedCheckpoint {
        if !isWriter, let latest = try await working.latestCheckpoint() { return latest }
        try requireWriter()
        return try await working.signCheckpoint()
    }

    public func tile(_ address: TileAddress) async throws -> [UInt8]? { try await working.tile(address) }
    public func inclusionProof(seq: UInt64, size: UInt64) async throws -> InclusionProof? { try await working.inclusionProof(seq: seq, size: size) }
    public func consistencyProof(from old: UInt64, to new: UInt64) async throws -> [MerkleTree.Hash]? { try await working.consistencyProof(from: old, to: new) }

    public func provableStream(of orgID: String, at point: TimeTravel.Point, naming user: UserID, in checkpoint: SignedCheckpoint) async throws -> ProvableStream {
        try await working.provableStream(of: orgID, at: point, naming: user, in: checkpoint)
    }
}
