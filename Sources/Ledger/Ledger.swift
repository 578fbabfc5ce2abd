import LedgerCore
import OrgDomain

/// The one way the service reaches storage: a command executed as one unit of work, and typed reads.
///
/// The answers of more than one field are final classes, not structs: swiftc 6.3.1 mis-sizes the async
/// frame of a call through the existential that returns such a struct (a crash in
/// `swift_task_dealloc`, seen with `EventLines` as a struct), as it did for `StoredResponse`.
///
/// A command is atomic behind this seam: load the org's state, decide, append its events, update the
/// views and keep the idempotent answer, all in one transaction of the backend. Reads are by what the
/// API asks for; filtering and paging happen behind the seam, where a SQL backend does them with
/// `WHERE … ORDER BY … LIMIT`. Rows come back as the canonical JSON of the views (`Render`), so the
/// HTTP layer answers straight from them. Every failure of the storage itself is a `LedgerError`.
public protocol Ledger: Sendable {
    // MARK: Writing

    /// Runs one command end to end; durable when it returns `.applied`, with the response `render`
    /// made of it in the same transaction.
    func execute(_ request: CommandRequest, render: @escaping RenderApplied, idempotency: Idempotency?) async throws -> CommandOutcome

    /// Runs one command on a user's account, the same way. `.applied` carries the account's user id
    /// as its `orgID`.
    func execute(_ request: UserCommandRequest, render: @escaping RenderUserApplied, idempotency: Idempotency?) async throws -> CommandOutcome

    /// Appends every event due at `now` (actor `system`) and forgets expired idempotent answers;
    /// returns how many events were appended.
    func appendDue(now: Timestamp) async throws -> Int

    /// Finishes the accepted work and releases the storage.
    func close()

    /// Whether this instance takes commands now (`/v1/health`'s `writes`): false on a follower of the
    /// PostgreSQL ledger, which refuses them with `LedgerError.notWriter`.
    var acceptsCommands: Bool { get }

    /// The backend's own upkeep for the life of the service (following and taking over from another
    /// instance), until the task is cancelled. Most backends have none.
    func maintain() async

    // MARK: Reading

    /// The last event of the log (seq 0 and the genesis hash when empty).
    func head() async throws -> LedgerHead

    /// An org's row (`Render.orgRow`), also while pending deletion; nil when unknown or purged.
    func org(_ orgID: String) async throws -> [UInt8]?

    /// Who holds a handle: its current org, or the org whose former handle it is, with the hold's end.
    func handleClaim(_ handle: Handle) async throws -> HandleClaim?

    /// The user an email belongs to now (not erased), if any.
    func person(_ email: Email) async throws -> Person?

    /// A user's row (`/v1/me`): profile values in clear while held.
    func userRow(_ user: UserID) async throws -> [UInt8]?

    /// How `user` stands in an org (for the permission matrix); nil when the org is unknown. A user
    /// whose account may not act (pending deletion, awaiting activation) stands nowhere.
    func standing(of user: UserID?, in orgID: String) async throws -> Standing?

    /// A member's row and the org's version.
    func member(_ user: UserID, of orgID: String) async throws -> VersionedRow?

    /// An org's members in byte order of the user id (which never changes, so a page holds through an
    /// email change), after `page.after` (a user id), that `filter` takes.
    func members(of orgID: String, filter: MemberFilter, page: PageRequest<String>) async throws -> RowPage

    /// An org's invitations, newest first, with `status` if given.
    func invitations(of orgID: String, status: InvitationStatus?, page: PageRequest<InvitationCursor>) async throws -> RowPage

    /// The pending invitations addressed to a user, by invitation id.
    func pendingInvitations(to user: UserID, page: PageRequest<String>) async throws -> RowPage

    /// An org's API keys (never a secret), by key id.
    func apiKeys(of orgID: String, page: PageRequest<String>) async throws -> RowPage

    /// The orgs a user belongs to, by org id: each org row with the member's `role` added.
    func orgs(of user: UserID, page: PageRequest<String>) async throws -> RowPage

    /// The key a secret's SHA-256 (hex) names, if it holds now (`APIKey.status(in:)` is `.active`).
    func verifyKey(secretSHA256: String) async throws -> VerifiedKey?

    /// An org's audit trail, newest first: entries with `seq < before` (0: from the newest) that
    /// `filter` takes, at most `limit`, each with its full row. Purged orgs keep their trail.
    func audit(of orgID: String, filter: AuditFilter, before: UInt64, limit: Int) async throws -> [AuditRecord]

    /// An org's state as of a point, from its own stream.
    func state(of orgID: String, at point: TimeTravel.Point) async throws -> OrgState?

    /// The people of an org state (as `state(of:at:)` gives), for rendering it: current emails, or erased.
    func people(_ users: [UserID]) async throws -> [UserID: Person]

    /// An org's members as SCIM shows them (product spec §10), that `filter` takes: `count` of them from
    /// the `startIndex`-th (from 1), in user id order, and how many there are in all; nil for an org
    /// that is unknown or purged.
    func directory(of orgID: String, filter: DirectoryFilter, startIndex: Int, count: Int) async throws -> DirectoryPage?

    /// One member as SCIM shows them; nil when not a member (or the org is unknown).
    func directoryMember(_ user: UserID, of orgID: String) async throws -> DirectoryMember?

    /// Stored events after a seq as export lines (NDJSON envelopes with their hash), at most `limit`.
    func events(after seq: UInt64, limit: Int) async throws -> EventLines

    // MARK: Evidence (product spec §9)

    /// The signed-note verifier key of the checkpoints (`<origin>+<key hash>+<base64 key>`).
    var checkpointVerifierKey: String { get }

    /// The latest checkpoint; nil before the first is signed.
    func latestCheckpoint() async throws -> SignedCheckpoint?

    /// Signs a checkpoint of the tree at the log's head unless the latest already covers it; the latest.
    func signCheckpoint() async throws -> SignedCheckpoint

    /// A tile's bytes (hashes, or length-prefixed entries); nil when the tree does not hold all of it.
    func tile(_ address: TileAddress) async throws -> [UInt8]?

    /// The inclusion proof of `seq` in the tree of `size` leaves; nil unless 1 ≤ seq ≤ size ≤ the tree's size.
    func inclusionProof(seq: UInt64, size: UInt64) async throws -> InclusionProof?

    /// The consistency proof between trees of `old` and `new` leaves; nil unless 1 ≤ old ≤ new ≤ the tree's size.
    func consistencyProof(from old: UInt64, to new: UInt64) async throws -> [MerkleTree.Hash]?

    /// The evidence for an answer about `user` in `orgID` as of `point`, in `checkpoint` (`ProvableStream`).
    func provableStream(of orgID: String, at point: TimeTravel.Point, naming user: UserID, in checkpoint: SignedCheckpoint) async throws -> ProvableStream
}

extension Ledger {
    public var acceptsCommands: Bool { true }
    public func maintain() async {}
}

/// The log's last event.
public final class LedgerHead: Sendable {
    public let seq: UInt64
    public let hash: ChainHash

    public init(seq: UInt64, hash: ChainHash) {
        self.seq = seq
        self.hash = hash
    }
}

/// A view row with the version of the org it belongs to (the `ETag` of the read).
public final class VersionedRow: Sendable {
    public let row: [UInt8]
    public let version: UInt64

    public init(row: [UInt8], version: UInt64) {
        self.row = row
        self.version = version
    }
}

/// What page of a list to read: the rows after `after` (exclusive), at most `limit` (at least 1).
public struct PageRequest<Cursor: Sendable & Hashable>: Sendable, Hashable {
    public let after: Cursor?
    public let limit: Int

    public init(after: Cursor? = nil, limit: Int) {
        self.after = after
        self.limit = limit
    }
}

/// One page of view rows: `next` is the cursor of the following page (as the API spells it), nil on
/// the last; `version` the org's version when the list belongs to one org.
public final class RowPage: Sendable {
    public let rows: [[UInt8]]
    public let next: String?
    public let version: UInt64?

    public init(rows: [[UInt8]], next: String?, version: UInt64?) {
        self.rows = rows
        self.next = next
        self.version = version
    }
}

/// Where an invitation page starts after: the last row's `sent_at` and `id`. Spelled `<ms>.<id>`.
public struct InvitationCursor: Sendable, Hashable, CustomStringConvertible {
    public let sentAt: Timestamp
    public let id: String

    public init(sentAt: Timestamp, id: String) {
        self.sentAt = sentAt
        self.id = id
    }

    /// Reads the API's spelling; nil for anything that is not a cursor of this shape.
    public init?(_ text: String) {
        let parts = text.split(separator: ".", maxSplits: 1)
        guard parts.count == 2, let ms = Int64(parts[0]), ResourceID.isWellFormed(String(parts[1]), prefix: "inv") else { return nil }
        self.init(sentAt: Timestamp(millisecondsSinceEpoch: ms), id: String(parts[1]))
    }

    public var description: String { "\(sentAt.millisecondsSinceEpoch).\(id)" }
}

/// The member-list filters (`?role=&status=`).
public struct MemberFilter: Sendable, Hashable {
    public var role: Role?
    public var status: MemberStatus?

    public init(role: Role? = nil, status: MemberStatus? = nil) {
        self.role = role
        self.status = status
    }

    public var takesAll: Bool { role == nil && status == nil }

    public func accepts(role: Role, status: MemberStatus) -> Bool {
        (self.role == nil || self.role == role) && (self.status == nil || self.status == status)
    }
}

/// A secret that verifies: the key and its org.
public final class VerifiedKey: Sendable {
    public let orgID: String
    public let handle: String
    public let keyID: String
    public let role: Role

    public init(orgID: String, handle: String, keyID: String, role: Role) {
        self.orgID = orgID
        self.handle = handle
        self.keyID = keyID
        self.role = role
    }
}

/// One audit trail entry and its full row (`{action, actor, at, data, meta, seq, target}`).
public typealias AuditRecord = (entry: AuditEntry, row: [UInt8])

/// A run of export lines and where it ended.
public final class EventLines: Sendable {
    /// NDJSON: one envelope (with its hash) per line.
    public let bytes: [UInt8]
    /// The seq of the last line (the `after` given when there is none).
    public let lastSeq: UInt64
    /// Whether more events follow.
    public let more: Bool

    public init(bytes: [UInt8], lastSeq: UInt64, more: Bool) {
        self.bytes = bytes
        self.lastSeq = lastSeq
        self.more = more
    }
}

/// A failure of the storage itself (never of the request): the disk is full, an I/O error, stored
/// data that cannot be read. The service answers 507 for `.storageFull`, 503 for `.io` and
/// `.notWriter`, 500 for `.corrupt`.
public struct LedgerError: Error, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// No room to commit; nothing was written. Reads keep working.
        case storageFull = "storage_full"
        /// The storage could not be read or written.
        case io
        /// Stored data is not what this version wrote (a damaged file, a broken index).
        case corrupt
        /// This instance does not write now (another instance of the ledger does, or none yet); nothing
        /// was written. Commands go to the writer, or here again once it has taken over.
        case notWriter = "not_writer"
    }

    public let code: Code
    public let message: String
    /// The backend's own error.
    public let cause: (any Error)?

    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String {
        cause.map { "\(code.rawValue): \(message) (\($0))" } ?? "\(code.rawValue): \(message)"
    }
}
