import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// What keeps one client from starving the others (product spec §5): a connection cap below the
/// process's file-descriptor limit, and deadlines for a request's head and body.
public struct ConnectionLimits: Sendable {
    /// Open connections per listener; more wait in the kernel's accept queue until one closes.
    public var maximumConnections: Int
    /// From a connection's start, or the end of its last response, until the next request's head is in:
    /// an idle keep-alive connection is closed after this, and so is one that dribbles its headers.
    public var headerTimeout: TimeAmount
    /// From a request's head until its body has fully arrived.
    public var bodyTimeout: TimeAmount

    public init(maximumConnections: Int = 128, headerTimeout: TimeAmount = .seconds(30), bodyTimeout: TimeAmount = .seconds(30)) {
        self.maximumConnections = maximumConnections
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
    }

    /// At most this many, and never more than a quarter of the file-descriptor limit (each connection is
    /// one descriptor; LMDB, logs and the other listener need theirs).
    func connectionCap() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < rlim_t(Int.max) else { return maximumConnections }
        return max(4, min(maximumConnections, Int(limit.rlim_cur) / 4))
    }

    func serverBuilder(metrics: APIMetrics) -> HTTPServerBuilder {
        let limits = self
        return .http1(configuration: .init(additionalChannelHandlers: [RequestDeadlineHandler(limits: limits), ParserErrorProblemHandler(metrics: metrics)]))
    }
}

/// Closes a connection whose next request head, or whose request body, does not arrive in time. Sits
/// after the HTTP decoder, so it sees request parts; the response side resets the head deadline.
final class RequestDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let limits: ConnectionLimits
    private var deadline: Scheduled<Void>?

    init(limits: ConnectionLimits) { self.limits = limits }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context, limits.headerTimeout) }
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context, limits.headerTimeout)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: arm(context, limits.bodyTimeout)
        case .body: break
        case .end: disarm()  // the request is in; answering it takes what it takes
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { arm(context, limits.headerTimeout) }
        context.write(data, promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { disarm() }

    private func arm(_ context: ChannelHandlerContext, _ timeout: TimeAmount) {
        disarm()
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        deadline = context.eventLoop.scheduleTask(in: timeout) { loopBound.value.close(promise: nil) }
    }

    private func disarm() {
        deadline?.cancel()
        deadline = nil
    }
}

/// The loopback TCP listener answers only requests whose `Host` is `127.0.0.1`, `localhost` or `[::1]`
/// (with the listener's port, if one is given): a web page whose name an attacker re-points at
/// 127.0.0.1 (DNS rebinding) sends its own host name and is refused with 421.
struct LoopbackHostGuard<Inner: HTTPResponder>: HTTPResponder where Inner.Context == BasicRequestContext {
    let inner: Inner
    let port: Int
    let metrics: APIMetrics

    func respond(to request: Request, context: BasicRequestContext) async throws -> Response {
        guard Self.isAllowed(request.head.authority, port: port) else {
            metrics.requestError(status: 421)
            return APIError(HTTPResponse.Status(code: 421, reasonPhrase: "Misdirected Request"), reason: "host_not_allowed",
                detail: "this listener answers only Host 127.0.0.1, localhost or [::1]").response(for: request)
        }
        return try await inner.respond(to: request, context: context)
    }

    static func isAllowed(_ authority: String?, port: Int) -> Bool {
        guard let authority = authority?.lowercased() else { return false }
        for host in ["127.0.0.1", "localhost", "[::1]"] {
            if authority == host || authority == "\(host):\(port)" { return true }
        }
        return false
    }
}

/// The HTTP parser's own refusals (a control character in a header, a malformed request line) as
/// problem documents like every other error (product spec §5), instead of Hummingbird's empty 400.
/// The connection is closed after it: what follows a malformed request cannot be framed.
final class ParserErrorProblemHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias OutboundOut = HTTPResponsePart

    let metrics: APIMetrics

    init(metrics: APIMetrics) { self.metrics = metrics }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard error is HTTPParserError else { return context.fireErrorCaught(error) }
        metrics.requestError(status: 400)
        let problem = APIError(.badRequest, reason: "malformed_http", detail: "the request is not valid HTTP/1.1 (\(error)); nothing was done")
        let body = problem.body
        let head = HTTPResponse(status: .badRequest, headerFields: [
            .contentType: "application/problem+json", .contentLength: String(body.count), .connection: "close",
        ])
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(ByteBuffer(bytes: body))), promise: nil)
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in loopBound.value.close(promise: nil) }
    }
}
