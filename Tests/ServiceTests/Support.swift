import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Ledger
import LedgerCore
import LedgerLMDB
import LedgerPostgres
import LedgerTestSupport
import NIOCore
import Service
import Synchronization
import Testing

let t0 = Timestamp(rfc3339: "2026-11-27T12:00:00.000Z")!

/// A clock the tests move.
final class TestClock: Sendable {
    private let value = Mutex(t0)
    var now: Timestamp { value.withLock { $0 } }
    func advance(days: Int) { value.withLock { $0 = $0.adding(days: days) } }
}

/// The backends the route tests run on: the same tests, through the `Ledger` seam, on each.
enum Backend: String, CaseIterable, Sendable {
    case lmdb, postgres
}

/// The API over a ledger — LMDB in a temporary folder, or PostgreSQL in a database of its own —
/// driven in process (`app.test(.router)`): no socket, no binary, the same router and middleware the
/// server answers with.
final class APIFixture: Sendable {
    let folder: String
    let ledger: any Ledger
    let clock = TestClock()
    let api: LedgerAPI
    private let database: TestDatabase?

    init(_ backend: Backend = .lmdb) async throws {
        folder = NSTemporaryDirectory() + "orgledger-api-" + UUID().uuidString
        switch backend {
        case .lmdb:
            ledger = try LMDBLedger(path: folder)
            database = nil
        case .postgres:
            let database = try await TestDatabase.make()
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            ledger = try await PostgresLedger.open(database.location, instanceKeyPath: folder + "/instance.key")
            self.database = database
        }
        let clock = self.clock
        api = LedgerAPI(ledger: ledger, clock: { clock.now })
    }

    /// Closes the ledger; a test's database is dropped after (or with the test server's cluster).
    func close() {
        ledger.close()
        try? FileManager.default.removeItem(atPath: folder)
        if let database { Task { await database.drop() } }
    }

    /// Runs `body` with a client of the in-process router.
    func withClient(_ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let app = Application(router: OrgLedgerServer.router(api))
        try await app.test(.router) { client in try await body(client) }
    }
}

/// One answer: status, headers and the body parsed as JSON (null when it is not JSON).
struct Answer: Sendable {
    let status: HTTPResponse.Status
    let headers: HTTPFields
    let body: JSONValue
    let text: String

    subscript(_ key: String) -> JSONValue? { body[key] }
    /// `reason` of a problem document.
    var reason: String? { body["reason"]?.stringValue }
}

extension TestClientProtocol {
    /// Sends a request as `actor` (the `X-Actor` header) with an optional JSON body.
    func send(
        _ method: HTTPRequest.Method, _ uri: String, as actor: String? = nil, json: String? = nil, headers extra: HTTPFields = [:]
    ) async throws -> Answer {
        var headers = extra
        if let actor { headers[HTTPField.Name("X-Actor")!] = actor }
        if json != nil { headers[.contentType] = "application/json" }
        return try await execute(uri: uri, method: method, headers: headers, body: json.map { ByteBuffer(string: $0) }) { response in
            let text = String(buffer: response.body)
            return Answer(status: response.status, headers: response.headers, body: (try? JSONParser.parse(Array(text.utf8))) ?? .null, text: text)
        }
    }
}

let owner = "owner@example.com"

extension TestClientProtocol {
    /// Creates an org owned by `owner`; its id.
    func createOrg(_ handle: String, by actor: String = owner) async throws -> String {
        let answer = try await send(.post, "/v1/orgs", as: actor, json: #"{"handle":"\#(handle)","display_name":"Org \#(handle)"}"#)
        guard answer.status == .created, let id = answer["id"]?.stringValue else {
            Issue.record("create org \(handle): \(answer.status) \(answer.text)")
            return ""
        }
        return id
    }

    /// Invites `email` into `org` as `role` and has them accept; the answer of the accept.
    @discardableResult
    func addMember(_ email: String, role: String, to org: String, by actor: String = owner) async throws -> Answer {
        let sent = try await send(.post, "/v1/orgs/\(org)/invitations", as: actor, json: #"{"emails":["\#(email)"],"role":"\#(role)"}"#)
        guard sent.status == .created, let id = sent["invitations"]?.arrayValue?.first?["id"]?.stringValue else {
            Issue.record("invite \(email): \(sent.status) \(sent.text)")
            return sent
        }
        return try await send(.post, "/v1/invitations/\(id)/accept", as: email)
    }
}
