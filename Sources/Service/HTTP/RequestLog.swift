import Hummingbird
import Logging

/// Logs each request (at debug) by its method and route pattern — `/v1/orgs/{org}/members/{email}`,
/// never the path as sent: paths carry emails, and a log is no place for personal values (product spec
/// §8). Hummingbird's `LogRequestsMiddleware` logs the full URI, so it is not used.
struct RequestLogMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        context.logger.debug(
            "Request", metadata: ["hb.request.route": .string(context.endpointPath ?? "(no route)"), "hb.request.method": .string(request.method.rawValue)])
        return try await next(request, context)
    }
}
