import Foundation
import HTTPTypes
import LedgerCore
import OrgDomain

/// SCIM 2.0 (RFC 7643 / RFC 7644) at `/scim/v2/` (product spec §10): the names, media type and
/// discovery documents. SCIM is a mapping in the service layer: every change is a domain command
/// (`SCIMRoutes`), every read a `Ledger` read; nothing here decides a rule.
public enum SCIM {
    static let prefix = "/scim/v2"
    static let mediaType = "application/scim+json"

    static let userSchema = "urn:ietf:params:scim:schemas:core:2.0:User"
    static let groupSchema = "urn:ietf:params:scim:schemas:core:2.0:Group"
    static let listSchema = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
    static let patchSchema = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
    static let errorSchema = "urn:ietf:params:scim:api:messages:2.0:Error"
    static let providerConfigSchema = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
    static let resourceTypeSchema = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
    static let schemaSchema = "urn:ietf:params:scim:schemas:core:2.0:Schema"

    /// A page holds at most this many resources (`count` above it is lowered to it).
    static let maximumCount = 1000
    static let defaultCount = 100

    static func isSCIMPath(_ path: String) -> Bool { path == prefix || path.hasPrefix(prefix + "/") }

    /// `W/"<version>"`: SCIM's `meta.version` and the `ETag` header.
    static func etag(_ version: UInt64) -> String { "W/\"\(version)\"" }

    /// An `If-Match` value names `version` (weak comparison, RFC 9110 §8.8.3.2; `*` matches anything).
    static func ifMatch(_ header: String, matches version: UInt64) -> Bool {
        header.split(separator: ",").contains { raw in
            var tag = raw.trimmingCharacters(in: .whitespaces)
            if tag == "*" { return true }
            if tag.hasPrefix("W/") { tag.removeFirst(2) }
            return tag == "\"\(version)\""
        }
    }

    /// The absolute base URL the resources' `meta.location` start with: this request's host.
    static func baseURL(host: String?) -> String { "http://\(host ?? "localhost")\(prefix)" }

    // MARK: Discovery (RFC 7644 §4)

    static func serviceProviderConfig(base: String) -> JSONValue {
        [
            "schemas": [.string(providerConfigSchema)],
            "documentationUri": "https://orgledger.example/docs/scim",
            "patch": ["supported": true],
            "bulk": ["supported": false, "maxOperations": 0, "maxPayloadSize": 0],
            "filter": ["supported": true, "maxResults": .int(Int64(maximumCount))],
            "changePassword": ["supported": false],
            "sort": ["supported": false],
            "etag": ["supported": true],
            "authenticationSchemes": [
                [
                    "type": "oauthbearertoken", "name": "OrgLedger API key",
                    "description": "An org API key of role admin or owner, as Authorization: Bearer <secret>", "primary": true,
                ],
            ],
            "meta": ["resourceType": "ServiceProviderConfig", "location": .string(base + "/ServiceProviderConfig")],
        ]
    }

    static func resourceTypes(base: String) -> [JSONValue] {
        [("User", "/Users", userSchema, "The org's members"), ("Group", "/Groups", groupSchema, "The org's roles, fixed")].map { id, endpoint, schema, description in
            [
                "schemas": [.string(resourceTypeSchema)], "id": .string(id), "name": .string(id), "endpoint": .string(endpoint),
                "description": .string(description), "schema": .string(schema), "schemaExtensions": [],
                "meta": ["resourceType": "ResourceType", "location": .string(base + "/ResourceTypes/" + id)],
            ]
        }
    }

    static func schemas(base: String) -> [JSONValue] {
        func attribute(
            _ name: String, type: String = "string", required: Bool = false, mutability: String = "readWrite", multiValued: Bool = false,
            uniqueness: String = "none", caseExact: Bool = false, canonical: [String]? = nil, references: [String]? = nil, description: String,
            sub: [JSONValue]? = nil
        ) -> JSONValue {
            var a: [String: JSONValue] = [
                "name": .string(name), "type": .string(type), "multiValued": .bool(multiValued), "description": .string(description),
                "required": .bool(required), "mutability": .string(mutability), "returned": "default",
            ]
            if type == "string" || type == "reference" {
                a["caseExact"] = .bool(caseExact)
                a["uniqueness"] = .string(uniqueness)
            }
            if let canonical { a["canonicalValues"] = .array(canonical.map(JSONValue.string)) }
            if let references { a["referenceTypes"] = .array(references.map(JSONValue.string)) }
            if let sub { a["subAttributes"] = .array(sub) }
            return .object(a)
        }
        let user: [JSONValue] = [
            attribute("userName", required: true, mutability: "immutable", uniqueness: "server",
                description: "Any string, unique in the org case-insensitively; kept per org as a personal value. Set once."),
            attribute("name", type: "complex", description: "The member's name as the identity provider keeps it (a personal value).", sub: [
                attribute("formatted", description: "The full name."),
                attribute("familyName", description: "The family name."),
                attribute("givenName", description: "The given name."),
                attribute("middleName", description: "The middle name."),
                attribute("honorificPrefix", description: "A title before the name."),
                attribute("honorificSuffix", description: "A suffix after the name."),
            ]),
            attribute("displayName", description: "The name shown for the member (a personal value)."),
            attribute("emails", type: "complex", required: true, mutability: "immutable", multiValued: true,
                description: "The member's email: the primary one (else userName, if it is an email) names the person. It changes only through the user's own account (POST /v1/me/email); a PUT's emails are not applied.",
                sub: [
                    attribute("value", required: true, mutability: "immutable", description: "The email address."),
                    attribute("type", mutability: "immutable", canonical: ["work"], description: "Always work."),
                    attribute("primary", type: "boolean", mutability: "immutable", description: "The one email of the member."),
                ]),
            attribute("active", type: "boolean", required: true, description: "false suspends the member (no permission at all); true reinstates."),
            attribute("groups", type: "complex", mutability: "readOnly", multiValued: true, description: "The member's role, as its group.", sub: [
                attribute("value", mutability: "readOnly", description: "The group's id (the role)."),
                attribute("$ref", type: "reference", mutability: "readOnly", references: ["Group"], description: "The group's URI."),
                attribute("display", mutability: "readOnly", description: "The role."),
                attribute("type", mutability: "readOnly", canonical: ["direct"], description: "Always direct."),
            ]),
        ]
        let group: [JSONValue] = [
            attribute("displayName", required: true, mutability: "readOnly", uniqueness: "server", description: "The role: owner, admin, moderator, billing_manager, member or viewer."),
            attribute("members", type: "complex", multiValued: true,
                description: "The members with this role. Adding a member moves them to this role; removing one moves them back to member.", sub: [
                    attribute("value", mutability: "immutable", description: "The member's user id."),
                    attribute("$ref", type: "reference", mutability: "immutable", references: ["User"], description: "The member's URI."),
                    attribute("display", mutability: "readOnly", description: "The member's userName."),
                    attribute("type", mutability: "immutable", canonical: ["User"], description: "Always User."),
                ]),
        ]
        return [(userSchema, "User", "A member of the org", user), (groupSchema, "Group", "A role of the org", group)].map { id, name, description, attributes in
            [
                "schemas": [.string(schemaSchema)], "id": .string(id), "name": .string(name), "description": .string(description),
                "attributes": .array(attributes), "meta": ["resourceType": "Schema", "location": .string(base + "/Schemas/" + id)],
            ]
        }
    }

    /// `{"schemas": [ListResponse], "totalResults", "startIndex", "itemsPerPage", "Resources"}`.
    static func listResponse(_ resources: [JSONValue], total: Int, startIndex: Int) -> JSONValue {
        [
            "schemas": [.string(listSchema)], "totalResults": .int(Int64(total)), "startIndex": .int(Int64(startIndex)),
            "itemsPerPage": .int(Int64(resources.count)), "Resources": .array(resources),
        ]
    }
}

extension HTTPField.Name {
    static let wwwAuthenticate = Self("WWW-Authenticate")!
}
