import Hummingbird
import HTTPTypes
import NIOCore

/// Turns every error that reaches the router's edge into a problem document: an unknown path (404), a
/// known path with another method (405, with `Allow`-less detail), Hummingbird's own HTTP errors, and
/// anything unexpected (500, without internals). Route handlers answer their own `APIError`s.
struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return error.response
        } catch let error as any HTTPResponseError {
            let reason = error.status == .notFound ? "no_such_route" : error.status == .methodNotAllowed ? "method_not_allowed" : "http_error"
            let detail = error.status == .notFound ? "no route \(request.method) \(request.uri.path)" : error.status.reasonPhrase
            return APIError(error.status, reason: reason, detail: detail).response
        } catch {
            context.logger.error("unexpected error", metadata: ["error": "\(error)"])
            return APIError(.internalServerError, reason: "internal", detail: "an unexpected error; nothing was acknowledged").response
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
