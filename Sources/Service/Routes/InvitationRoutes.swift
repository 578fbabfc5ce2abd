import Foundation
import HTTPTypes
import NIOCore
import Hummingbird
import LedgerCore
import OrgDomain
import Projections

extension LedgerAPI {
    func registerInvitationRoutes(on router: Router<BasicRequestContext>) {
        // Invite up to 100 emails with one role, all or nothing.
        router.post("/v1/orgs/:org/invitations") { request, context in
            try await answer {
                let (actor, orgID) = try actorAndOrg(request, context)
                var body = Body(try await request.jsonObject(), allowed: ["emails", "role", "ttl_days"])
                let emails = body.strings("emails"), role = body.string("role"), ttl = body.int("ttl_days")
                try body.check()
                let ids = (emails ?? []).map { _ in Self.newID("inv") }
                return try await execute(request, body: body, target: .id(orgID), command: .invite(emails: emails!, role: role!, ttlDays: ttl, invitationIDs: ids), actor: actor) { orgID, events, state in
                    let sent = events.compactMap { event -> JSONValue? in
                        guard event.envelope.type == "invitation.sent", let id = event.envelope.data["invitation_id"]?.stringValue,
                            let invitation = state?.invitations[id]
                        else { return nil }
                        return Reply.value(Render.invitationRow(invitation, orgID: orgID))
                    }
                    return (.created, ["invitations": .array(sent)])
                }
            }
        }

        // An org's invitations, newest first: ?status=&limit=&cursor= (cursor = `<sent_at ms>.<id>` of the
        // last row of the previous page).
        router.get("/v1/orgs/:org/invitations") { request, context in
            try await answer {
                let (actor, orgID) = try actorAndOrg(request, context)
                try requireRead(.readInvitations, orgID: orgID, actor: actor)
                let limit = try pageLimit(request)
                let status = request.query("status")
                if let status, InvitationStatus(rawValue: status) == nil { throw APIError.invalid("status", "is not an invitation status") }
                var cursor: Queries.InvitationCursor?
                if let raw = request.query("cursor") {
                    let parts = raw.split(separator: ".", maxSplits: 1)
                    guard parts.count == 2, let ms = Int64(parts[0]), ResourceID.isWellFormed(String(parts[1]), prefix: "inv") else {
                        throw APIError.invalid("cursor", "is not a cursor from this API")
                    }
                    cursor = .init(sentAt: Timestamp(millisecondsSinceEpoch: ms), id: String(parts[1]))
                }
                let accepts: @Sendable ([UInt8]) -> Bool = { row in status == nil || Reply.value(row)["status"]?.stringValue == status }
                let start = cursor
                let (rows, version) = try await scan { txn in
                    (try Queries.invitationRows(orgID, after: start, limit: limit + 1, where: accepts, tables: tables, in: txn),
                     try Queries.orgVersion(orgID, tables: tables, in: txn) ?? 0)
                }
                let page = rows.prefix(limit)
                var next: String?
                if rows.count > limit, let last = page.last.map(Reply.value), let id = last["id"]?.stringValue,
                    let sentAt = last["sent_at"]?.stringValue.flatMap(Timestamp.init(rfc3339:)) {
                    next = "\(sentAt.millisecondsSinceEpoch).\(id)"
                }
                return pageReply(request, key: "invitations", rows: page, next: next, version: version)
            }
        }

        router.delete("/v1/orgs/:org/invitations/:id") { request, context in
            try await answer {
                let (actor, orgID) = try actorAndOrg(request, context)
                let id = try resourceID(context, prefix: "inv", kind: "invitation")
                return try await execute(request, target: .id(orgID), command: .revokeInvitation(id: id), actor: actor) { orgID, _, state in
                    (.ok, state?.invitations[id].map { Reply.value(Render.invitationRow($0, orgID: orgID)) } ?? .null)
                }
            }
        }

        // Pending invitations addressed to the actor.
        router.get("/v1/invitations") { request, _ in
            try await answer {
                guard let email = try request.actor().email else { return Reply.json(["invitations": []]) }
                // Paged by invitation id: one person may be invited by any number of orgs.
                return try await indexedPage(
                    request, key: "invitations", under: Keys.pendingPrefix(email.value), index: .invitationsPending, table: .invitations, idPrefix: "inv")
            }
        }

        for (path, make) in [("accept", Command.acceptInvitation), ("decline", Command.declineInvitation)] as [(String, @Sendable (String) -> Command)] {
            router.post("/v1/invitations/:id/\(path)") { request, context in
                try await answer {
                    let actor = try request.actor()
                    let id = try resourceID(context, prefix: "inv", kind: "invitation")
                    return try await execute(request, target: .invitation(id), command: make(id), actor: actor) { orgID, _, state in
                        var body: [String: JSONValue] = ["invitation": state?.invitations[id].map { Reply.value(Render.invitationRow($0, orgID: orgID)) } ?? .null]
                        if let email = actor.email, let member = state?.members[email] { body["member"] = Reply.value(Render.memberRow(member)) }
                        if let state { body["org"] = orgJSON(state) }
                        return (.ok, .object(body))
                    }
                }
            }
        }
    }
}
