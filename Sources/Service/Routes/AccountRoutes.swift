import Foundation
import HTTPTypes
import NIOCore
import Hummingbird
import Ledger
import LedgerCore
import OrgDomain

/// The actor's own account (`/v1/me`, product spec §7) and the operators' view of accounts
/// (`/v1/admin/users/{email}`). Commands go through `executeOnAccount`; the rules are the domain's
/// (`UserRules`, `decide(_:by:on:context:)`).
extension LedgerAPI {
    func registerAccountRoutes(on router: Router<BasicRequestContext>) {
        // Profile, memberships and pending invitations. Reads make no user: an unknown email is 404.
        router.get("/v1/me") { request, _ in
            let actor = try request.actor()
            guard let person = try await ledger.person(actor), let row = try await ledger.userRow(person.id) else {
                throw APIError(Refusal(.userNotFound, "no user has this email yet; the first command you send makes one"))
            }
            // A user waiting for activation or deletion still reads their own account; what they belong
            // to is listed as it stands.
            let orgs = try await ledger.orgs(of: person.id, page: PageRequest(limit: Self.accountListLimit))
            let invitations = try await ledger.pendingInvitations(to: person.id, page: PageRequest(limit: Self.accountListLimit))
            return Reply.json([
                "user": Reply.value(row), "memberships": .array(orgs.rows.map(Reply.value)), "memberships_truncated": .bool(orgs.next != nil),
                "invitations": .array(invitations.rows.map(Reply.value)), "invitations_truncated": .bool(invitations.next != nil),
            ])
        }

        router.patch("/v1/me") { request, _ in
            let actor = try request.actor()
            var body = Body(try await request.jsonObject(), allowed: ["name", "username", "avatar_url"])
            let name = body.nullableString("name"), username = body.nullableString("username"), avatar = body.nullableString("avatar_url")
            try body.check()
            return try await executeOnAccount(request, body: body, account: actor, command: .updateProfile(name: name, username: username, avatarURL: avatar), actor: actor)
        }

        router.post("/v1/me/email") { request, _ in
            let actor = try request.actor()
            var body = Body(try await request.jsonObject(), allowed: ["email"])
            let email = body.string("email")
            try body.check()
            return try await executeOnAccount(request, body: body, account: actor, command: .changeEmail(email!), actor: actor)
        }

        router.post("/v1/me/deletion") { request, _ in
            let actor = try request.actor()
            var body = Body(try await request.jsonObject(), allowed: ["confirm"])
            let confirm = body.string("confirm")
            try body.check()
            return try await executeOnAccount(request, body: body, account: actor, command: .scheduleDeletion(confirm: confirm!), actor: actor, status: .accepted)
        }

        router.delete("/v1/me/deletion") { request, _ in
            let actor = try request.actor()
            return try await executeOnAccount(request, account: actor, command: .cancelDeletion, actor: actor)
        }

        router.post("/v1/admin/users/:email/activate") { request, context in
            let actor = try requireOperator(request)
            let account = try memberEmail(context)
            return try await executeOnAccount(request, account: account, command: .activate, actor: actor, actorIsOperator: true)
        }

        // An account's standing, for an operator: id, status, the times; no profile values.
        router.get("/v1/admin/users/:email") { request, context in
            _ = try requireOperator(request)
            let email = try memberEmail(context)
            guard let person = try await ledger.person(email), let row = try await ledger.userRow(person.id), case .object(let user) = Reply.value(row) else {
                throw APIError(Refusal(.userNotFound, "no user has this email"))
            }
            return Reply.json(.object(user.filter { ["id", "email", "status", "created_at", "purge_at", "version"].contains($0.key) }))
        }
    }

    /// At most this many memberships and pending invitations in `GET /v1/me` (the rest: `GET /v1/orgs`
    /// and `GET /v1/invitations`, paged).
    static let accountListLimit = 1000

    /// The actor, who must be one of the operators (`serve --operator`): 403 `not_operator` otherwise,
    /// before anything is looked up.
    func requireOperator(_ request: Request) throws -> Email {
        let actor = try request.actor()
        guard operators.contains(actor) else { throw APIError(Refusal(.notOperator, "only an operator (serve --operator) may do this")) }
        return actor
    }
}
