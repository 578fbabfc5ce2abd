import Foundation
import HTTPTypes
import NIOCore
import Hummingbird
import LedgerCore
import OrgDomain
import Projections

extension LedgerAPI {
    func registerMemberRoutes(on router: Router<BasicRequestContext>) {
        // The member list: ?as_of=&role=&status=&limit=&cursor= (cursor = the last email of the previous page).
        router.get("/v1/orgs/:org/members") { request, context in
            try await answer {
                let (actor, orgID) = try actorAndOrg(request, context)
                try requireRead(.readMembers, orgID: orgID, actor: actor)
                let limit = try pageLimit(request)
                let role = request.query("role"), status = request.query("status"), cursor = request.query("cursor")
                if let role, Role(rawValue: role) == nil { throw APIError.invalid("role", "is not a role") }
                if let status, MemberStatus(rawValue: status) == nil { throw APIError.invalid("status", "must be active or suspended") }
                var rows: [[UInt8]]
                if let asOf = request.query("as_of") {
                    let state = try stateAsOf(orgID, asOf)
                    rows = (state?.members.values.sorted { $0.email < $1.email } ?? []).map(Render.memberRow)
                } else {
                    rows = try read { txn in try Queries.memberRows(orgID, tables: tables, in: txn) }
                }
                if role != nil || status != nil || cursor != nil {
                    rows = rows.filter { bytes in
                        let row = Reply.value(bytes)
                        return (role == nil || row["role"]?.stringValue == role) && (status == nil || row["status"]?.stringValue == status)
                            && (cursor == nil || (row["email"]?.stringValue ?? "") > cursor!)
                    }
                }
                let page = rows.prefix(limit)
                let next = rows.count > limit ? page.last.flatMap { Reply.value($0)["email"]?.stringValue } : nil
                return Reply.page("members", rows: page, nextCursor: next)
            }
        }

        router.get("/v1/orgs/:org/members/:email") { request, context in
            try await answer {
                let (actor, orgID) = try actorAndOrg(request, context)
                try requireRead(.readMembers, orgID: orgID, actor: actor)
                guard case .success(let email) = Email.parse(context.parameters.get("email")!) else { throw APIError.notFound("no such member") }
                if let asOf = request.query("as_of") {
                    guard let member = try stateAsOf(orgID, asOf)?.members[email] else { throw APIError.notFound("\(email) was not a member then") }
                    return Reply.json(Reply.value(Render.memberRow(member)))
                }
                guard let row = try read({ txn in try Queries.memberRow(orgID, email.value, tables: tables, in: txn) }) else {
                    throw APIError.notFound("\(email) is not a member")
                }
                return Reply.raw(.ok, row)
            }
        }

        router.put("/v1/orgs/:org/members/:email/role") { request, context in
            try await answer {
                let (actor, orgID) = try actorAndOrg(request, context)
                var body = Body(try await request.jsonObject(), allowed: ["role"])
                let role = body.string("role")
                try body.check()
                let email = context.parameters.get("email")!
                return try await execute(request, target: .id(orgID), command: .changeRole(email: email, role: role!), actor: actor) { _, _, state in
                    (.ok, memberJSON(state, email))
                }
            }
        }

        for (path, make) in [("suspend", Command.suspend), ("reinstate", Command.reinstate)] as [(String, @Sendable (String) -> Command)] {
            router.post("/v1/orgs/:org/members/:email/\(path)") { request, context in
                try await answer {
                    let (actor, orgID) = try actorAndOrg(request, context)
                    let email = context.parameters.get("email")!
                    return try await execute(request, target: .id(orgID), command: make(email), actor: actor) { _, _, state in
                        (.ok, memberJSON(state, email))
                    }
                }
            }
        }

        // Remove a member; removing oneself is leaving.
        router.delete("/v1/orgs/:org/members/:email") { request, context in
            try await answer {
                let (actor, orgID) = try actorAndOrg(request, context)
                let email = context.parameters.get("email")!
                return try await execute(request, target: .id(orgID), command: .remove(email: email), actor: actor) { _, events, _ in
                    (.ok, ["removed": .string(email.lowercased()), "event": .string(events.first?.envelope.type ?? "")])
                }
            }
        }
    }

    func memberJSON(_ state: OrgState?, _ rawEmail: String) -> JSONValue {
        guard case .success(let email) = Email.parse(rawEmail), let member = state?.members[email] else { return .null }
        return Reply.value(Render.memberRow(member))
    }

    /// `?limit=` for lists: 1–1000, default 100.
    func pageLimit(_ request: Request, default value: Int = 100, maximum: Int = 1000) throws -> Int {
        guard let raw = request.query("limit") else { return value }
        guard let limit = Int(raw), (1...maximum).contains(limit) else { throw APIError.invalid("limit", "must be between 1 and \(maximum)") }
        return limit
    }
}
