import Foundation
import HTTPTypes
import NIOCore
import Hummingbird
import Ledger
import LedgerCore
import OrgDomain

extension LedgerAPI {
    func registerInvitationRoutes(on router: Router<BasicRequestContext>) {
        // Invite up to 100 emails with one role, all or nothing.
        router.post("/v1/orgs/:org/invitations") { request, context in
            let (actor, orgID) = try await actorAndOrg(request, context)
            var body = Body(try await request.jsonObject(), allowed: ["emails", "role", "ttl_days"])
            let emails = body.strings("emails"), role = body.string("role"), ttl = body.int("ttl_days")
            try body.check()
            let ids = (emails ?? []).map { _ in Self.newID("inv") }
            return try await execute(request, body: body, target: .id(orgID), command: .invite(people: emails!.map(PersonRef.email), role: role!, ttlDays: ttl, invitationIDs: ids), actor: actor) { orgID, events, state, people in
                let sent = events.compactMap { applied -> JSONValue? in
                    guard case .invitationSent(let id, _, _, _) = applied.event, let invitation = state?.invitations[id] else { return nil }
                    return Reply.value(Render.resolvingPeople(Render.invitationRow(invitation, orgID: orgID), people))
                }
                return (.created, ["invitations": .array(sent)])
            }
        }

        // An org's invitations, newest first: ?status=&limit=&cursor= (cursor = `<sent_at ms>.<id>` of the
        // last row of the previous page).
        router.get("/v1/orgs/:org/invitations") { request, context in
            let (actor, orgID) = try await actorAndOrg(request, context)
            try await requireRead(.readInvitations, orgID: orgID, actor: actor)
            let limit = try pageLimit(request)
            var status: InvitationStatus?
            if let raw = request.query("status") {
                guard let value = InvitationStatus(rawValue: raw) else { throw APIError.invalid("status", "is not an invitation status") }
                status = value
            }
            var cursor: InvitationCursor?
            if let raw = request.query("cursor") {
                guard let value = InvitationCursor(raw) else { throw APIError.invalid("cursor", "is not a cursor from this API") }
                cursor = value
            }
            return pageReply(request, key: "invitations", try await ledger.invitations(of: orgID, status: status, page: PageRequest(after: cursor, limit: limit)))
        }

        router.delete("/v1/orgs/:org/invitations/:id") { request, context in
            let (actor, orgID) = try await actorAndOrg(request, context)
            let id = try resourceID(context, prefix: "inv", kind: "invitation")
            return try await execute(request, target: .id(orgID), command: .revokeInvitation(id: id), actor: actor) { orgID, _, state, people in
                (.ok, state?.invitations[id].map { Reply.value(Render.resolvingPeople(Render.invitationRow($0, orgID: orgID), people)) } ?? .null)
            }
        }

        // Pending invitations addressed to the actor.
        router.get("/v1/invitations") { request, _ in
            // Reads create no user: someone the ledger does not know has no invitations.
            guard let person = try await actingPerson(try request.actor()) else { return Reply.json(["invitations": [], "next_cursor": .null]) }
            // Paged by invitation id: one person may be invited by any number of orgs.
            let page = try await ledger.pendingInvitations(to: person.id, page: try idPage(request, idPrefix: "inv"))
            return pageReply(request, key: "invitations", page)
        }

        for (path, make) in [("accept", Command.acceptInvitation), ("decline", Command.declineInvitation)] as [(String, @Sendable (String) -> Command)] {
            router.post("/v1/invitations/:id/\(path)") { request, context in
                let actor = try request.actor()
                let id = try resourceID(context, prefix: "inv", kind: "invitation")
                return try await execute(request, target: .invitation(id), command: make(id), actor: actor) { orgID, _, state, people in
                    let invitation = state?.invitations[id]
                    var body: [String: JSONValue] = ["invitation": invitation.map { Reply.value(Render.resolvingPeople(Render.invitationRow($0, orgID: orgID), people)) } ?? .null]
                    if let invitee = invitation?.invitee, let member = state?.members[invitee] { body["member"] = Reply.value(Render.resolvingPeople(Render.memberRow(member), people)) }
                    if let state { body["org"] = orgJSON(state) }
                    return (.ok, .object(body))
                }
            }
        }
    }
}
