import Hummingbird
import HTTPTypes
import Ledger
import Logging
import NIOCore
import Synchronization

/// Turns every error that reaches the router's edge into a problem document: an unknown path (404), a
/// known path with another method (405, with `Allow`), Hummingbird's own HTTP errors, and
/// a storage failure (`LedgerError`: 507 or 503), and anything unexpected (500, without internals).
struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The registered routes: a known path asked with another method is 405 with `Allow`, not 404.
    let routes: RouteTable

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return error.response(for: request)
        } catch let error as LedgerError {
            // A follower refusing a command is its role, not a failure.
            if error.code == .notWriter {
                context.logger.debug("command sent to a follower", metadata: ["error": "\(error)"])
            } else {
                context.logger.error("storage failed", metadata: ["error": "\(error)"])
            }
            return APIError(error).response(for: request)
        } catch let error as any HTTPResponseError where error.status == .notFound {
            let allowed = routes.methods(forPath: request.uri.path)
            guard !allowed.isEmpty else { return APIError(.notFound, reason: "no_such_route", detail: "no route \(request.method) \(request.uri.path)").response(for: request) }
            return APIError(.methodNotAllowed, reason: "method_not_allowed", detail: "\(request.uri.path) answers \(allowed.joined(separator: ", ")), not \(request.method)",
                headers: [.allow: allowed.joined(separator: ", ")]).response(for: request)
        } catch let error as any HTTPResponseError {
            let reason = error.status == .notFound ? "no_such_route" : error.status == .methodNotAllowed ? "method_not_allowed" : "http_error"
            let detail = error.status == .notFound ? "no route \(request.method) \(request.uri.path)" : error.status.reasonPhrase
            return APIError(error.status, reason: reason, detail: detail).response(for: request)
        } catch {
            context.logger.error("unexpected error", metadata: ["error": "\(error)"])
            return APIError(.internalServerError, reason: "internal", detail: "an unexpected error; nothing was acknowledged").response(for: request)
        }
    }
}

/// Checks every request's headers before any route runs (`Request.checkHeaders`): a read with a bidi
/// control in `X-Request-Id` is refused like a command.
struct HeaderRulesMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        try request.checkHeaders()
        return try await next(request, context)
    }
}

/// Every registered route as (path segments, method), filled once the routes are registered.
final class RouteTable: Sendable {
    private let routes = Mutex<[(segments: [String], method: String)]>([])

    /// `path` in the router's spelling (`/v1/orgs/{org}/members`).
    func load(_ list: [(path: String, method: String)]) {
        routes.withLock { $0 = list.map { (Self.segments($0.path), $0.method) } }
    }

    /// The methods registered for a concrete request path (a `{parameter}` segment matches any one
    /// non-empty segment), sorted; empty for an unknown path.
    func methods(forPath path: String) -> [String] {
        let wanted = Self.segments(path)
        let methods = routes.withLock { routes in
            routes.filter { route in
                route.segments.count == wanted.count && zip(route.segments, wanted).allSatisfy { $0.hasPrefix("{") ? !$1.isEmpty : $0 == $1 }
            }.map(\.method)
        }
        return Array(Set(methods)).sorted()
    }

    private static func segments(_ path: String) -> [String] { path.split(separator: "/", omittingEmptySubsequences: false).map(String.init) }
}

/// Counts every answer of 400 or more (`orgledger_http_errors_total`); outside the problem middleware,
/// so it sees the final status of routes, the router and refused headers alike.
struct ErrorCountMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: APIMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            let response = try await next(request, context)
            if response.status.code >= 400 { metrics.requestError(status: response.status.code) }
            return response
        } catch {
            metrics.requestError(status: (error as? any HTTPResponseError)?.status.code ?? 500)
            throw error
        }
    }
}
