import Foundation
import HTTPTypes
import NIOCore
import Hummingbird
import Ledger
import LedgerCore
import OrgDomain

extension LedgerAPI {
    func orgJSON(_ state: OrgState?) -> JSONValue {
        guard let state, state.status != .purged else { return .null }
        return Reply.value(Render.orgRow(state))
    }

    func registerOrgRoutes(on router: Router<BasicRequestContext>) {
        // Create an org; the actor becomes its owner.
        router.post("/v1/orgs") { request, _ in
            let actor = try request.actor()
            var body = Body(try await request.jsonObject(), allowed: ["handle", "display_name"])
            let handle = body.string("handle"), name = body.string("display_name")
            try body.check()
            let orgID = Self.newID("org")
            return try await execute(request, body: body, target: .new(orgID), command: .createOrg(orgID: orgID, handle: handle!, displayName: name!), actor: actor) { _, _, state, people in
                (.created, orgJSON(state))
            }
        }

        // The orgs the actor belongs to, with its role: paged by org id (?limit=&cursor=).
        router.get("/v1/orgs") { request, _ in
            guard let person = try await actingPerson(try request.actor()) else { return Reply.json(["orgs": [], "next_cursor": .null]) }
            let page = try await ledger.orgs(of: person.id, page: try idPage(request, idPrefix: "org"))
            return Reply.page("orgs", rows: page.rows, nextCursor: page.next, headers: page.next.map { request.nextLink("cursor", $0) } ?? [:])
        }

        // One org's profile, now or as of a seq or time.
        router.get("/v1/orgs/:org") { request, context in
            let (actor, orgID) = try await actorAndOrg(request, context)
            try await requireRead(.readProfile, orgID: orgID, actor: actor)
            if let asOf = request.query("as_of") {
                let state = try await stateAsOf(orgID, asOf)
                guard let state, state.status != .purged else { throw APIError.notFound("the org did not exist then") }
                return Reply.json(orgJSON(state), etag: state.version)
            }
            let row = try await orgRow(orgID)
            return Reply.raw(.ok, row, etag: Render.version(ofOrgRow: row))
        }

        router.patch("/v1/orgs/:org") { request, context in
            let (actor, orgID) = try await actorAndOrg(request, context)
            var body = Body(try await request.jsonObject(), allowed: ["display_name", "avatar_url"])
            let name = body.string("display_name", required: false), avatar = body.nullableString("avatar_url")
            try body.check()
            return try await execute(request, body: body, target: .id(orgID), command: .updateProfile(displayName: name, avatarURL: avatar), actor: actor) { _, _, state, people in
                (.ok, orgJSON(state))
            }
        }

        router.post("/v1/orgs/:org/handle") { request, context in
            let (actor, orgID) = try await actorAndOrg(request, context)
            var body = Body(try await request.jsonObject(), allowed: ["handle"])
            let handle = body.string("handle")
            try body.check()
            return try await execute(request, body: body, target: .id(orgID), command: .renameHandle(handle!), actor: actor) { _, _, state, people in
                (.ok, orgJSON(state))
            }
        }

        router.post("/v1/orgs/:org/auth/reset") { request, context in
            let (actor, orgID) = try await actorAndOrg(request, context)
            return try await execute(request, target: .id(orgID), command: .resetAuth, actor: actor) { _, events, state, people in
                var voided: [JSONValue] = []
                if case .authReset(_, let keys)? = events.first?.event { voided = keys.map(JSONValue.string) }
                return (.ok, ["auth_epoch": .int(Int64(state?.authEpoch ?? 0)), "voided_keys": .array(voided)])
            }
        }

        router.post("/v1/orgs/:org/deletion") { request, context in
            let (actor, orgID) = try await actorAndOrg(request, context)
            var body = Body(try await request.jsonObject(), allowed: ["confirm"])
            let confirm = body.string("confirm")
            try body.check()
            return try await execute(request, body: body, target: .id(orgID), command: .scheduleDeletion(confirm: confirm!), actor: actor) { _, _, state, people in
                (.accepted, orgJSON(state))
            }
        }

        router.delete("/v1/orgs/:org/deletion") { request, context in
            let (actor, orgID) = try await actorAndOrg(request, context)
            return try await execute(request, target: .id(orgID), command: .cancelDeletion, actor: actor) { _, _, state, people in
                (.ok, orgJSON(state))
            }
        }
    }

    /// The org's state as of `as_of` (a seq or an RFC 3339 time), by folding its own stream.
    func stateAsOf(_ orgID: String, _ asOf: String) async throws -> OrgState? {
        guard let point = TimeTravel.Point(asOf) else { throw APIError.invalid("as_of", "must be a seq or an RFC 3339 time") }
        return try await ledger.state(of: orgID, at: point)
    }
}
