import Foundation
import HTTPTypes
import NIOCore
import Hummingbird
import Ledger
import LedgerCore
import OrgDomain

extension LedgerAPI {
    func registerMemberRoutes(on router: Router<BasicRequestContext>) {
        // The member list: ?as_of=&role=&status=&limit=&cursor= (cursor = the last user id of the
        // previous page). Rows are in byte order of the user id, which never changes (an email does), and
        // the cursor is compared as bytes: a page never skips or repeats a member.
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
            if let cursor, UserID(checking: cursor) == nil { throw APIError.invalid("cursor", "is not a cursor from this API") }
            let page: RowPage
            if let asOf = request.query("as_of") {
                guard let state = try await stateAsOf(orgID, asOf) else { throw APIError.notFound("the org did not exist then") }
                page = try await memberPage(of: state, filter: filter, page: PageRequest(after: cursor, limit: limit))
            } else {
                page = try await ledger.members(of: orgID, filter: filter, page: PageRequest(after: cursor, limit: limit))
            }
            return pageReply(request, key: "members", page)
        }

        router.get("/v1/orgs/:org/members/:email") { request, context in
            let (actor, orgID) = try await actorAndOrg(request, context)
            try await requireRead(.readMembers, orgID: orgID, actor: actor)
            // By email, or by user id: the one way to name someone whose email is erased (§8).
            let (named, user) = try await memberNamed(context)
            switch request.query("proof") {
            case nil, "false"?: break
            case "true"?: return try await provableMember(request, orgID: orgID, named: named, user: user)
            default: throw APIError.invalid("proof", "must be true or false")
            }
            if let asOf = request.query("as_of") {
                guard let state = try await stateAsOf(orgID, asOf), let user, let member = state.members[user] else {
                    throw APIError.notFound("\(named) was not a member then")
                }
                return Reply.raw(.ok, try await rendered([member], of: state)[0], etag: state.version)
            }
            guard let user, let found = try await ledger.member(user, of: orgID) else { throw APIError.notFound("\(named) is not a member") }
            return Reply.raw(.ok, found.row, etag: found.version)
        }

        router.put("/v1/orgs/:org/members/:email/role") { request, context in
            let (actor, orgID) = try await actorAndOrg(request, context)
            var body = Body(try await request.jsonObject(), allowed: ["role"])
            let role = body.string("role")
            try body.check()
            let email = try memberEmail(context)
            let named = try await ledger.person(email)?.id
            return try await execute(request, body: body, target: .id(orgID), command: .changeRole(member: .email(email.value), role: role!), actor: actor) { _, events, state, people in
                (.ok, memberJSON(state, events, named, people))
            }
        }

        for (path, make) in [("suspend", Command.suspend), ("reinstate", Command.reinstate)] as [(String, @Sendable (PersonRef) -> Command)] {
            router.post("/v1/orgs/:org/members/:email/\(path)") { request, context in
                let (actor, orgID) = try await actorAndOrg(request, context)
                let email = try memberEmail(context)
                let named = try await ledger.person(email)?.id
                return try await execute(request, target: .id(orgID), command: make(.email(email.value)), actor: actor) { _, events, state, people in
                    (.ok, memberJSON(state, events, named, people))
                }
            }
        }

        // Remove a member; removing oneself is leaving.
        router.delete("/v1/orgs/:org/members/:email") { request, context in
            let (actor, orgID) = try await actorAndOrg(request, context)
            let email = try memberEmail(context)
            return try await execute(request, target: .id(orgID), command: .remove(member: .email(email.value)), actor: actor) { _, events, _, _ in
                (.ok, ["removed": .string(email.value), "event": .string(events.first?.event.type ?? "")])
            }
        }
    }

    /// The `{email}` segment of a member read: an email (resolved to its user, if any) or a user id.
    func memberNamed(_ context: BasicRequestContext) async throws -> (named: String, user: UserID?) {
        if let user = UserID(checking: try context.segment("email")) { return (user.value, user) }
        let email = try memberEmail(context)
        return (email.value, try await ledger.person(email)?.id)
    }

    /// `?proof=true` (product spec §9): the member as of `as_of` (or as of a checkpoint signed now), with
    /// the evidence that makes the answer checkable offline: the org's stream up to the answer and its
    /// next event, the events naming the user with their email disclosed, each event's inclusion proof,
    /// and the checkpoint. The answer is the fold of exactly those events.
    func provableMember(_ request: Request, orgID: String, named: String, user: UserID?) async throws -> Response {
        let checkpoint = try await ledger.signCheckpoint()
        let point: TimeTravel.Point
        if let asOf = request.query("as_of") {
            guard let parsed = TimeTravel.Point(asOf) else { throw APIError.invalid("as_of", "must be a seq or an RFC 3339 time") }
            point = parsed
        } else {
            point = .seq(checkpoint.size)
        }
        guard let user, let state = try await ledger.state(of: orgID, at: point), let member = state.members[user] else {
            throw APIError.notFound("\(named) was not a member then")
        }
        let answer = try JSONParser.parse(try await rendered([member], of: state)[0])
        let stream = try await ledger.provableStream(of: orgID, at: point, naming: user, in: checkpoint)
        func json(_ event: ProvedEvent) -> JSONValue {
            [
                "seq": .int(Int64(event.seq)), "event": .string(String(decoding: event.line, as: UTF8.self)),
                "hashes": MerkleTree.base64(event.hashes),
            ]
        }
        let proof: JSONValue = [
            "checkpoint": .string(stream.checkpoint.note), "tree_size": .int(Int64(stream.checkpoint.size)),
            "events": .array(stream.events.map(json)), "next": stream.next.map(json) ?? .null, "naming": .array(stream.naming.map(json)),
            "disclosures": .array(stream.disclosures.map { (try? JSONParser.parse($0.json)) ?? .null }),
        ]
        return Reply.json(["member": answer, "proof": proof], etag: state.version)
    }

    /// A page of the members of a past state, as the ledger pages the current ones: byte order of the
    /// user id, after the cursor, filtered; people shown as they are now.
    func memberPage(of state: OrgState, filter: MemberFilter, page: PageRequest<String>) async throws -> RowPage {
        let members = state.members.values.sorted { $0.user < $1.user }
            .lazy.filter { page.after == nil || page.after!.utf8.lexicographicallyPrecedes($0.user.value.utf8) }
            .filter { filter.accepts(role: $0.role, status: $0.status) }
        let taken = Array(members.prefix(page.limit + 1))
        let rows = Array(taken.prefix(page.limit))
        return RowPage(rows: try await rendered(rows, of: state), next: taken.count > page.limit ? rows.last?.user.value : nil, version: state.version)
    }

    /// Member rows of a (past) state with the people they name shown by current email, or erased.
    func rendered(_ members: [Member], of state: OrgState) async throws -> [[UInt8]] {
        let known = try await ledger.people(Array(Set(members.flatMap { [$0.user] + [$0.invitedBy].compactMap { $0 } })))
        return members.map { Render.resolvingPeople(Render.memberRow($0)) { known[$0] } }
    }

    /// The member a command named, as a row: the person of its first event, or (a command that changed
    /// nothing) `named`, the user the path's email named when the request came in.
    func memberJSON(_ state: OrgState?, _ events: [AppliedEvent], _ named: UserID?, _ people: People) -> JSONValue {
        guard let state else { return .null }
        let member = (events.first?.event.person ?? named).flatMap { state.members[$0] }
        return member.map { Reply.value(Render.resolvingPeople(Render.memberRow($0), people)) } ?? .null
    }
}
