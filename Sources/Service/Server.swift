import Foundation
import Hummingbird
import HummingbirdCore
import Ledger
import LedgerCore
import Logging
import Metrics
import NIOCore
import OrgDomain
import Prometheus
import ServiceLifecycle
import UnixSignals
import Synchronization

/// `orgledger serve`: one ledger, one socket, one service group.
public struct ServerOptions: Sendable {
    /// What the ledger is (a data folder), for the log.
    public var ledgerDescription: String
    public var socketPath: String
    /// Also listen on a loopback TCP port (for tools that cannot speak to a socket).
    public var tcp: (host: String, port: Int)?
    /// File mode of the socket: its permissions are the gate to the whole service.
    public var socketMode: mode_t = 0o600
    public var dueInterval: Duration = .seconds(60)
    public var limits = ConnectionLimits()
    /// Who may call `/v1/admin/…` (`--operator`, `ORGLEDGER_OPERATORS`).
    public var operators: Set<Email> = []
    /// Whether commands record `client_ip` and `user_agent` (`--retain-request-context 0`: never stored).
    public var recordsRequestContext = true

    public init(ledgerDescription: String, socketPath: String, tcp: (host: String, port: Int)? = nil, socketMode: mode_t = 0o600) {
        self.ledgerDescription = ledgerDescription
        self.socketPath = socketPath
        self.tcp = tcp
        self.socketMode = socketMode
    }
}

public enum ServeError: Error, CustomStringConvertible {
    case socketInUse(String)
    case socketLocked(String)
    case notASocket(String)
    case io(String)

    public var description: String {
        switch self {
        case .socketInUse(let path): "a live OrgLedger service already answers on \(path); not taking it over"
        case .socketLocked(let path): "another OrgLedger service holds \(path) (its lock file \(path).lock is taken); not taking it over"
        case .notASocket(let path): "\(path) exists and is not a socket; not touching it (choose another --socket path)"
        case .io(let message): message
        }
    }
}

public enum OrgLedgerServer {
    /// Runs until SIGTERM or SIGINT: then no new connections, every accepted request answered, the
    /// ledger closed (its accepted commands finished), the socket removed. `openLedger` is called once,
    /// with the hook its writer calls after each commit (the batch size), after the socket is checked.
    public static func run(
        _ options: ServerOptions, openLedger: (_ afterCommit: @escaping @Sendable (Int) -> Void) async throws -> any Ledger, logger: Logger
    ) async throws {
        // One service per socket: a lock beside the socket, then a refusal if a live service answers there.
        let socketLock = try SocketGuard(path: options.socketPath)

        let metrics = APIMetrics()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: metrics.registry))
        let ledger = try await openLedger { size in metrics.committed(batchSize: size) }
        metrics.headSeq.set(Double(try await ledger.head().seq))
        let responder = router(LedgerAPI(ledger: ledger, metrics: metrics, operators: options.operators, recordsRequestContext: options.recordsRequestContext)).buildResponder()

        let dueEvents = DueEventsRunner(ledger: ledger, clock: SystemClock.now, interval: options.dueInterval) { result in
            switch result {
            case .success(let count) where count > 0: logger.info("appended due events", metadata: ["count": "\(count)"])
            case .failure(let error): logger.error("due events failed; retrying next tick", metadata: ["error": "\(error)"])
            default: break
            }
        }
        // What fell due while the service was down is appended before the first request is answered.
        await dueEvents.pass()

        // The socket is created by bind(2) with the process umask: set it so the file starts at the
        // requested mode, with no window in which it is wider.
        let previousMask = umask(~options.socketMode & 0o777)
        var services: [any Service] = [
            LedgerService(ledger: ledger),
            DueEventsService(runner: dueEvents),
            CheckpointService(ledger: ledger, interval: .milliseconds(500), logger: logger),
        ]
        let cap = options.limits.connectionCap()
        let configuration = ApplicationConfiguration(
            address: .unixDomainSocket(path: options.socketPath), serverName: nil, availableConnectionsDelegate: MaximumAvailableConnections(cap))
        services.append(Application(responder: responder, server: options.limits.serverBuilder(metrics: metrics), configuration: configuration, onServerRunning: { _ in
            umask(previousMask)
            chmod(options.socketPath, options.socketMode)
            socketLock.adoptCreatedSocket()
            logger.notice("serving", metadata: ["socket": "\(options.socketPath)", "ledger": "\(options.ledgerDescription)"])
        }, logger: logger))
        if let tcp = options.tcp {
            let address = ApplicationConfiguration(
                address: .hostname(tcp.host, port: tcp.port), serverName: nil, availableConnectionsDelegate: MaximumAvailableConnections(cap))
            services.append(Application(
                responder: LoopbackHostGuard(inner: responder, port: tcp.port, metrics: metrics), server: options.limits.serverBuilder(metrics: metrics),
                configuration: address, logger: logger))
        }
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        defer { socketLock.removeCreatedSocket() }
        try await group.run()
    }
}

/// Holds `<socket>.lock` for the life of the process and refuses a socket that a live service answers
/// on, or a path that is not a socket at all (a data file given as `--socket` must never be touched). A
/// socket file nobody answers on (left by a crash) is stale: NIO replaces it when binding, after
/// checking that it is a socket.
///
/// On stop it unlinks only the socket this process created — the same inode it saw after binding — and
/// then its lock file.
final class SocketGuard: Sendable {
    private let fd: Int32
    private let path: String
    private let created = Mutex<(dev: UInt64, ino: UInt64)?>(nil)

    init(path: String) throws {
        self.path = path
        var info = stat()
        if lstat(path, &info) == 0, info.st_mode & S_IFMT != S_IFSOCK {
            throw ServeError.notASocket(path)
        }
        let lockPath = path + ".lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw ServeError.io("cannot open \(lockPath): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw ServeError.socketLocked(path)
        }
        self.fd = fd
        if UnixSocket.answers(path) {
            close(fd)
            throw ServeError.socketInUse(path)
        }
    }

    /// Called once the server listens: remembers which file is ours.
    func adoptCreatedSocket() {
        var info = stat()
        guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFSOCK else { return }
        created.withLock { $0 = (UInt64(info.st_dev), UInt64(info.st_ino)) }
    }

    /// Unlinks the socket if it is still the one this process created, and the lock file.
    func removeCreatedSocket() {
        if let ours = created.withLock({ $0 }) {
            var info = stat()
            if lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFSOCK, UInt64(info.st_dev) == ours.dev, UInt64(info.st_ino) == ours.ino {
                unlink(path)
            }
        }
        // Unlinked while still locked: a second service that opened the old file fails its non-blocking
        // lock and stops; one that comes later creates a fresh file.
        unlink(path + ".lock")
    }

    deinit {
        flock(fd, LOCK_UN)
        close(fd)
    }
}

/// Closes the ledger (finishing the accepted commands) once the service group shuts down — after the
/// HTTP servers, which are later in the group and stop first.
struct LedgerService: Service {
    let ledger: any Ledger
    func run() async throws {
        await cancelWhenGracefulShutdown { await ledger.maintain() }
        try? await gracefulShutdown()
        ledger.close()
    }
}

struct DueEventsService: Service {
    let runner: DueEventsRunner
    func run() async throws {
        try await cancelWhenGracefulShutdown { await runner.run(afterFirstInterval: true) }
    }
}

extension OrgLedgerServer {
    /// The API's router with the middleware every request passes (metrics, logging, error counts,
    /// problem documents, header rules): what the server answers with, and what in-process tests drive.
    public static func router(_ api: LedgerAPI) -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: RequestLogMiddleware())
        router.add(middleware: ErrorCountMiddleware(metrics: api.metrics))
        let routes = RouteTable()
        router.add(middleware: ProblemMiddleware(routes: routes))
        router.add(middleware: HeaderRulesMiddleware())
        api.register(on: router)
        routes.load(router.routes.map { ($0.path.description, $0.method.rawValue) })
        return router
    }

    /// Every route the server registers, as "METHOD /path/{param}" (OpenAPI's spelling), sorted.
    public static func routes(of ledger: any Ledger) -> [String] {
        let router = Router()
        LedgerAPI(ledger: ledger).register(on: router)
        return router.routes.map { "\($0.method.rawValue) \($0.path.description)" }.sorted()
    }
}
