import Foundation
import HTTPTypes
import NIOCore
import Hummingbird
import Ledger
import LedgerCore
import OrgDomain

extension LedgerAPI {
    func registerAPIKeyRoutes(on router: Router<BasicRequestContext>) {
        // Create a key; its secret is in this response only.
        router.post("/v1/orgs/:org/api-keys") { request, context in
            let (actor, orgID) = try await actorAndOrg(request, context)
            var body = Body(try await request.jsonObject(), allowed: ["name", "role"])
            let name = body.string("name"), role = body.string("role")
            try body.check()
            let keyID = Self.newID("key"), secret = Self.newSecret()
            let command = Command.createAPIKey(keyID: keyID, name: name!, role: role!, secretSHA256: Self.sha256Hex(secret))
            return try await execute(request, body: body, target: .id(orgID), command: command, actor: actor, keepSecretsOutOfReplay: true) { orgID, _, state, people in
                guard let state, let key = state.apiKeys[keyID], case .object(var row) = Reply.value(Render.resolvingPeople(Render.apiKeyRow(key, of: state), people)) else { return (.created, .null) }
                row["secret"] = .string(secret)
                return (.created, .object(row))
            }
        }

        router.get("/v1/orgs/:org/api-keys") { request, context in
            let (actor, orgID) = try await actorAndOrg(request, context)
            try await requireRead(.createAPIKey, orgID: orgID, actor: actor)
            // Paged by key id: revoked keys accumulate without limit.
            return pageReply(request, key: "api_keys", try await ledger.apiKeys(of: orgID, page: try idPage(request, idPrefix: "key")))
        }

        router.delete("/v1/orgs/:org/api-keys/:id") { request, context in
            let (actor, orgID) = try await actorAndOrg(request, context)
            let keyID = try resourceID(context, prefix: "key", kind: "API key")
            return try await execute(request, target: .id(orgID), command: .revokeAPIKey(keyID: keyID), actor: actor) { orgID, _, state, people in
                (.ok, state.flatMap { state in state.apiKeys[keyID].map { Reply.value(Render.resolvingPeople(Render.apiKeyRow($0, of: state), people)) } } ?? .null)
            }
        }

        // Verify a secret: 200 {org, handle, key_id, role} or 401. No actor needed.
        router.post("/v1/auth/verify") { request, _ in
            var body = Body(try await request.jsonObject(), allowed: ["secret"])
            let secret = body.string("secret")
            try body.check()
            let verified = try await ledger.verifyKey(secretSHA256: Self.sha256Hex(secret!))
            guard let verified else {
                throw APIError(.unauthorized, reason: "invalid_key", detail: "the secret does not verify: unknown, revoked, reset, its creator gone, or the org not active")
            }
            return Reply.json(status: .ok, [
                "org": .string(verified.orgID), "handle": .string(verified.handle), "key_id": .string(verified.keyID), "role": .string(verified.role.rawValue),
            ])
        }
    }
}
