import Foundation
import HTTPTypes
import NIOCore
import Hummingbird
import LedgerCore
import OrgDomain
import Projections

extension LedgerAPI {
    func orgJSON(_ state: OrgState?) -> JSONValue {
        guard let state, state.status != .purged else { return .null }
        return Reply.value(Render.orgRow(state))
    }

    func registerOrgRoutes(on router: Router<BasicRequestContext>) {
        // Create an org; the actor becomes its owner.
        router.post("/v1/orgs") { request, _ in
            try await answer {
                let actor = try request.actor()
                var body = Body(try await request.jsonObject(), allowed: ["handle", "display_name"])
                let handle = body.string("handle"), name = body.string("display_name")
                try body.check()
                let orgID = Self.newID("org")
                return try await execute(request, body: body, target: .new(orgID), command: .createOrg(orgID: orgID, handle: handle!, displayName: name!), actor: actor) { _, _, state in
                    (.created, orgJSON(state))
                }
            }
        }

        // The orgs the actor belongs to, with its role: paged by org id (?limit=&cursor=).
        router.get("/v1/orgs") { request, _ in
            try await answer {
                guard let email = try request.actor().email else { return Reply.json(["orgs": []]) }
                let (limit, after) = try idPage(request, idPrefix: "org")
                let (orgs, next): ([JSONValue], String?) = try await scan { txn in
                    var out: [JSONValue] = []
                    let memberships = try Queries.entries(under: Keys.joined(email.value, ""), after: after, limit: limit + 1, in: tables[.memberships], txn: txn).map {
                        (String(decoding: $0.suffix, as: UTF8.self), String(decoding: $0.value, as: UTF8.self))
                    }
                    for (orgID, role) in memberships.prefix(limit) {
                        guard let row = try Queries.orgRow(orgID, tables: tables, in: txn), case .object(var org) = Reply.value(row) else { continue }
                        org["role"] = .string(role)
                        out.append(.object(org))
                    }
                    return (out, memberships.count > limit ? memberships[limit - 1].0 : nil)
                }
                return Reply.json(["orgs": .array(orgs), "next_cursor": next.map(JSONValue.string) ?? .null], headers: next.map { request.nextLink("cursor", $0) } ?? [:])
            }
        }

        // One org's profile, now or as of a seq or time.
        router.get("/v1/orgs/:org") { request, context in
            try await answer {
                let (actor, orgID) = try actorAndOrg(request, context)
                try requireRead(.readProfile, orgID: orgID, actor: actor)
                if let asOf = request.query("as_of") {
                    let state = try await stateAsOf(orgID, asOf)
                    guard let state, state.status != .purged else { throw APIError.notFound("the org did not exist then") }
                    return Reply.json(orgJSON(state), etag: state.version)
                }
                let row = try orgRow(orgID)
                return Reply.raw(.ok, row, etag: Render.version(ofOrgRow: row))
            }
        }

        router.patch("/v1/orgs/:org") { request, context in
            try await answer {
                let (actor, orgID) = try actorAndOrg(request, context)
                var body = Body(try await request.jsonObject(), allowed: ["display_name", "avatar_url"])
                let name = body.string("display_name", required: false), avatar = body.nullableString("avatar_url")
                try body.check()
                return try await execute(request, body: body, target: .id(orgID), command: .updateProfile(displayName: name, avatarURL: avatar), actor: actor) { _, _, state in
                    (.ok, orgJSON(state))
                }
            }
        }

        router.post("/v1/orgs/:org/handle") { request, context in
            try await answer {
                let (actor, orgID) = try actorAndOrg(request, context)
                var body = Body(try await request.jsonObject(), allowed: ["handle"])
                let handle = body.string("handle")
                try body.check()
                return try await execute(request, body: body, target: .id(orgID), command: .renameHandle(handle!), actor: actor) { _, _, state in
                    (.ok, orgJSON(state))
                }
            }
        }

        router.post("/v1/orgs/:org/auth/reset") { request, context in
            try await answer {
                let (actor, orgID) = try actorAndOrg(request, context)
                return try await execute(request, target: .id(orgID), command: .resetAuth, actor: actor) { _, events, state in
                    var voided: [JSONValue] = []
                    if case .authReset(_, let keys)? = events.first.flatMap({ try? OrgEvent(type: $0.envelope.type, data: $0.envelope.data) }) {
                        voided = keys.map(JSONValue.string)
                    }
                    return (.ok, ["auth_epoch": .int(Int64(state?.authEpoch ?? 0)), "voided_keys": .array(voided)])
                }
            }
        }

        router.post("/v1/orgs/:org/deletion") { request, context in
            try await answer {
                let (actor, orgID) = try actorAndOrg(request, context)
                var body = Body(try await request.jsonObject(), allowed: ["confirm"])
                let confirm = body.string("confirm")
                try body.check()
                return try await execute(request, body: body, target: .id(orgID), command: .scheduleDeletion(confirm: confirm!), actor: actor) { _, _, state in
                    (.accepted, orgJSON(state))
                }
            }
        }

        router.delete("/v1/orgs/:org/deletion") { request, context in
            try await answer {
                let (actor, orgID) = try actorAndOrg(request, context)
                return try await execute(request, target: .id(orgID), command: .cancelDeletion, actor: actor) { _, _, state in
                    (.ok, orgJSON(state))
                }
            }
        }
    }

    /// The org's state as of `as_of` (a seq or an RFC 3339 time), by folding its own stream.
    func stateAsOf(_ orgID: String, _ asOf: String) async throws -> OrgState? {
        guard let point = TimeTravel.Point(asOf) else { throw APIError.invalid("as_of", "must be a seq or an RFC 3339 time") }
        return try await scan { txn in try TimeTravel.state(of: orgID, at: point, log: tables.log, in: txn) }
    }
}
