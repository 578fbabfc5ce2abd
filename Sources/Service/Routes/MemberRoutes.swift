import Foundation
import HTTPTypes
import NIOCore
import Hummingbird
import Ledger
import LedgerCore
import OrgDomain

extension LedgerAPI {
    func registerMemberRoutes(on router: Router<BasicRequestContext>) {
        // The member list: ?as_of=&role=&status=&limit=&cursor= (cursor = the last email of the previous
        // page). Rows are in byte order of the normalized email, as LMDB keeps them, and the cursor is
        // compared as bytes: a page never skips or repeats a member.
        router.get("/v1/orgs/:org/members") { request, context in
            let (actor, orgID) = try await actorAndOrg(request, context)
            try await requireRead(.readMembers, orgID: orgID, actor: actor)
            let limit = try pageLimit(request)
            let role = request.query("role"), status = request.query("status"), cursor = request.query("cursor")
            var filter = MemberFilter()
            if let role {
                guard let value = Role(rawValue: role) else { throw APIError.invalid("role", "is not a role") }
                filter.role = value
            }
            if let status {
                guard let value = MemberStatus(rawValue: status) else { throw APIError.invalid("status", "must be active or suspended") }
                filter.status = value
            }
            if let cursor, cursor.utf8.count > Email.maximumBytes { throw APIError.invalid("cursor", "is not a cursor from this API") }
            let page: RowPage
            if let asOf = request.query("as_of") {
                guard let state = try await stateAsOf(orgID, asOf) else { throw APIError.notFound("the org did not exist then") }
                page = Self.memberPage(of: state, filter: filter, page: PageRequest(after: cursor, limit: limit))
            } else {
                page = try await ledger.members(of: orgID, filter: filter, page: PageRequest(after: cursor, limit: limit))
            }
            return pageReply(request, key: "members", page)
        }

        router.get("/v1/orgs/:org/members/:email") { request, context in
            let (actor, orgID) = try await actorAndOrg(request, context)
            try await requireRead(.readMembers, orgID: orgID, actor: actor)
            let email = try memberEmail(context)
            if let asOf = request.query("as_of") {
                guard let state = try await stateAsOf(orgID, asOf), let member = state.members[email] else { throw APIError.notFound("\(email) was not a member then") }
                return Reply.raw(.ok, Render.memberRow(member), etag: state.version)
            }
            guard let found = try await ledger.member(email, of: orgID) else { throw APIError.notFound("\(email) is not a member") }
            return Reply.raw(.ok, found.row, etag: found.version)
        }

        router.put("/v1/orgs/:org/members/:email/role") { request, context in
            let (actor, orgID) = try await actorAndOrg(request, context)
            var body = Body(try await request.jsonObject(), allowed: ["role"])
            let role = body.string("role")
            try body.check()
            let email = try memberEmail(context)
            return try await execute(request, body: body, target: .id(orgID), command: .changeRole(email: email.value, role: role!), actor: actor) { _, _, state in
                (.ok, memberJSON(state, email))
            }
        }

        for (path, make) in [("suspend", Command.suspend), ("reinstate", Command.reinstate)] as [(String, @Sendable (String) -> Command)] {
            router.post("/v1/orgs/:org/members/:email/\(path)") { request, context in
                let (actor, orgID) = try await actorAndOrg(request, context)
                let email = try memberEmail(context)
                return try await execute(request, target: .id(orgID), command: make(email.value), actor: actor) { _, _, state in
                    (.ok, memberJSON(state, email))
                }
            }
        }

        // Remove a member; removing oneself is leaving.
        router.delete("/v1/orgs/:org/members/:email") { request, context in
            let (actor, orgID) = try await actorAndOrg(request, context)
            let email = try memberEmail(context)
            return try await execute(request, target: .id(orgID), command: .remove(email: email.value), actor: actor) { _, events, _ in
                (.ok, ["removed": .string(email.value), "event": .string(events.first?.event.type ?? "")])
            }
        }
    }

    /// A page of the members of a past state, as the ledger pages the current ones: byte order of the
    /// email, after the cursor, filtered.
    static func memberPage(of state: OrgState, filter: MemberFilter, page: PageRequest<String>) -> RowPage {
        let members = state.members.values.sorted { $0.email < $1.email }
            .lazy.filter { page.after == nil || page.after!.utf8.lexicographicallyPrecedes($0.email.value.utf8) }
            .filter { filter.accepts(role: $0.role, status: $0.status) }
        let taken = Array(members.prefix(page.limit + 1))
        let rows = taken.prefix(page.limit)
        return RowPage(rows: rows.map(Render.memberRow), next: taken.count > page.limit ? rows.last?.email.value : nil, version: state.version)
    }

    func memberJSON(_ state: OrgState?, _ email: Email) -> JSONValue {
        guard let member = state?.members[email] else { return .null }
        return Reply.value(Render.memberRow(member))
    }
}
