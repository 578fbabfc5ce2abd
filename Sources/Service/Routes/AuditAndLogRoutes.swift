import Foundation
import HTTPTypes
import NIOCore
import Hummingbird
import LedgerCore
import OrgDomain
import Projections

extension LedgerAPI {
    func registerAuditAndLogRoutes(on router: Router<BasicRequestContext>) {
        // The audit log, newest first: ?since=&until=&actor=&action=&target=&limit=&cursor=&format=json|ndjson|csv
        router.get("/v1/orgs/:org/audit") { request, context in
            try await answer {
                let (actor, orgID) = try actorAndOrg(request, context)
                try requireRead(.readAuditLog, orgID: orgID, actor: actor)
                var errors: [FieldError] = []
                func time(_ name: String) -> Timestamp? {
                    guard let raw = request.query(name) else { return nil }
                    guard let t = Timestamp(rfc3339: raw) else { errors.append(FieldError(field: name, message: "must be an RFC 3339 time")); return nil }
                    return t
                }
                let filter = AuditFilter(actor: request.query("actor"), action: request.query("action"), target: request.query("target"), since: time("since"), until: time("until"))
                var before: UInt64 = 0
                if let cursor = request.query("cursor") {
                    if let seq = UInt64(cursor), seq > 0 { before = seq } else { errors.append(FieldError(field: "cursor", message: "is not a cursor from this API")) }
                }
                let format = request.query("format") ?? "json"
                if !["json", "ndjson", "csv"].contains(format) { errors.append(FieldError(field: "format", message: "must be json, ndjson or csv")) }
                let limit = try pageLimit(request)
                if !errors.isEmpty { throw APIError.invalid(errors) }
                let start = before
                let page = try await scan { txn in try Queries.audit(orgID, before: start, limit: limit + 1, filter: filter, tables: tables, in: txn) }
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
        }

        // The raw log as NDJSON envelopes (with hash): ?after=&limit= (default 1000, at most 10000).
        router.get("/v1/events") { request, _ in
            try await answer {
                var after: UInt64 = 0
                if let raw = request.query("after") {
                    guard let value = UInt64(raw) else { throw APIError.invalid("after", "must be a seq") }
                    after = value
                }
                let limit = try pageLimit(request, default: 1000, maximum: 10_000)
                let start = after
                // One more than the page, to tell whether another follows (then `Link: rel="next"`).
                let (lines, lastSeq, more) = try await scan { txn in
                    var out: [UInt8] = []
                    var count = 0, last: UInt64 = start, more = false
                    try tables.log.forEachEvent(after: start, in: txn) { seq, hash, bytes in
                        guard count < limit else { more = true; return false }
                        out += try EventEnvelope.exportLine(stored: bytes, hash: hash)
                        out.append(UInt8(ascii: "\n"))
                        count += 1
                        last = seq
                        return true
                    }
                    return (out, last, more)
                }
                var headers: HTTPFields = [.contentType: "application/x-ndjson"]
                if more { headers.append(contentsOf: request.nextLink("after", String(lastSeq))) }
                return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: lines)))
            }
        }

        router.get("/v1/health") { _, _ in
            try await answer {
                let head = try read { txn in try tables.log.head(in: txn) }
                return Reply.json(["status": "ok", "head_seq": .int(Int64(head.seq)), "head_hash": .string(head.hash.hex)])
            }
        }

        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(bytes: metrics.exposition())))
        }
    }
}

import Foundation
