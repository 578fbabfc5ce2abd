import Foundation
import HTTPTypes
import NIOCore
import Hummingbird
import Ledger
import LedgerCore
import OrgDomain

extension LedgerAPI {
    func registerAuditAndLogRoutes(on router: Router<BasicRequestContext>) {
        // The audit log, newest first: ?since=&until=&actor=&action=&target=&limit=&cursor=&format=json|ndjson|csv
        router.get("/v1/orgs/:org/audit") { request, context in
            let (actor, orgID) = try await actorAndOrg(request, context)
            try await requireRead(.readAuditLog, orgID: orgID, actor: actor)
            var errors: [FieldError] = []
            func time(_ name: String) -> Timestamp? {
                guard let raw = request.query(name) else { return nil }
                guard let t = Timestamp(rfc3339: raw) else { errors.append(FieldError(field: name, message: "must be an RFC 3339 time")); return nil }
                return t
            }
            // People are named by email and recorded by user id: an email resolves to its user (one who
            // does not exist matches nothing); anything else is compared as given.
            func recorded(_ raw: String?) async throws -> String? {
                guard let raw, case .success(let email) = Email.parse(raw) else { return raw }
                return try await ledger.person(email)?.id.value ?? "usr_nobody"
            }
            let filter = AuditFilter(
                actor: try await recorded(request.query("actor")), action: request.query("action"), target: try await recorded(request.query("target")),
                since: time("since"), until: time("until"))
            var before: UInt64 = 0
            if let cursor = request.query("cursor") {
                if let seq = UInt64(cursor), seq > 0 { before = seq } else { errors.append(FieldError(field: "cursor", message: "is not a cursor from this API")) }
            }
            let format = request.query("format") ?? "json"
            if !["json", "ndjson", "csv"].contains(format) { errors.append(FieldError(field: "format", message: "must be json, ndjson or csv")) }
            let limit = try pageLimit(request)
            if !errors.isEmpty { throw APIError.invalid(errors) }
            let page = try await ledger.audit(of: orgID, filter: filter, before: before, limit: limit + 1)
            let rows = page.prefix(limit)
            let next = page.count > limit ? rows.last.map { String($0.entry.seq) } : nil
            var headers: HTTPFields = [:]
            if let next { headers.append(contentsOf: request.nextLink("cursor", next)) }
            switch format {
            case "ndjson":
                headers[.contentType] = "application/x-ndjson"
                return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: AuditFormat.ndjson(Array(rows)))))
            case "csv":
                headers[.contentType] = "text/csv; charset=utf-8"
                return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: AuditFormat.csv(Array(rows)))))
            default:
                return Reply.page("events", rows: rows.map(\.row), nextCursor: next, headers: headers)
            }
        }

        // The raw log as NDJSON envelopes (with hash): ?after=&limit= (default 1000, at most 10000).
        router.get("/v1/events") { request, _ in
            var after: UInt64 = 0
            if let raw = request.query("after") {
                guard let value = UInt64(raw) else { throw APIError.invalid("after", "must be a seq") }
                after = value
            }
            let limit = try pageLimit(request, default: 1000, maximum: 10_000)
            let lines = try await ledger.events(after: after, limit: limit)
            var headers: HTTPFields = [.contentType: "application/x-ndjson"]
            if lines.more { headers.append(contentsOf: request.nextLink("after", String(lines.lastSeq))) }
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: lines.bytes)))
        }

        router.get("/v1/health") { _, _ in
            let head = try await ledger.head()
            return Reply.json([
                "status": "ok", "head_seq": .int(Int64(head.seq)), "head_hash": .string(head.hash.hex), "writes": .bool(ledger.acceptsCommands),
            ])
        }

        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(bytes: metrics.exposition())))
        }
    }
}

import Foundation
