import Foundation
import HTTPTypes
import NIOCore
import Hummingbird
import LedgerCore
import OrgDomain
import Projections

extension LedgerAPI {
    func registerMemberRoutes(on router: Router<BasicRequestContext>) {
        // The member list: ?as_of=&role=&status=&limit=&cursor= (cursor = the last email of the previous
        // page). Rows are in byte order of the normalized email, as LMDB keeps them, and the cursor is
        // compared as bytes: a page never skips or repeats a member.
        router.get("/v1/orgs/:org/members") { request, context in
            try await answer {
                let (actor, orgID) = try actorAndOrg(request, context)
                try requireRead(.readMembers, orgID: orgID, actor: actor)
                let limit = try pageLimit(request)
                let role = request.query("role"), status = request.query("status"), cursor = request.query("cursor")
                if let role, Role(rawValue: role) == nil { throw APIError.invalid("role", "is not a role") }
                if let status, MemberStatus(rawValue: status) == nil { throw APIError.invalid("status", "must be active or suspended") }
                if let cursor, cursor.utf8.count > Email.maximumBytes { throw APIError.invalid("cursor", "is not a cursor from this API") }
                let accepts: @Sendable ([UInt8]) -> Bool = { bytes in
                    guard role != nil || status != nil else { return true }
                    let row = Reply.value(bytes)
                    return (role == nil || row["role"]?.stringValue == role) && (status == nil || row["status"]?.stringValue == status)
                }
                let page: MemberPage
                if let asOf = request.query("as_of") {
                    guard let state = try await stateAsOf(orgID, asOf) else { throw APIError.notFound("the org did not exist then") }
                    let members = state.members.values.sorted { $0.email < $1.email }
                        .lazy.filter { cursor == nil || cursor!.utf8.lexicographicallyPrecedes($0.email.value.utf8) }
                        .map(Render.memberRow).filter(accepts)
                    page = MemberPage(rows: Array(members.prefix(limit + 1)), version: state.version)
                } else {
                    page = try await scan { txn in
                        let rows = try Queries.memberRows(orgID, after: cursor, limit: limit + 1, where: accepts, tables: tables, in: txn)
                        return MemberPage(rows: rows, version: try Queries.orgVersion(orgID, tables: tables, in: txn) ?? 0)
                    }
                }
                let rows = page.rows.prefix(limit)
                let next = page.rows.count > limit ? rows.last.flatMap { Reply.value($0)["email"]?.stringValue } : nil
                return pageReply(request, key: "members", rows: rows, next: next, version: page.version)
            }
        }

        router.get("/v1/orgs/:org/members/:email") { request, context in
            try await answer {
                let (actor, orgID) = try actorAndOrg(request, context)
                try requireRead(.readMembers, orgID: orgID, actor: actor)
                let email = try memberEmail(context)
                if let asOf = request.query("as_of") {
                    guard let state = try await stateAsOf(orgID, asOf), let member = state.members[email] else { throw APIError.notFound("\(email) was not a member then") }
                    return Reply.raw(.ok, Render.memberRow(member), etag: state.version)
                }
                let found = try read { txn in
                    (try Queries.memberRow(orgID, email.value, tables: tables, in: txn), try Queries.orgVersion(orgID, tables: tables, in: txn))
                }
                guard let row = found.0 else { throw APIError.notFound("\(email) is not a member") }
                return Reply.raw(.ok, row, etag: found.1)
            }
        }

        router.put("/v1/orgs/:org/members/:email/role") { request, context in
            try await answer {
                let (actor, orgID) = try actorAndOrg(request, context)
                var body = Body(try await request.jsonObject(), allowed: ["role"])
                let role = body.string("role")
                try body.check()
                let email = try memberEmail(context)
                return try await execute(request, body: body, target: .id(orgID), command: .changeRole(email: email.value, role: role!), actor: actor) { _, _, state in
                    (.ok, memberJSON(state, email))
                }
            }
        }

        for (path, make) in [("suspend", Command.suspend), ("reinstate", Command.reinstate)] as [(String, @Sendable (String) -> Command)] {
            router.post("/v1/orgs/:org/members/:email/\(path)") { request, context in
                try await answer {
                    let (actor, orgID) = try actorAndOrg(request, context)
                    let email = try memberEmail(context)
                    return try await execute(request, target: .id(orgID), command: make(email.value), actor: actor) { _, _, state in
                        (.ok, memberJSON(state, email))
                    }
                }
            }
        }

        // Remove a member; removing oneself is leaving.
        router.delete("/v1/orgs/:org/members/:email") { request, context in
            try await answer {
                let (actor, orgID) = try actorAndOrg(request, context)
                let email = try memberEmail(context)
                return try await execute(request, target: .id(orgID), command: .remove(email: email.value), actor: actor) { _, events, _ in
                    (.ok, ["removed": .string(email.value), "event": .string(events.first?.envelope.type ?? "")])
                }
            }
        }
    }

    /// A page of member rows (one more than asked for, to tell whether another page follows) and the
    /// org version they were read at (the ETag).
    struct MemberPage: Sendable {
        let rows: [[UInt8]]
        let version: UInt64
    }

    func memberJSON(_ state: OrgState?, _ email: Email) -> JSONValue {
        guard let member = state?.members[email] else { return .null }
        return Reply.value(Render.memberRow(member))
    }
}
