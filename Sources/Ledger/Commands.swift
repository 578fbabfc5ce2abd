import LedgerCore
import OrgDomain

/// Which org a command is about, as the caller named it.
public enum OrgRef: Sendable, Hashable {
    /// A new org with this (fresh) id.
    case new(String)
    case id(String)
    /// A current handle. A former, held handle is the caller's to redirect (308) before submitting.
    case handle(String)
    /// The org of an invitation (accept and decline name only the invitation).
    case invitation(String)
}

public struct CommandRequest: Sendable {
    public var target: OrgRef
    public var command: Command
    /// Who acts, as `X-Actor` named them (nil: nobody, 401). The ledger resolves the email to a user in
    /// the command's transaction, making the user if the command succeeds (product spec §7).
    public var actor: Email?
    /// The time the command is decided at (read once from the clock by the caller).
    public var now: Timestamp
    /// `If-Match`: the org version the caller saw; a different current version refuses with 412.
    public var ifMatch: UInt64?
    public var meta: EventMeta
    /// The org API key the command acts through (SCIM, product spec §10) instead of `actor`: the key's
    /// creator is recorded as the actor, its role decides, and it must verify in the command's own
    /// transaction. Recorded as `meta.via = "scim"` and `meta.api_key_id`.
    public var apiKey: String?

    public init(target: OrgRef, command: Command, actor: Email?, now: Timestamp, ifMatch: UInt64? = nil, meta: EventMeta = EventMeta()) {
        self.target = target
        self.command = command
        self.actor = actor
        self.now = now
        self.ifMatch = ifMatch
        self.meta = meta
    }

    /// A command through an org API key (SCIM).
    public init(target: OrgRef, command: Command, apiKey: String, now: Timestamp, ifMatch: UInt64? = nil, meta: EventMeta = EventMeta()) {
        self.init(target: target, command: command, actor: nil, now: now, ifMatch: ifMatch, meta: meta)
        self.apiKey = apiKey
        self.meta.via = .scim(apiKeyID: apiKey)
    }
}

/// A command on a user's account (`/v1/me`, `/v1/admin/users/{email}/activate`).
public struct UserCommandRequest: Sendable {
    /// The account: the actor's own, or (for `activate`) the one an operator names.
    public var account: Email
    public var command: UserCommand
    public var actor: Email?
    /// Whether the actor is one of the service's operators.
    public var actorIsOperator: Bool
    public var now: Timestamp
    public var meta: EventMeta

    public init(account: Email, command: UserCommand, actor: Email?, actorIsOperator: Bool = false, now: Timestamp, meta: EventMeta = EventMeta()) {
        self.account = account
        self.command = command
        self.actor = actor
        self.actorIsOperator = actorIsOperator
        self.now = now
        self.meta = meta
    }
}

/// One event a command appended: the domain event (so no caller parses an envelope back), and where
/// the log put it.
public struct AppliedEvent: Sendable, Hashable {
    public let event: OrgEvent
    public let seq: UInt64
    public let hash: ChainHash

    public init(event: OrgEvent, seq: UInt64, hash: ChainHash) {
        self.event = event
        self.seq = seq
        self.hash = hash
    }
}

/// How the caller answers an applied command, rendered inside the command's transaction from the state
/// it produced. The state itself never leaves the ledger: a copy held by a caller still answering would
/// make the next command on that org copy its member and invitation tables before changing them.
public typealias RenderApplied = @Sendable (_ orgID: String, _ events: [AppliedEvent], _ state: OrgState?, _ people: People) -> StoredResponse

/// How the caller answers an applied user command: from the account's row (`users` view, people
/// resolved) after it.
public typealias RenderUserApplied = @Sendable (_ userRow: [UInt8]?) -> StoredResponse

public enum CommandOutcome: Sendable {
    /// Decided and durable. `events` is empty when the command changed nothing; `response` is what
    /// the request's `RenderApplied` made of it.
    case applied(orgID: String, events: [AppliedEvent], response: StoredResponse)
    case refused(Refusal)
    /// `If-Match` named another version; nothing was written.
    case versionMismatch(current: UInt64)
    /// The same actor sent the same idempotency key with the same request within 24 hours: the first
    /// response, again.
    case replayed(StoredResponse)
    /// The same actor sent the same idempotency key with a different request: refused, nothing written.
    case idempotencyKeyReused
}

/// A rendered response: the answer to an applied command, and what is kept for an idempotency key and
/// replayed as it was for 24 hours, to the same request only.
///
/// A class, so `CommandOutcome.replayed` carries one pointer: with this (five-field) value inline,
/// swiftc 6.3.1 mis-sized an async frame that held the outcome ("freed pointer was not the last
/// allocation" in the task allocator).
public final class StoredResponse: Sendable {
    public let status: Int
    public let body: [UInt8]
    public let at: Timestamp
    /// The `ETag` (org version) the response carries, if any.
    public let etag: UInt64?
    /// SHA-256 of the request it answered (`Idempotency.fingerprint`).
    public let fingerprint: [UInt8]

    public init(status: Int, body: [UInt8], at: Timestamp, etag: UInt64? = nil, fingerprint: [UInt8] = []) {
        self.status = status
        self.body = body
        self.at = at
        self.etag = etag
        self.fingerprint = fingerprint
    }

    public static let lifetimeMilliseconds: Int64 = 24 * 3_600_000

    /// The answer of a caller that needs none (tests, benchmarks, the due-event runner).
    public static let none = StoredResponse(status: 0, body: [], at: Timestamp(millisecondsSinceEpoch: 0))

    /// Whether it is still replayed at `now`.
    public func isLive(at now: Timestamp) -> Bool {
        now.millisecondsSinceEpoch - at.millisecondsSinceEpoch < Self.lifetimeMilliseconds
    }
}

/// An idempotency key, the request it stands for, and the response to keep for it.
public struct Idempotency: Sendable {
    public let key: String
    /// SHA-256 of what makes the request this request (the service hashes method, path and body): a
    /// key reused for another request is refused instead of answering with the first one's response.
    public let fingerprint: [UInt8]
    /// The response to keep for an outcome (the ledger adds the fingerprint), or nil to keep none: the
    /// applied command's response as rendered (less what must not be stored), or a refusal's.
    public let keep: @Sendable (CommandOutcome) -> StoredResponse?

    public init(key: String, fingerprint: [UInt8], keep: @escaping @Sendable (CommandOutcome) -> StoredResponse?) {
        self.key = key
        self.fingerprint = fingerprint
        self.keep = keep
    }
}
