import Foundation
import HTTPTypes
import NIOCore
import Hummingbird
import LedgerCore
import OrgDomain

extension HTTPField.Name {
    static let xActor = Self("X-Actor")!
    static let xRequestID = Self("X-Request-Id")!
    static let xClientIP = Self("X-Client-IP")!
    static let idempotencyKey = Self("Idempotency-Key")!
    static let idempotentReplayed = Self("Idempotent-Replayed")!
}

/// The largest request body accepted (413 beyond it).
let maximumBodySize = 1 << 20

extension Request {
    /// A header that may appear at most once: a repeated one is 400 (HTTP would join the copies with
    /// commas, and `ada@example.com,` must not become somebody). Its value must hold no C0 or C1
    /// control, DEL, line or paragraph separator or bidi control (400).
    func singleHeader(_ name: HTTPField.Name) throws(APIError) -> String? {
        let values = headers[values: name]
        guard values.count <= 1 else { throw APIError.invalid(name.rawName, "must be sent once, not \(values.count) times") }
        guard let value = values.first else { return nil }
        if let bad = value.unicodeScalars.first(where: EventMeta.isForbidden) {
            throw APIError.invalid(name.rawName, "must not contain the character U+\(String(bad.value, radix: 16, uppercase: true))")
        }
        return value
    }

    /// The actor named by `X-Actor`, normalized like any email; required (401 without it). The ledger
    /// resolves it to a user (product spec §7).
    func actor() throws(APIError) -> Email {
        guard let raw = try singleHeader(.xActor), !raw.isEmpty else {
            throw APIError(.unauthorized, reason: "no_actor", detail: "say who acts: send X-Actor with your email")
        }
        if raw.trimmingCharacters(in: .whitespaces).lowercased() == "system" {
            throw APIError(.forbidden, reason: "system_actor", detail: "'system' is the service itself and cannot be claimed")
        }
        switch Email.parse(raw, field: "X-Actor") {
        case .success(let email): return email
        case .failure(let error): throw APIError.invalid([error])
        }
    }

    /// Every request's headers by the rules of product spec §5, whether or not it is a command: the
    /// recorded ones (`meta`) and `X-Actor` at most once each and free of controls and bidi.
    func checkHeaders() throws(APIError) {
        _ = try meta()
        _ = try singleHeader(.xActor)
    }

    /// The request context recorded in each event's `meta`: each header at most once, its value by
    /// `EventMeta.problem` (no controls or bidi, at most 512 bytes; `X-Client-IP` an IP address;
    /// `Idempotency-Key` 1–255 printable ASCII). Without `recordingContext` the client's IP and user
    /// agent are checked but not recorded (`--retain-request-context 0`).
    func meta(recordingContext: Bool = true) throws(APIError) -> EventMeta {
        func header(_ name: HTTPField.Name, _ field: EventMeta.Field) throws(APIError) -> String? {
            // Present but empty is "not sent", but for the idempotency key: an empty one is a client bug.
            guard let value = try singleHeader(name), !value.isEmpty || field == .idempotencyKey else { return nil }
            if let why = EventMeta.problem(field, value) { throw APIError.invalid(name.rawName, why) }
            return value
        }
        // The client's IP and user agent are personal values: the event gets commitments under fresh
        // salts, the personal-data store the values (product spec §8).
        let clientIP = try header(.xClientIP, .clientIP), userAgent = try header(.userAgent, .userAgent)
        return EventMeta(
            requestId: try header(.xRequestID, .requestId), clientIP: recordingContext ? clientIP.map { PersonalValue(committing: $0) } : nil,
            userAgent: recordingContext ? userAgent.map { PersonalValue(committing: $0) } : nil, idempotencyKey: try header(.idempotencyKey, .idempotencyKey))
    }

    /// `If-Match: "<version>"` (also `W/"<version>"` or a bare number), or nil.
    func ifMatch() throws(APIError) -> UInt64? {
        guard var value = headers[.ifMatch]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        if value.hasPrefix("W/") { value.removeFirst(2) }
        value = value.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        guard let version = UInt64(value) else { throw APIError.invalid("If-Match", "must be an org version as given in ETag, e.g. \"3\"") }
        return version
    }

    /// The JSON object body: `application/json` (415 otherwise), at most 1 MiB (413), strict JSON (400).
    func jsonObject() async throws -> [String: JSONValue] {
        guard MediaType.isJSON(headers[.contentType]) else {
            throw APIError(.unsupportedMediaType, reason: "unsupported_media_type", detail: "send the body as application/json")
        }
        let buffer: ByteBuffer
        do {
            buffer = try await body.collect(upTo: maximumBodySize)
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, reason: "body_too_large", detail: "the body is larger than \(maximumBodySize) bytes")
        }
        let value: JSONValue
        do {
            value = try JSONParser.parse(buffer.readableBytesView)
        } catch {
            throw APIError(.badRequest, reason: "malformed_json", detail: error.description)
        }
        guard case .object(let members) = value else { throw APIError(.badRequest, reason: "malformed_json", detail: "the body must be a JSON object") }
        return members
    }

    func query(_ name: String) -> String? { uri.queryParameters.get(name) }

    /// The `Link: <…>; rel="next"` header for a list: this request's path and every query parameter as
    /// sent, with `name` (the cursor) set to `value`.
    func nextLink(_ name: String, _ value: String) -> HTTPFields {
        var items = (URLComponents(string: uri.description)?.queryItems ?? []).filter { $0.name != name }
        items.append(URLQueryItem(name: name, value: value))
        var components = URLComponents()
        components.percentEncodedPath = uri.path
        components.queryItems = items
        // `+` is a space in a query to many servers: encode it, as a cursor or an email may hold one.
        components.percentEncodedQuery = components.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        return [.link: "<\(components.string ?? uri.path)>; rel=\"next\""]
    }
}

extension BasicRequestContext {
    /// A path parameter, percent-decoded: Hummingbird hands segments over as sent, and an `{email}`
    /// with any non-ASCII character arrives encoded. Undecodable (`%zz`, invalid UTF-8) is 400.
    func segment(_ name: String) throws(APIError) -> String {
        guard let raw = parameters.get(name) else { throw APIError.notFound("no \(name) in the path") }
        guard let decoded = raw.removingPercentEncoding else { throw APIError.invalid(name, "is not a valid percent-encoded path segment") }
        return decoded
    }
}

extension HTTPField.Name {
    static let link = Self("Link")!
}

/// `Content-Type` checks: the media type itself, parameters aside.
enum MediaType {
    /// `application/json` or `application/<anything>+json`, any case, parameters (`; charset=utf-8`)
    /// allowed; nothing that merely starts with it (`application/jsonx`).
    static func isJSON(_ header: String?) -> Bool {
        guard let header else { return false }
        let type = header.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false)[0]
            .trimmingCharacters(in: .whitespaces).lowercased()
        if type == "application/json" { return true }
        guard type.hasPrefix("application/"), type.hasSuffix("+json") else { return false }
        let subtype = type.dropFirst("application/".count).dropLast("+json".count)
        return !subtype.isEmpty && subtype.allSatisfy { $0.isLetter || $0.isNumber || "!#$&-^_.".contains($0) }
    }
}

import Foundation

/// Typed access to a request body's members; errors name the field.
struct Body {
    let members: [String: JSONValue]
    private(set) var errors: [FieldError] = []

    init(_ members: [String: JSONValue], allowed: Set<String>) {
        self.members = members
        for key in members.keys.sorted() where !allowed.contains(key) {
            errors.append(FieldError(field: key, message: "is not a known field"))
        }
    }

    mutating func string(_ key: String, required: Bool = true) -> String? {
        switch members[key] {
        case .string(let s)?: return s
        case nil:
            if required { errors.append(FieldError(field: key, message: "is required")) }
            return nil
        default:
            errors.append(FieldError(field: key, message: "must be a string"))
            return nil
        }
    }

    /// A present-but-null member is `.some(nil)`; an absent one `nil`.
    mutating func nullableString(_ key: String) -> String?? {
        switch members[key] {
        case nil: return nil
        case .null?: return .some(nil)
        case .string(let s)?: return .some(s)
        default:
            errors.append(FieldError(field: key, message: "must be a string or null"))
            return nil
        }
    }

    mutating func int(_ key: String) -> Int? {
        switch members[key] {
        case nil, .null?: return nil
        case .int(let n)?: return Int(exactly: n)
        default:
            errors.append(FieldError(field: key, message: "must be an integer"))
            return nil
        }
    }

    mutating func strings(_ key: String) -> [String]? {
        guard case .array(let items)? = members[key] else {
            errors.append(FieldError(field: key, message: members[key] == nil ? "is required" : "must be an array of strings"))
            return nil
        }
        var out: [String] = []
        for (index, item) in items.enumerated() {
            guard case .string(let s) = item else {
                errors.append(FieldError(field: "\(key)[\(index)]", message: "must be a string"))
                continue
            }
            out.append(s)
        }
        return out
    }

    func check() throws(APIError) {
        if !errors.isEmpty { throw APIError.invalid(errors) }
    }
}

/// JSON responses.
enum Reply {
    static func raw(_ status: HTTPResponse.Status = .ok, _ bytes: [UInt8], etag: UInt64? = nil, headers extra: HTTPFields = [:]) -> Response {
        var headers = extra
        headers[.contentType] = "application/json"
        if let etag { headers[.eTag] = "\"\(etag)\"" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func json(status: HTTPResponse.Status = .ok, _ value: JSONValue, etag: UInt64? = nil, headers: HTTPFields = [:]) -> Response {
        raw(status, (try? CanonicalJSON.encode(value)) ?? [], etag: etag, headers: headers)
    }

    /// Stored canonical rows as a JSON value (they are parsed back only to nest them).
    static func value(_ row: [UInt8]) -> JSONValue { (try? JSONParser.parse(row)) ?? .null }

    /// `{"<key>":[row,row,…],"next_cursor":<cursor>}` spliced from stored canonical rows: no parsing and
    /// re-encoding of every row (the member list and audit page hot path). Members are in sorted order.
    static func page(_ key: StaticString, rows: some Sequence<[UInt8]>, nextCursor: String?, headers: HTTPFields = [:]) -> Response {
        var out: [UInt8] = Array("{\"".utf8)
        out.append(contentsOf: UnsafeBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount))
        out.append(contentsOf: "\":[".utf8)
        var first = true
        for row in rows {
            if !first { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: row)
            first = false
        }
        out.append(contentsOf: "],\"next_cursor\":".utf8)
        if let nextCursor { CanonicalJSON.writeString(nextCursor, into: &out) } else { out.append(contentsOf: "null".utf8) }
        out.append(UInt8(ascii: "}"))
        return raw(.ok, out, headers: headers)
    }
}
