import Foundation
import HTTPTypes
import Ledger
import LedgerCore
import OrgDomain

/// A SCIM User (RFC 7643 §4.1) as OrgLedger keeps one: the member's directory profile, email and
/// `active`. What POST, PUT and PATCH work on; attributes OrgLedger does not keep (`phoneNumbers`,
/// extensions, `password`, …) are accepted and not kept, as identity providers send many.
struct SCIMUser: Equatable {
    var userName: String
    /// The member's email as given (a request) or held (a member); nil once erased.
    var email: String?
    var externalID: String?
    var displayName: String?
    /// SCIM's `name`, by canonical sub-attribute names.
    var name: [String: String]?
    var active: Bool

    static let nameParts = ["formatted", "familyName", "givenName", "middleName", "honorificPrefix", "honorificSuffix"]

    /// A member as SCIM shows them.
    init(_ member: DirectoryMember) {
        userName = member.userName ?? Person.erasedLabel
        email = member.email?.value
        externalID = member.profile?.externalID
        displayName = member.profile?.displayName
        name = member.profile?.name.flatMap { text in
            guard case .object(let members)? = try? JSONParser.parse(Array(text.utf8)) else { return nil }
            return members.compactMapValues(\.stringValue)
        }
        active = member.status == .active
    }

    /// A User resource as POST and PUT send it. `schemas` must name the core User schema; `userName` is
    /// required; the email is `emails[primary]` (else the first, else `userName` if it is an email).
    init(body: [String: JSONValue]) throws(APIError) {
        let members = Self.caseInsensitive(body)
        guard case .array(let schemas)? = members["schemas"], schemas.contains(where: { $0.stringValue?.lowercased() == SCIM.userSchema.lowercased() }) else {
            throw APIError(.badRequest, reason: "invalid_input", detail: "schemas must name \(SCIM.userSchema)", scimType: "invalidSyntax")
        }
        guard case .string(let userName)? = members["username"] else {
            throw APIError(.badRequest, reason: "invalid_input", detail: "userName is required and is a string", scimType: "invalidValue")
        }
        self.userName = userName
        email = try Self.email(in: members["emails"]) ?? (Email.parse(userName).isSuccess ? userName : nil)
        externalID = try Self.optionalString(members["externalid"], "externalId")
        displayName = try Self.optionalString(members["displayname"], "displayName")
        name = try Self.name(members["name"])
        activeGiven = try members["active"].map { value throws(APIError) in try Self.bool(value, "active") }
        active = activeGiven ?? true
    }

    /// `active` as the request sent it; nil when it sent none (a PUT then leaves it as held).
    private(set) var activeGiven: Bool?

    /// The directory profile the domain keeps (`name` as canonical JSON text).
    var profile: DirectoryProfile {
        let nameText = name.flatMap { parts -> String? in
            parts.isEmpty ? nil : (try? CanonicalJSON.encode(.object(parts.mapValues(JSONValue.string)))).map { String(decoding: $0, as: UTF8.self) }
        }
        return DirectoryProfile(userName: userName, externalID: externalID, displayName: displayName, name: nameText)
    }

    /// The resource: `id`, the values held, `emails` (one, primary, work), `active`, `groups` (the role)
    /// and `meta` (version `W/"<the member's last change>"`).
    static func resource(_ member: DirectoryMember, base: String) -> JSONValue {
        let user = SCIMUser(member)
        var out: [String: JSONValue] = [
            "schemas": [.string(SCIM.userSchema)], "id": .string(member.user.value), "userName": .string(user.userName), "active": .bool(user.active),
            "groups": [
                [
                    "value": .string(member.role.rawValue), "display": .string(member.role.rawValue), "$ref": .string(base + "/Groups/" + member.role.rawValue),
                    "type": "direct",
                ],
            ],
            "meta": [
                "resourceType": "User", "created": .string(member.joinedAt.rfc3339), "lastModified": .string(member.changedAt.rfc3339),
                "location": .string(base + "/Users/" + member.user.value), "version": .string(SCIM.etag(member.changedVersion)),
            ],
        ]
        if let email = user.email { out["emails"] = [["value": .string(email), "type": "work", "primary": true]] }
        if let externalID = user.externalID { out["externalId"] = .string(externalID) }
        if let displayName = user.displayName { out["displayName"] = .string(displayName) }
        if let name = user.name, !name.isEmpty { out["name"] = .object(name.mapValues(JSONValue.string)) }
        return .object(out)
    }

    // MARK: PATCH (RFC 7644 §3.5.2)

    /// Applies one operation. `op` is `add`, `remove` or `replace` in any case; a path-less `add` or
    /// `replace` applies each member of its object value; `"True"`/`"False"` strings are booleans.
    /// `userName` and `emails` may be sent again unchanged, never changed (400 `mutability`).
    mutating func apply(op rawOp: String, path rawPath: String?, value: JSONValue?) throws(APIError) {
        let op = rawOp.lowercased()
        guard ["add", "remove", "replace"].contains(op) else { throw Self.invalid("op '\(rawOp)' is not add, remove or replace", scimType: "invalidSyntax") }
        guard let rawPath, !rawPath.isEmpty else {
            guard op != "remove" else { throw Self.invalid("remove needs a path", scimType: "noTarget") }
            guard case .object(let members)? = value else { throw Self.invalid("an operation without a path takes an object value", scimType: "invalidValue") }
            for (key, member) in members.sorted(by: { $0.key < $1.key }) { try apply(op: op, path: key, value: member) }
            return
        }
        let path = SCIMFilter.normalizedPath(rawPath)
        let removing = op == "remove" || value == .null
        switch path {
        case "username":
            guard !removing, case .string(let new)? = value, DirectoryProfile.userNameKey(new) == DirectoryProfile.userNameKey(userName) else {
                throw Self.invalid("userName is immutable", scimType: "mutability")
            }
        case _ where path == "emails" || path.hasPrefix("emails.") || path.hasPrefix("emails["):
            let given: String?
            if case .string(let s)? = value { given = s } else { given = try Self.email(in: value.map { $0.arrayValue == nil ? .array([$0]) : $0 }) }
            guard !removing, let given, Email.parse(given).value == email.flatMap({ Email.parse($0).value }) else {
                throw Self.invalid("emails is immutable here: a member's email changes through their own account", scimType: "mutability")
            }
        case "active":
            guard !removing, let value else { throw Self.invalid("active cannot be removed", scimType: "mutability") }
            active = try Self.bool(value, "active")
        case "externalid":
            externalID = removing ? nil : try Self.optionalString(value, "externalId")
        case "displayname":
            displayName = removing ? nil : try Self.optionalString(value, "displayName")
        case "name":
            if removing {
                name = nil
            } else if op == "add" {
                name = (name ?? [:]).merging(try Self.name(value) ?? [:]) { _, new in new }
            } else {
                name = try Self.name(value)
            }
        case _ where path.hasPrefix("name."):
            guard let part = Self.nameParts.first(where: { $0.lowercased() == path.dropFirst(5) }) else {
                throw Self.invalid("name has no sub-attribute '\(rawPath.split(separator: ".").last ?? "")'", scimType: "invalidPath")
            }
            var parts = name ?? [:]
            parts[part] = removing ? nil : try Self.optionalString(value, path)
            name = parts.isEmpty ? nil : parts
        case "id", "meta", "groups", "schemas":
            throw Self.invalid("\(rawPath) is read-only", scimType: "mutability")
        default:
            break  // an attribute OrgLedger does not keep
        }
    }

    // MARK: Reading values

    static func invalid(_ detail: String, scimType: String) -> APIError {
        APIError(.badRequest, reason: "invalid_input", detail: detail, scimType: scimType)
    }

    /// An object's members by lower-cased name (SCIM attribute names are case-insensitive).
    static func caseInsensitive(_ members: [String: JSONValue]) -> [String: JSONValue] {
        Dictionary(members.map { (SCIMFilter.normalizedPath($0.key), $0.value) }, uniquingKeysWith: { first, _ in first })
    }

    static func optionalString(_ value: JSONValue?, _ field: String) throws(APIError) -> String? {
        switch value {
        case nil, .null?: return nil
        case .string(let s)?: return s
        default: throw invalid("\(field) is a string", scimType: "invalidValue")
        }
    }

    /// A boolean, or the strings `"True"` / `"False"` in any case (Entra ID sends them).
    static func bool(_ value: JSONValue, _ field: String) throws(APIError) -> Bool {
        switch value {
        case .bool(let b): return b
        case .string(let s) where s.lowercased() == "true": return true
        case .string(let s) where s.lowercased() == "false": return false
        default: throw invalid("\(field) is a boolean", scimType: "invalidValue")
        }
    }

    static func name(_ value: JSONValue?) throws(APIError) -> [String: String]? {
        switch value {
        case nil, .null?: return nil
        case .object(let members)?:
            var parts: [String: String] = [:]
            for (key, member) in members {
                guard let part = nameParts.first(where: { $0.lowercased() == key.lowercased() }) else { continue }  // not kept
                if let text = try optionalString(member, "name.\(part)") { parts[part] = text }
            }
            return parts.isEmpty ? nil : parts
        default: throw invalid("name is an object", scimType: "invalidValue")
        }
    }

    /// The primary email of an `emails` value (else the first); nil when there is none.
    static func email(in value: JSONValue?) throws(APIError) -> String? {
        guard let value, value != .null else { return nil }
        guard case .array(let items) = value else { throw invalid("emails is an array", scimType: "invalidValue") }
        var first: String?, primary: String?
        for item in items {
            guard case .object(let raw) = item else { throw invalid("each of emails is an object", scimType: "invalidValue") }
            let members = caseInsensitive(raw)
            guard let address = try optionalString(members["value"], "emails.value") else { continue }
            if first == nil { first = address }
            if let flag = members["primary"], try bool(flag, "emails.primary") { primary = primary ?? address }
        }
        return primary ?? first
    }
}

extension Result {
    var isSuccess: Bool {
        if case .success = self { return true }
        return false
    }

    var value: Success? {
        if case .success(let v) = self { return v }
        return nil
    }
}

/// `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5) on a resource: paths as `a` or `a.b`, any
/// case, with or without a schema URN. `id` and `schemas` are always returned.
enum AttributeSelection {
    static func apply(_ resource: JSONValue, attributes: String?, excluded: String?) -> JSONValue {
        guard case .object(var members) = resource else { return resource }
        func paths(_ text: String) -> [[String]] {
            text.split(separator: ",").map { SCIMFilter.normalizedPath($0.trimmingCharacters(in: .whitespaces)).split(separator: ".").map(String.init) }
        }
        if let attributes, !attributes.isEmpty {
            let wanted = paths(attributes)
            var kept: [String: JSONValue] = [:]
            for (key, value) in members {
                let lower = key.lowercased()
                if lower == "id" || lower == "schemas" { kept[key] = value; continue }
                let asked = wanted.filter { $0.first == lower }
                if asked.contains(where: { $0.count == 1 }) {
                    kept[key] = value
                } else if !asked.isEmpty {
                    // A sub-attribute of a complex attribute, or of each value of a multi-valued one (emails.value).
                    let subs = Set(asked.compactMap { $0.dropFirst().first })
                    if let picked = subAttributes(of: value, where: { subs.contains($0) }) { kept[key] = picked }
                }
            }
            members = kept
        }
        if let excluded, !excluded.isEmpty {
            for path in paths(excluded) {
                guard let key = members.keys.first(where: { $0.lowercased() == path.first }), key.lowercased() != "id", key.lowercased() != "schemas" else { continue }
                if path.count == 1 {
                    members[key] = nil
                } else if let value = members[key] {
                    members[key] = subAttributes(of: value, where: { $0 != path[1] })
                }
            }
        }
        return .object(members)
    }

    /// The sub-attributes (lower-cased names) `keep` accepts, of an object or of each object in an array;
    /// nil when nothing is left.
    private static func subAttributes(of value: JSONValue, where keep: (String) -> Bool) -> JSONValue? {
        switch value {
        case .object(let sub):
            let picked = sub.filter { keep($0.key.lowercased()) }
            return picked.isEmpty ? nil : .object(picked)
        case .array(let items):
            let picked = items.compactMap { subAttributes(of: $0, where: keep) }
            return picked.isEmpty ? nil : .array(picked)
        default:
            return nil
        }
    }
}
