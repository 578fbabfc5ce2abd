import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Ledger
import LedgerCore
import NIOCore
import OrgDomain

/// The HTTP/JSON API of product spec §5 over a `Ledger`. Every route lives in `Routes/`; this file
/// holds what they share: resolving `{org}`, the caller's standing, running a command, ids and clock.
public struct LedgerAPI: Sendable {
    public let ledger: any Ledger
    public let clock: @Sendable () -> Timestamp
    public let metrics: APIMetrics
    /// Who may call `/v1/admin/…` (`serve --operator`).
    public let operators: Set<Email>
    /// Whether commands record the client's IP and user agent (checked either way).
    public let recordsRequestContext: Bool

    public init(
        ledger: any Ledger, clock: @escaping @Sendable () -> Timestamp = SystemClock.now, metrics: APIMetrics = APIMetrics(), operators: Set<Email> = [],
        recordsRequestContext: Bool = true
    ) {
        self.ledger = ledger
        self.clock = clock
        self.metrics = metrics
        self.operators = operators
        self.recordsRequestContext = recordsRequestContext
    }

    /// Registers every route of the API.
    public func register(on router: Router<BasicRequestContext>) {
        registerOrgRoutes(on: router)
        registerMemberRoutes(on: router)
        registerInvitationRoutes(on: router)
        registerAPIKeyRoutes(on: router)
        registerAuditAndLogRoutes(on: router)
        registerAccountRoutes(on: router)
        registerSCIMRoutes(on: router)
        registerEvidenceRoutes(on: router)
    }

    // MARK: {org}

    /// `{org}` is an org id (`org_…`) or a handle. A former handle still held answers 308 to the same
    /// path with the current handle; an unknown one 404.
    func resolveOrg(_ raw: String, request: Request) async throws -> String {
        if raw.hasPrefix("org_") {
            guard ResourceID.isWellFormed(raw, prefix: "org") else { throw APIError.notFound("no org '\(raw)'") }
            return raw
        }
        guard case .success(let handle) = Handle.parse(raw) else { throw APIError.notFound("no org '\(raw)'") }
        let now = clock()
        var found: (String, String?)?
        if let claim = try await ledger.handleClaim(handle) {
            if claim.heldUntil == nil {
                found = (claim.orgID, nil)
            } else if let until = claim.heldUntil, until > now, let row = try await ledger.org(claim.orgID), let current = Reply.value(row)["handle"]?.stringValue {
                found = (claim.orgID, current)
            }
        }
        guard let (orgID, moved) = found else { throw APIError.notFound("no org '\(raw)'") }
        if let moved {
            // `{org}` is the fourth segment of every `/v1/orgs/{org}…` path; replace that segment as sent
            // (it may be percent-encoded), not a search for the decoded text.
            var segments = request.uri.path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            if segments.count > 3 { segments[3] = moved }
            var path = segments.joined(separator: "/")
            if let query = request.uri.query { path += "?" + query }
            throw APIError(.permanentRedirect, reason: "handle_moved", detail: "'\(raw)' is now '\(moved)'", headers: [.location: path])
        }
        return orgID
    }

    /// The actor (required) and the org named by the path's `{org}`.
    func actorAndOrg(_ request: Request, _ context: BasicRequestContext) async throws -> (Email, String) {
        let actor = try request.actor()
        return (actor, try await resolveOrg(try context.segment("org"), request: request))
    }

    /// `{email}` of a member path, percent-decoded and normalized (400 if it is no email).
    func memberEmail(_ context: BasicRequestContext) throws -> Email {
        switch Email.parse(try context.segment("email")) {
        case .success(let email): return email
        case .failure(let error): throw APIError.invalid([error])
        }
    }

    /// `{id}` of an invitation or key path: an id of the service's own shape, or 404 before any lookup.
    func resourceID(_ context: BasicRequestContext, prefix: String, kind: String) throws -> String {
        let id = try context.segment("id")
        guard ResourceID.isWellFormed(id, prefix: prefix) else { throw APIError.notFound("no \(kind) '\(id)'") }
        return id
    }

    /// The org's row, or 404 (also for purged orgs).
    func orgRow(_ orgID: String) async throws -> [UInt8] {
        guard let row = try await ledger.org(orgID) else { throw APIError.notFound("no such org") }
        return row
    }

    /// Checks that the actor may read `action` of the org: 401 without actor, 404 for an unknown org,
    /// 403 unless the matrix allows it.
    func requireRead(_ action: Action, orgID: String, actor: Email) async throws {
        let person = try await actingPerson(actor)
        guard let standing = try await ledger.standing(of: person?.id, in: orgID) else { throw APIError.notFound("no such org") }
        guard Permissions.allows(standing, action) else {
            switch standing {
            case .suspended: throw APIError(Refusal(.suspended, "a suspended member can do nothing"))
            case .nonMember, .anonymous: throw APIError(Refusal(.notAMember, "not a member of this org"))
            case .active: throw APIError(Refusal(.notPermitted, "your role may not \(action.rawValue.replacingOccurrences(of: "_", with: " "))"))
            }
        }
    }

    /// The actor's user (nil for an email the ledger does not know), whose account may read and act on
    /// orgs: one pending deletion or awaiting activation reads only `/v1/me` (product spec §7).
    func actingPerson(_ actor: Email) async throws -> Person? {
        let person = try await ledger.person(actor)
        if let person {
            do { try UserRules.requireMayActOnOrgs(person.status) } catch { throw APIError(error) }
        }
        return person
    }

    // MARK: Paging

    /// `?limit=` for lists: 1–1000 by default, 100 when absent.
    func pageLimit(_ request: Request, default value: Int = 100, maximum: Int = 1000) throws -> Int {
        guard let raw = request.query("limit") else { return value }
        guard let limit = Int(raw), (1...maximum).contains(limit) else { throw APIError.invalid("limit", "must be between 1 and \(maximum)") }
        return limit
    }

    /// One page of view rows as `{"<key>": [...], "next_cursor": …}`, with the org version as `ETag`
    /// and, while more follow, `Link: rel="next"` keeping every other query parameter.
    func pageReply(_ request: Request, key: StaticString, _ page: RowPage) -> Response {
        var headers: HTTPFields = [:]
        if let version = page.version { headers[.eTag] = "\"\(version)\"" }
        if let next = page.next { headers.append(contentsOf: request.nextLink("cursor", next)) }
        return Reply.page(key, rows: page.rows, nextCursor: page.next, headers: headers)
    }

    /// `?limit=` (1–1000, default 100) and `?cursor=` of a list keyed by ids of one shape (the id of the
    /// last row of the previous page, `idPrefix_…`; anything else is 400).
    func idPage(_ request: Request, idPrefix: String) throws -> PageRequest<String> {
        let limit = try pageLimit(request)
        guard let cursor = request.query("cursor") else { return PageRequest(limit: limit) }
        guard ResourceID.isWellFormed(cursor, prefix: idPrefix) else { throw APIError.invalid("cursor", "is not a cursor from this API") }
        return PageRequest(after: cursor, limit: limit)
    }

    // MARK: Commands

    /// Runs a command and answers it: `render` turns the applied outcome into a status and body, once,
    /// inside the ledger's transaction: the same bytes are the response and, with an `Idempotency-Key`,
    /// the response kept for replays. Handles If-Match (412), Idempotency-Key (the first response again
    /// within 24 h), refusals (problem documents) and a full disk (507).
    func execute(
        _ request: Request, body requestBody: Body? = nil, target: OrgRef, command: Command, actor: Email?,
        keepSecretsOutOfReplay: Bool = false,
        render: @escaping @Sendable (_ orgID: String, _ events: [AppliedEvent], _ state: OrgState?, _ people: People) -> (HTTPResponse.Status, JSONValue)
    ) async throws -> Response {
        let meta = try request.meta(recordingContext: recordsRequestContext)
        let now = clock()
        let commandRequest = CommandRequest(target: target, command: command, actor: actor, now: now, ifMatch: try request.ifMatch(), meta: meta)
        let respond: RenderApplied = { orgID, events, state, people in
            let (status, body) = render(orgID, events, state, people)
            return StoredResponse(status: Int(status.code), body: (try? CanonicalJSON.encode(body)) ?? [], at: now, etag: state?.version)
        }
        let idempotency = meta.idempotencyKey.map { key in
            Idempotency(key: key, fingerprint: Self.fingerprint(request, requestBody)) { outcome in
                Self.keptForReplay(outcome, at: now, keepSecretsOutOfReplay: keepSecretsOutOfReplay)
            }
        }
        // A storage failure (LedgerError) goes on to ProblemMiddleware, which logs and answers it.
        return try answer(try await ledger.execute(commandRequest, render: respond, idempotency: idempotency))
    }

    /// Runs a command on a user's account (`/v1/me`, `/v1/admin/users/{email}/activate`) and answers it
    /// with the account's row after it, as `execute` answers org commands.
    func executeOnAccount(
        _ request: Request, body requestBody: Body? = nil, account: Email, command: UserCommand, actor: Email, actorIsOperator: Bool = false,
        status: HTTPResponse.Status = .ok
    ) async throws -> Response {
        let meta = try request.meta(recordingContext: recordsRequestContext)
        let now = clock()
        let commandRequest = UserCommandRequest(account: account, command: command, actor: actor, actorIsOperator: actorIsOperator, now: now, meta: meta)
        let respond: RenderUserApplied = { row in StoredResponse(status: Int(status.code), body: row ?? Array("null".utf8), at: now) }
        let idempotency = meta.idempotencyKey.map { key in
            Idempotency(key: key, fingerprint: Self.fingerprint(request, requestBody)) { outcome in
                Self.keptForReplay(outcome, at: now, keepSecretsOutOfReplay: false)
            }
        }
        return try answer(try await ledger.execute(commandRequest, render: respond, idempotency: idempotency))
    }

    /// The response to a command's outcome: the rendered answer, a replay, or a problem document.
    private func answer(_ outcome: CommandOutcome) throws -> Response {
        metrics.command(outcome)
        switch outcome {
        case .applied(_, _, let response):
            return Reply.raw(HTTPResponse.Status(code: response.status), response.body, etag: response.etag)
        case .refused(let refusal):
            throw APIError(refusal)
        case .versionMismatch(let current):
            throw APIError(.preconditionFailed, reason: "version_mismatch", detail: "If-Match names another version; the org is at version \(current)", headers: [.eTag: "\"\(current)\""])
        case .replayed(let stored):
            var reply = Reply.raw(HTTPResponse.Status(code: stored.status), stored.body, etag: stored.etag, headers: [.idempotentReplayed: "true"])
            if stored.status >= 400 { reply.headers[.contentType] = "application/problem+json" }
            return reply
        case .idempotencyKeyReused:
            throw APIError(.unprocessableContent, reason: "idempotency_key_reused",
                detail: "this Idempotency-Key was used within 24 hours for another request (method, path or body differ); nothing was written. Use a new key for a new request.")
        }
    }

    /// The response kept for an idempotency key. A refusal is the first response too, and is replayed as
    /// one. A version mismatch is not kept: it answers the If-Match header, which is not part of the
    /// request's fingerprint. A secret is shown once and never stored, not even for a replay.
    static func keptForReplay(_ outcome: CommandOutcome, at now: Timestamp, keepSecretsOutOfReplay: Bool) -> StoredResponse? {
        switch outcome {
        case .refused(let refusal):
            let problem = APIError(refusal)
            return StoredResponse(status: Int(problem.status.code), body: problem.body, at: now)
        case .applied(_, _, let response):
            guard keepSecretsOutOfReplay, case .object(var members) = Reply.value(response.body) else { return response }
            members["secret"] = .null
            members["secret_redacted"] = true
            return StoredResponse(status: response.status, body: (try? CanonicalJSON.encode(.object(members))) ?? [], at: response.at, etag: response.etag)
        case .versionMismatch, .replayed, .idempotencyKeyReused:
            return nil
        }
    }

    /// What makes a request the same request for `Idempotency-Key`: SHA-256 of the method, the path and
    /// query as sent, and the body's canonical JSON (so key order and white space do not matter).
    static func fingerprint(_ request: Request, _ body: Body?) -> [UInt8] {
        var material = Array(request.method.rawValue.utf8) + [0] + Array(request.uri.description.utf8) + [0]
        if let body { material += (try? CanonicalJSON.encode(.object(body.members))) ?? [] }
        return Array(SHA256.hash(data: material))
    }

    // MARK: Ids and secrets

    static func newID(_ prefix: String) -> String { ResourceIDs.make(prefix) }

    /// An API key secret: `olk_` + 52 base32 characters (256 random bits).
    static func newSecret() -> String {
        "olk_" + ResourceIDs.base32(SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) })
    }

    static func sha256Hex(_ text: String) -> String {
        SHA256.hash(data: Array(text.utf8)).map { String(format: "%02x", $0) }.joined()
    }

}

/// The system clock, read once per request. (`faketime` moves it in the end-to-end tests.)
public enum SystemClock {
    @Sendable public static func now() -> Timestamp {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Timestamp(millisecondsSinceEpoch: Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000)
    }
}
