import Foundation
import HTTPTypes
import NIOCore
import Hummingbird
import LedgerCore
import OrgDomain
import Projections

extension LedgerAPI {
    func registerAPIKeyRoutes(on router: Router<BasicRequestContext>) {
        // Create a key; its secret is in this response only.
        router.post("/v1/orgs/:org/api-keys") { request, context in
            try await answer {
                let (actor, orgID) = try actorAndOrg(request, context)
                var body = Body(try await request.jsonObject(), allowed: ["name", "role"])
                let name = body.string("name"), role = body.string("role")
                try body.check()
                let keyID = Self.newID("key"), secret = Self.newSecret()
                let command = Command.createAPIKey(keyID: keyID, name: name!, role: role!, secretSHA256: Self.sha256Hex(secret))
                return try await execute(request, body: body, target: .id(orgID), command: command, actor: actor, keepSecretsOutOfReplay: true) { orgID, _, state in
                    guard let state, let key = state.apiKeys[keyID], case .object(var row) = Reply.value(Render.apiKeyRow(key, of: state)) else { return (.created, .null) }
                    row["secret"] = .string(secret)
                    return (.created, .object(row))
                }
            }
        }

        router.get("/v1/orgs/:org/api-keys") { request, context in
            try await answer {
                let (actor, orgID) = try actorAndOrg(request, context)
                try requireRead(.createAPIKey, orgID: orgID, actor: actor)
                // Paged by key id: revoked keys accumulate without limit.
                let tables = self.tables
                return try await indexedPage(request, key: "api_keys", under: Keys.joined(orgID, ""), index: .orgAPIKeys, table: .apiKeys, idPrefix: "key") { txn in
                    try Queries.orgVersion(orgID, tables: tables, in: txn)
                }
            }
        }

        router.delete("/v1/orgs/:org/api-keys/:id") { request, context in
            try await answer {
                let (actor, orgID) = try actorAndOrg(request, context)
                let keyID = try resourceID(context, prefix: "key", kind: "API key")
                return try await execute(request, target: .id(orgID), command: .revokeAPIKey(keyID: keyID), actor: actor) { orgID, _, state in
                    (.ok, state.flatMap { state in state.apiKeys[keyID].map { Reply.value(Render.apiKeyRow($0, of: state)) } } ?? .null)
                }
            }
        }

        // Verify a secret: 200 {org, handle, key_id, role} or 401. No actor needed.
        router.post("/v1/auth/verify") { request, _ in
            try await answer {
                var body = Body(try await request.jsonObject(), allowed: ["secret"])
                let secret = body.string("secret")
                try body.check()
                let hash = Self.sha256Hex(secret!)
                let verified: JSONValue? = try read { txn in
                    let candidates = try Queries.entries(under: Keys.joined(hash, ""), in: tables[.apiKeysByHash], txn: txn).map {
                        (keyID: String(decoding: $0.suffix, as: UTF8.self), orgID: String(decoding: $0.value, as: UTF8.self))
                    }
                    for (keyID, orgID) in candidates {
                        guard let org = try store.pipeline.cache.state(of: orgID, log: tables.log, in: txn), let key = org.apiKeys[keyID],
                            key.secretSHA256 == hash, key.status(in: org) == .active
                        else { continue }
                        return ["org": .string(org.id), "handle": .string(org.handle.value), "key_id": .string(keyID), "role": .string(key.role.rawValue)]
                    }
                    return nil
                }
                guard let verified else {
                    throw APIError(.unauthorized, reason: "invalid_key", detail: "the secret does not verify: unknown, revoked, reset, its creator gone, or the org not active")
                }
                return Reply.json(status: .ok, verified)
            }
        }
    }
}
