import Foundation
import HTTPTypes
import Hummingbird
import Ledger
import LedgerCore
import NIOCore
import OrgDomain

/// `/scim/v2/…` (product spec §10): Users are the org's members, Groups its fixed roles. Every change is
/// the domain command the REST API would run (`provision`, `updateDirectoryMember`, `changeRole`,
/// `remove`), through the bearer's API key: its creator is the actor, its role decides, and it must
/// verify in the command's own transaction. Errors are RFC 7644's (`APIError.scimResponse`).
extension LedgerAPI {
    func registerSCIMRoutes(on router: Router<BasicRequestContext>) {
        let p = SCIM.prefix

        // MARK: Discovery

        router.get("\(p)/ServiceProviderConfig") { request, _ in
            _ = try await scimKey(request)
            return scimReply(SCIM.serviceProviderConfig(base: base(request)))
        }
        // Two read-only collections of documents, listed whole and by id.
        let collections: [(String, @Sendable (String) -> [JSONValue])] = [("ResourceTypes", SCIM.resourceTypes), ("Schemas", SCIM.schemas)]
        for (collection, documents) in collections {
            router.get("\(p)/\(collection)") { request, _ in
                _ = try await scimKey(request)
                let all = documents(base(request))
                return scimReply(SCIM.listResponse(all, total: all.count, startIndex: 1))
            }
            router.get("\(p)/\(collection)/:id") { request, context in
                _ = try await scimKey(request)
                let id = try context.segment("id")
                guard let found = documents(base(request)).first(where: { $0["id"]?.stringValue == id }) else { throw APIError.notFound("no \(collection) document '\(id)'") }
                return scimReply(found)
            }
        }
        router.post("\(p)/.search") { request, _ -> Response in
            _ = try await scimKey(request)
            throw APIError(.notImplemented, reason: "not_implemented", detail: "search by POST is not supported; use GET /Users?filter=")
        }

        // MARK: Users

        router.get("\(p)/Users") { request, _ in
            let key = try await scimKey(request)
            let (startIndex, count) = try paging(request)
            guard let filter = try userFilter(request.query("filter")) else {
                return scimReply(SCIM.listResponse([], total: 0, startIndex: startIndex))  // asks for something no member can be
            }
            guard let page = try await ledger.directory(of: key.orgID, filter: filter, startIndex: startIndex, count: count) else { throw APIError.notFound("the key's org is gone") }
            let base = base(request)
            let resources = page.members.map { selected(SCIMUser.resource($0, base: base), request) }
            return scimReply(SCIM.listResponse(resources, total: page.total, startIndex: startIndex))
        }

        router.get("\(p)/Users/:id") { request, context in
            let key = try await scimKey(request)
            let member = try await directoryMember(context, key)
            return scimReply(selected(SCIMUser.resource(member, base: base(request)), request), etag: member.changedVersion)
        }

        // Provision: a member at once (role member). An existing member is 409 uniqueness, unless the
        // request re-sends exactly what is held: then 200 and nothing is written.
        router.post("\(p)/Users") { request, _ in
            let key = try await scimKey(request)
            let user = try SCIMUser(body: try await request.jsonObject())
            guard let email = user.email else {
                throw APIError(.badRequest, reason: "invalid_input", detail: "the member's email is emails[primary].value, or userName if it is an email; neither is given", scimType: "invalidValue")
            }
            if case .success(let normalized) = Email.parse(email), let person = try await ledger.person(normalized),
                let held = try await ledger.directoryMember(person.id, of: key.orgID)
            {
                guard SCIMUser(held).sameHeld(as: user) else {
                    throw APIError(.conflict, reason: "already_member", detail: "\(normalized) is already a member of this org (id \(person.id))", scimType: "uniqueness")
                }
                return scimReply(SCIMUser.resource(held, base: base(request)), etag: held.changedVersion)
            }
            let events = try await scimExecute(request, key, .provision(person: .email(email), profile: user.profile, active: user.active))
            guard let id = events.lazy.compactMap({ if case .memberJoined(let user, _, _, _) = $0.event { user } else { nil } }).first,
                let member = try await ledger.directoryMember(id, of: key.orgID)
            else { throw APIError(.conflict, reason: "changed_meanwhile", detail: "the member changed before the answer could be read; GET them") }
            let resource = SCIMUser.resource(member, base: base(request))
            return scimReply(resource, status: .created, etag: member.changedVersion, location: resource["meta"]?["location"]?.stringValue)
        }

        // Replace: the profile and `active` as sent. `userName` is set once; `emails` are not applied
        // (a member's email changes through their own account); read-only attributes are ignored.
        router.put("\(p)/Users/:id") { request, context in
            let key = try await scimKey(request)
            let held = try await directoryMember(context, key)
            try requireIfMatch(request, held.changedVersion)
            var sent = try SCIMUser(body: try await request.jsonObject())
            let current = SCIMUser(held)
            if held.profile != nil, DirectoryProfile.userNameKey(sent.userName) != DirectoryProfile.userNameKey(current.userName) {
                throw SCIMUser.invalid("userName is immutable", scimType: "mutability")
            }
            sent.email = current.email
            if sent.activeGiven == nil { sent.active = current.active }  // an attribute not sent is not changed
            return try await update(request, key, held, to: sent)
        }

        router.patch("\(p)/Users/:id") { request, context in
            let key = try await scimKey(request)
            let held = try await directoryMember(context, key)
            try requireIfMatch(request, held.changedVersion)
            var user = SCIMUser(held)
            for operation in try patchOperations(try await request.jsonObject()) {
                try user.apply(op: operation.op, path: operation.path, value: operation.value)
            }
            return try await update(request, key, held, to: user)
        }

        router.delete("\(p)/Users/:id") { request, context in
            let key = try await scimKey(request)
            let held = try await directoryMember(context, key)
            try requireIfMatch(request, held.changedVersion)
            _ = try await scimExecute(request, key, .remove(member: .user(held.user)))
            return Response(status: .noContent)
        }

        // MARK: Groups: the roles

        router.get("\(p)/Groups") { request, _ in
            let key = try await scimKey(request)
            let (startIndex, count) = try paging(request)
            var roles = Role.allCases
            if let raw = request.query("filter") {
                for comparison in try SCIMFilter.parse(raw).comparisons {
                    guard ["displayname", "id"].contains(comparison.path), comparison.valueFilterType == nil else {
                        throw SCIMFilter.invalid("Groups are filtered by displayName or id")
                    }
                    roles = roles.filter { $0.rawValue == comparison.value.stringValue }
                }
            }
            let shown = Array(roles.dropFirst(startIndex - 1).prefix(count))
            let groups = try await groupResources(shown, key, request)
            return scimReply(SCIM.listResponse(groups.map { selected($0, request) }, total: roles.count, startIndex: startIndex))
        }

        router.get("\(p)/Groups/:id") { request, context in
            let key = try await scimKey(request)
            let role = try groupRole(context)
            let group = try await groupResources([role], key, request)[0]
            return scimReply(selected(group, request), etag: try await orgVersion(key))
        }

        // Members added to a group move to its role; members removed from it move back to `member`.
        // One role change per member, each under every rule of §2 (the last owner stays: 409).
        router.patch("\(p)/Groups/:id") { request, context in
            let key = try await scimKey(request)
            let role = try groupRole(context)
            try requireIfMatch(request, try await orgVersion(key))
            var changes: [(UserID, Role)] = []
            for operation in try patchOperations(try await request.jsonObject()) {
                changes += try await groupChanges(role, operation, key)
                _ = try Self.boundedRoleChanges(changes)  // refuse early, before reading more members
            }
            for (user, target) in try Self.boundedRoleChanges(changes) { try await changeRole(request, key, user, to: target) }
            let group = try await groupResources([role], key, request)[0]
            return scimReply(selected(group, request), etag: try await orgVersion(key))
        }

        router.put("\(p)/Groups/:id") { request, context in
            let key = try await scimKey(request)
            let role = try groupRole(context)
            try requireIfMatch(request, try await orgVersion(key))
            let body = SCIMUser.caseInsensitive(try await request.jsonObject())
            if let name = body["displayname"]?.stringValue, name != role.rawValue { throw SCIMUser.invalid("a group's displayName is its role", scimType: "mutability") }
            // Without `members` a PUT changes nothing: an absent attribute is not an empty one.
            if let members = body["members"] {
                let changes = try await groupChanges(role, PatchOperation(op: "replace", path: "members", value: members), key)
                for (user, target) in try Self.boundedRoleChanges(changes) { try await changeRole(request, key, user, to: target) }
            }
            let group = try await groupResources([role], key, request)[0]
            return scimReply(selected(group, request), etag: try await orgVersion(key))
        }

        router.post("\(p)/Groups") { request, _ -> Response in
            _ = try await scimKey(request)
            throw APIError(.forbidden, reason: "fixed_groups", detail: "the groups are the org's roles, fixed: none is created or deleted")
        }
        router.delete("\(p)/Groups/:id") { request, _ -> Response in
            _ = try await scimKey(request)
            throw APIError(.forbidden, reason: "fixed_groups", detail: "the groups are the org's roles, fixed: none is created or deleted")
        }
    }

    // MARK: Authentication

    /// The bearer's key: `Authorization: Bearer <secret>` of an org API key that verifies now (401
    /// otherwise) and whose role is `admin` or `owner` (403 otherwise). Checked on every request.
    func scimKey(_ request: Request) async throws -> VerifiedKey {
        guard let header = try request.singleHeader(.authorization) else {
            throw APIError(.unauthorized, reason: "no_key", detail: "send Authorization: Bearer <an org API key>")
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer", case let secret = parts[1].trimmingCharacters(in: .whitespaces), !secret.isEmpty,
            secret.utf8.count <= 512
        else { throw APIError(.unauthorized, reason: "no_key", detail: "send Authorization: Bearer <an org API key>") }
        guard let key = try await ledger.verifyKey(secretSHA256: Self.sha256Hex(secret)) else {
            throw APIError(.unauthorized, reason: "invalid_key", detail: "the key does not verify: unknown, revoked, reset, its creator gone, or the org not active")
        }
        guard key.role == .admin || key.role == .owner else {
            throw APIError(.forbidden, reason: "not_permitted", detail: "SCIM takes a key of role admin or owner; this one is \(key.role.rawValue)")
        }
        return key
    }

    // MARK: Commands

    /// Runs a command through the key (`CommandRequest(apiKey:)`): the events it appended, or its refusal.
    func scimExecute(_ request: Request, _ key: VerifiedKey, _ command: Command) async throws -> [AppliedEvent] {
        var meta = try request.meta(recordingContext: recordsRequestContext)
        meta.idempotencyKey = nil  // SCIM has no idempotency keys: a re-sent request is answered by state
        let outcome = try await ledger.execute(
            CommandRequest(target: .id(key.orgID), command: command, apiKey: key.keyID, now: clock(), meta: meta), render: { _, _, _, _ in .none }, idempotency: nil)
        metrics.command(outcome)
        switch outcome {
        case .applied(_, let events, _): return events
        case .refused(let refusal): throw APIError(refusal)
        case .versionMismatch(let current): throw APIError(.preconditionFailed, reason: "version_mismatch", detail: "the org is at version \(current)")
        case .replayed, .idempotencyKeyReused: throw APIError(.internalServerError, reason: "internal", detail: "an idempotent answer where none was asked for")
        }
    }

    /// PUT and PATCH: the profile if it changed, `active` if it changed, as one command; then the member.
    func update(_ request: Request, _ key: VerifiedKey, _ held: DirectoryMember, to user: SCIMUser) async throws -> Response {
        let current = SCIMUser(held)
        let profile = user.profile
        // A member the directory keeps nothing about (invited through the REST API) shows their email as
        // userName: a request that leaves exactly that stand-in writes no profile (their email would
        // otherwise be frozen in one).
        let standIn = held.profile == nil && profile == SCIMUser(held).profile
        let changedProfile = held.profile == profile || standIn ? nil : profile
        let changedActive = user.active == current.active ? nil : user.active
        _ = try await scimExecute(request, key, .updateDirectoryMember(member: .user(held.user), profile: changedProfile, active: changedActive))
        guard let member = try await ledger.directoryMember(held.user, of: key.orgID) else { throw APIError.notFound("\(held.user) is no longer a member") }
        return scimReply(selected(SCIMUser.resource(member, base: base(request)), request), etag: member.changedVersion)
    }

    /// At most this many role changes in one Group request: each is a command of its own.
    static let maximumRoleChanges = 1000

    /// The role changes to run, each member once (their last requested role), in first-named order;
    /// more than `maximumRoleChanges` is refused before any runs (`tooMany`).
    static func boundedRoleChanges(_ changes: [(UserID, Role)]) throws -> [(UserID, Role)] {
        var last: [UserID: Role] = [:]
        var order: [UserID] = []
        for (user, role) in changes {
            if last.updateValue(role, forKey: user) == nil { order.append(user) }
        }
        guard order.count <= maximumRoleChanges else {
            throw SCIMUser.invalid("at most \(maximumRoleChanges) members change role in one request", scimType: "tooMany")
        }
        return order.map { ($0, last[$0]!) }
    }

    func changeRole(_ request: Request, _ key: VerifiedKey, _ user: UserID, to role: Role) async throws {
        _ = try await scimExecute(request, key, .changeRole(member: .user(user), role: role.rawValue))
    }

    // MARK: Groups

    func groupRole(_ context: BasicRequestContext) throws -> Role {
        let id = try context.segment("id")
        guard let role = Role(rawValue: id) else { throw APIError.notFound("no group '\(id)': the groups are the roles") }
        return role
    }

    /// The role changes a group operation asks for: `add` (and `replace`, for whom it lists) move members
    /// to the group's role; `remove` (and `replace`, for whom it leaves out) move them back to `member`.
    func groupChanges(_ role: Role, _ operation: PatchOperation, _ key: VerifiedKey) async throws -> [(UserID, Role)] {
        let op = operation.op.lowercased()
        guard ["add", "remove", "replace"].contains(op) else { throw SCIMUser.invalid("op '\(operation.op)' is not add, remove or replace", scimType: "invalidSyntax") }
        var path = operation.path.map(SCIMFilter.normalizedPath) ?? ""
        var value = operation.value
        if path.isEmpty, case .object(let members)? = value {
            let lowered = SCIMUser.caseInsensitive(members)
            if let name = lowered["displayname"]?.stringValue, name != role.rawValue { throw SCIMUser.invalid("a group's displayName is its role", scimType: "mutability") }
            guard let listed = lowered["members"] else { return [] }
            (path, value) = ("members", listed)
        }
        // `members[value eq "usr_…"]`: one member, named in the path.
        var named: [String] = []
        if path.hasPrefix("members["), let raw = operation.path, let open = raw.firstIndex(of: "["), raw.hasSuffix("]") {
            let filter = try SCIMFilter.parse(String(raw[raw.index(after: open)..<raw.index(before: raw.endIndex)]))
            named = filter.comparisons.filter { $0.path == "value" }.compactMap(\.value.stringValue)
            guard !named.isEmpty else { throw SCIMFilter.invalid("a members path names members by value eq \"<id>\"") }
            path = "members"
        }
        guard path == "members" else {
            if path == "displayname" { throw SCIMUser.invalid("a group's displayName is its role", scimType: "mutability") }
            throw SCIMUser.invalid("a group changes only through members", scimType: "invalidPath")
        }
        if case .array(let items)? = value {
            for item in items {
                guard let id = item["value"]?.stringValue ?? item["Value"]?.stringValue else { throw SCIMUser.invalid("each member is {\"value\": \"<user id>\"}", scimType: "invalidValue") }
                named.append(id)
            }
        } else if let value, value != .null {
            throw SCIMUser.invalid("members is an array of {\"value\": \"<user id>\"}", scimType: "invalidValue")
        }
        var users: [UserID] = []
        for id in named {
            guard let user = UserID(checking: id) else { throw APIError(.notFound, reason: "member_not_found", detail: "no member \(id)", scimType: "noTarget") }
            users.append(user)
        }
        func leaving(_ user: UserID) throws -> (UserID, Role) {
            guard role != .member else {
                throw SCIMUser.invalid("every member holds one role: add them to another group, or DELETE the user", scimType: "mutability")
            }
            return (user, .member)
        }
        switch op {
        case "add":
            return users.map { ($0, role) }
        case "remove":
            // Without a value or path filter: every member of the group leaves it.
            let targets = users.isEmpty && operation.path.map(SCIMFilter.normalizedPath) == "members" && value == nil ? try await groupMembers(role, key) : users
            var out: [(UserID, Role)] = []
            for user in targets {
                guard let member = try await ledger.directoryMember(user, of: key.orgID) else { throw APIError(.notFound, reason: "member_not_found", detail: "no member \(user)", scimType: "noTarget") }
                if member.role == role { out.append(try leaving(user)) }
            }
            return out
        default:  // replace: exactly these in the group
            let wanted = Set(users)
            var out = users.map { ($0, role) }
            for user in try await groupMembers(role, key) where !wanted.contains(user) { out.append(try leaving(user)) }
            return out
        }
    }

    func groupMembers(_ role: Role, _ key: VerifiedKey) async throws -> [UserID] {
        try await ledger.directory(of: key.orgID, filter: DirectoryFilter([.role(role)]), startIndex: 1, count: .max)?.members.map(\.user) ?? []
    }

    /// The group resources of `roles`, members listed unless `excludedAttributes` drops them.
    func groupResources(_ roles: [Role], _ key: VerifiedKey, _ request: Request) async throws -> [JSONValue] {
        guard !roles.isEmpty else { return [] }
        let excluded = (request.query("excludedAttributes") ?? "").lowercased().split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let withMembers = !excluded.contains("members")
        guard let page = try await ledger.directory(of: key.orgID, filter: DirectoryFilter(), startIndex: 1, count: withMembers ? .max : 0) else {
            throw APIError.notFound("the key's org is gone")
        }
        let created = try await ledger.org(key.orgID).flatMap { Reply.value($0)["created_at"]?.stringValue } ?? ""
        let base = base(request)
        return roles.map { role in
            let members = page.members.filter { $0.role == role }
            let lastModified = members.map(\.changedAt).max()?.rfc3339 ?? created
            var group: [String: JSONValue] = [
                "schemas": [.string(SCIM.groupSchema)], "id": .string(role.rawValue), "displayName": .string(role.rawValue),
                "meta": [
                    "resourceType": "Group", "created": .string(created), "lastModified": .string(max(created, lastModified)),
                    "location": .string(base + "/Groups/" + role.rawValue), "version": .string(SCIM.etag(page.orgVersion)),
                ],
            ]
            if withMembers {
                group["members"] = .array(members.map { member in
                    [
                        "value": .string(member.user.value), "display": .string(member.userName ?? Person.erasedLabel), "$ref": .string(base + "/Users/" + member.user.value),
                        "type": "User",
                    ]
                })
            }
            return .object(group)
        }
    }

    func orgVersion(_ key: VerifiedKey) async throws -> UInt64 {
        guard let row = try await ledger.org(key.orgID), let version = Render.version(ofOrgRow: row) else { throw APIError.notFound("the key's org is gone") }
        return version
    }

    // MARK: Reading requests

    func base(_ request: Request) -> String { SCIM.baseURL(host: request.head.authority) }

    func directoryMember(_ context: BasicRequestContext, _ key: VerifiedKey) async throws -> DirectoryMember {
        let id = try context.segment("id")
        guard let user = UserID(checking: id), let member = try await ledger.directoryMember(user, of: key.orgID) else {
            throw APIError.notFound("no user '\(id)' in this org")
        }
        return member
    }

    /// `startIndex` (from 1; below 1 is 1) and `count` (default 100, at most 1000; below 0 is 0).
    func paging(_ request: Request) throws -> (startIndex: Int, count: Int) {
        func integer(_ name: String) throws -> Int? {
            guard let raw = request.query(name) else { return nil }
            guard let value = Int(raw) else { throw SCIMUser.invalid("\(name) is an integer", scimType: "invalidValue") }
            return value
        }
        let startIndex = max(1, try integer("startIndex") ?? 1)
        let count = min(SCIM.maximumCount, max(0, try integer("count") ?? SCIM.defaultCount))
        return (startIndex, count)
    }

    /// The directory filter of a `/Users` filter; nil when it asks for something no member can be.
    func userFilter(_ raw: String?) throws -> DirectoryFilter? {
        guard let raw else { return DirectoryFilter() }
        var conditions: [DirectoryFilter.Condition] = []
        for comparison in try SCIMFilter.parse(raw).comparisons {
            guard case .string(let text) = comparison.value else { throw SCIMFilter.invalid("\(comparison.path) is compared with a string") }
            switch comparison.path {
            case "username": conditions.append(.userName(text))
            case "externalid": conditions.append(.externalID(text))
            case "displayname": conditions.append(.displayName(text))
            case "id":
                guard let user = UserID(checking: text) else { return nil }
                conditions.append(.user(user))
            case "emails", "emails.value":
                if let type = comparison.valueFilterType, type != "work" { return nil }
                guard case .success(let email) = Email.parse(text) else { return nil }
                conditions.append(.email(email))
            default:
                throw SCIMFilter.invalid("Users are filtered by userName, externalId, emails.value, emails[type eq \"work\"].value, displayName or id, not \(comparison.path)")
            }
        }
        return DirectoryFilter(conditions)
    }

    func patchOperations(_ body: [String: JSONValue]) throws -> [PatchOperation] {
        let members = SCIMUser.caseInsensitive(body)
        guard case .array(let schemas)? = members["schemas"], schemas.contains(where: { $0.stringValue?.lowercased() == SCIM.patchSchema.lowercased() }) else {
            throw SCIMUser.invalid("schemas must name \(SCIM.patchSchema)", scimType: "invalidSyntax")
        }
        guard case .array(let operations)? = members["operations"], !operations.isEmpty else {
            throw SCIMUser.invalid("Operations is a non-empty array", scimType: "invalidSyntax")
        }
        guard operations.count <= 1000 else { throw SCIMUser.invalid("at most 1000 operations per request", scimType: "tooMany") }
        return try operations.map { item in
            guard case .object(let raw) = item else { throw SCIMUser.invalid("each operation is an object", scimType: "invalidSyntax") }
            let operation = SCIMUser.caseInsensitive(raw)
            guard let op = operation["op"]?.stringValue else { throw SCIMUser.invalid("each operation has an op", scimType: "invalidSyntax") }
            let path: String?
            switch operation["path"] {
            case nil, .null?: path = nil
            case .string(let s)?: path = s
            default: throw SCIMUser.invalid("path is a string", scimType: "invalidPath")
            }
            return PatchOperation(op: op, path: path, value: operation["value"])
        }
    }

    func requireIfMatch(_ request: Request, _ version: UInt64) throws {
        guard let header = request.headers[.ifMatch] else { return }
        guard SCIM.ifMatch(header, matches: version) else {
            throw APIError(.preconditionFailed, reason: "version_mismatch", detail: "If-Match names another version; this is \(SCIM.etag(version))", headers: [.eTag: SCIM.etag(version)])
        }
    }

    func selected(_ resource: JSONValue, _ request: Request) -> JSONValue {
        AttributeSelection.apply(resource, attributes: request.query("attributes"), excluded: request.query("excludedAttributes"))
    }

    func scimReply(_ value: JSONValue, status: HTTPResponse.Status = .ok, etag: UInt64? = nil, location: String? = nil) -> Response {
        var headers: HTTPFields = [.contentType: SCIM.mediaType]
        if let etag { headers[.eTag] = SCIM.etag(etag) }
        if let location { headers[.location] = location }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: (try? CanonicalJSON.encode(value)) ?? [])))
    }
}

struct PatchOperation {
    let op: String
    let path: String?
    let value: JSONValue?
}

extension SCIMUser {
    /// Whether a POST re-sends what is held (then it is answered 200 and nothing is written).
    func sameHeld(as sent: SCIMUser) -> Bool {
        DirectoryProfile.userNameKey(userName) == DirectoryProfile.userNameKey(sent.userName) && externalID == sent.externalID
            && displayName == sent.displayName && (name ?? [:]) == (sent.name ?? [:]) && active == sent.active
    }
}
