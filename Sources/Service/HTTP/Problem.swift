import Foundation
import HTTPTypes
import NIOCore
import Hummingbird
import Ledger
import LedgerCore
import OrgDomain

/// An error answered as an RFC 9457 problem document (`application/problem+json`):
/// `{type, title, status, detail, reason, errors?}`. Domain refusals are mapped to statuses here and
/// nowhere else. It renders itself (Hummingbird's `HTTPResponseError`): a route throws it and the
/// response is made from it, with no wrapper in the handler.
public struct APIError: HTTPResponseError, Sendable {
    public let status: HTTPResponse.Status
    /// A stable machine-readable reason (`last_owner`, `invalid_input`, …); `type` is `urn:orgledger:problem:<reason>`.
    public let reason: String
    public let detail: String
    public var errors: [FieldError] = []
    /// The orgs a `sole_owner` refusal names (their handles).
    public var orgs: [String] = []
    public var headers: HTTPFields = [:]
    /// RFC 7644 §3.12's `scimType` when `/scim/v2` answers it (`uniqueness`, `invalidValue`, …); nil
    /// for errors that have none. Derived from `reason` unless a SCIM route says it.
    public var scimType: String?

    public init(_ status: HTTPResponse.Status, reason: String, detail: String, errors: [FieldError] = [], headers: HTTPFields = [:], scimType: String? = nil) {
        self.status = status
        self.reason = reason
        self.detail = detail
        self.errors = errors
        self.headers = headers
        self.scimType = scimType ?? Self.scimType(of: reason)
    }

    /// The `scimType` of the refusals SCIM can meet (RFC 7644 §3.12, table 9).
    static func scimType(of reason: String) -> String? {
        switch reason {
        case Refusal.Reason.invalidInput.rawValue, Refusal.Reason.confirmationMismatch.rawValue: "invalidValue"
        case Refusal.Reason.alreadyMember.rawValue, Refusal.Reason.userNameTaken.rawValue: "uniqueness"
        case "malformed_json", "unsupported_media_type": "invalidSyntax"
        default: nil
        }
    }

    /// A failure of the storage: 507 when it is full (nothing was written; reads keep working), 503 for
    /// an I/O failure (the request may be retried; nothing about it was wrong), 500 for damaged data.
    public init(_ error: LedgerError) {
        switch error.code {
        case .storageFull:
            self.init(
                HTTPResponse.Status(code: 507, reasonPhrase: "Insufficient Storage"), reason: "disk_full",
                detail: "the disk is full; nothing was written. Reads keep working; retry once there is room.")
        case .io:
            self.init(.serviceUnavailable, reason: "storage_unavailable", detail: "the storage failed to read or write; retry later", headers: [.retryAfter: "1"])
        case .notWriter:
            self.init(
                .serviceUnavailable, reason: "not_writer", detail: "this instance does not write now; send commands to the writer, or retry once a standby has taken over",
                headers: [.retryAfter: "1"])
        case .corrupt:
            // Retrying does not heal damaged data: an operator must (verify, rebuild or restore).
            self.init(.internalServerError, reason: "storage_corrupt", detail: "stored data could not be read; nothing was written")
        }
    }

    public init(_ refusal: Refusal) {
        let status: HTTPResponse.Status = switch refusal.kind {
        case .invalid: .badRequest
        case .unauthenticated: .unauthorized
        case .forbidden: .forbidden
        case .notFound: .notFound
        case .conflict: .conflict
        case .gone: .gone
        }
        self.init(status, reason: refusal.reason.rawValue, detail: refusal.message, errors: refusal.errors)
        orgs = refusal.orgs
    }

    public static func invalid(_ errors: [FieldError]) -> APIError { APIError(Refusal.invalid(errors)) }

    public static func invalid(_ field: String, _ message: String) -> APIError { invalid([FieldError(field: field, message: message)]) }

    public static func notFound(_ detail: String) -> APIError { APIError(.notFound, reason: "not_found", detail: detail) }

    public var body: [UInt8] {
        var members: [String: JSONValue] = [
            "type": .string("urn:orgledger:problem:\(reason)"), "title": .string(status.reasonPhrase),
            "status": .int(Int64(status.code)), "detail": .string(detail), "reason": .string(reason),
        ]
        if !errors.isEmpty {
            members["errors"] = .array(errors.map { ["field": .string($0.field), "message": .string($0.message)] })
        }
        if !orgs.isEmpty { members["orgs"] = .array(orgs.map(JSONValue.string)) }
        return (try? CanonicalJSON.encode(.object(members))) ?? []
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response { response(for: request) }

    /// The answer in the form the path speaks: RFC 7644's error under `/scim/`, a problem document elsewhere.
    public func response(for request: Request) -> Response { SCIM.isSCIMPath(request.uri.path) ? scimResponse : response }

    /// RFC 7644 §3.12: `{"schemas": [Error], "status": "<code>", "scimType"?, "detail"}`; the field
    /// errors of invalid input are in `detail`.
    public var scimResponse: Response {
        var members: [String: JSONValue] = [
            "schemas": [.string(SCIM.errorSchema)], "status": .string(String(status.code)),
            "detail": .string(errors.isEmpty ? detail : detail + " (" + errors.map(\.description).joined(separator: "; ") + ")"),
        ]
        if let scimType { members["scimType"] = .string(scimType) }
        var headers = self.headers
        headers[.contentType] = SCIM.mediaType
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer realm=\"orgledger-scim\"" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: (try? CanonicalJSON.encode(.object(members))) ?? [])))
    }

    public var response: Response {
        var headers = self.headers
        headers[.contentType] = "application/problem+json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
