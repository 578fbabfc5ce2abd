import Foundation
import HTTPTypes
import NIOCore
import Prometheus
import Synchronization
import Ledger

/// The service's Prometheus metrics (`GET /metrics`) on one registry. Request counts and latency by
/// route and status come from Hummingbird's `MetricsMiddleware` through swift-metrics, bootstrapped onto
/// this registry by `serve`; the ledger's own figures are registered here.
public final class APIMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let applied: Prometheus.Counter
    private let refused: Prometheus.Counter
    private let replayed: Prometheus.Counter
    let headSeq: Prometheus.Gauge
    let batchSize: ValueHistogram
    let appends: Prometheus.Counter
    let eventsAppended: Prometheus.Counter

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        let commands = "Commands answered, by outcome: applied (durable), refused (a rule, If-Match or a reused idempotency key), replayed (an idempotent repeat)."
        applied = registry.makeCounter(name: "orgledger_commands_total", labels: [("outcome", "applied")], help: commands)
        refused = registry.makeCounter(name: "orgledger_commands_total", labels: [("outcome", "refused")], help: commands)
        replayed = registry.makeCounter(name: "orgledger_commands_total", labels: [("outcome", "replayed")], help: commands)
        headSeq = registry.makeGauge(name: "orgledger_log_head_seq", help: "The seq of the newest event in the log.")
        appends = registry.makeCounter(name: "orgledger_commits_total", help: "Write transactions committed by the group-commit writer.")
        eventsAppended = registry.makeCounter(name: "orgledger_events_appended_total", help: "Events appended to orgs' streams by commands (the log's own count, user events included, is orgledger_log_head_seq).")
        batchSize = registry.makeValueHistogram(
            name: "orgledger_commit_batch_size", buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024], help: "Jobs committed together in one write transaction.")
    }

    /// Answers with status 400 or more, by status: every refusal and failure the API answered, whether a
    /// route, the router, the loopback listener's Host check or the HTTP parser's problem made it.
    /// (Hummingbird's `hb_request_errors` counts only errors thrown past the routes, which answer their
    /// own problems.)
    func requestError(status: Int) {
        errors.withLock { counters in
            let counter = counters[status] ?? registry.makeCounter(name: "orgledger_http_errors_total", labels: [("status", String(status))], help: Self.errorsHelp)
            counters[status] = counter
            counter.increment()
        }
    }

    private static let errorsHelp = "HTTP answers with a status of 400 or more, by status."
    private let errors = Mutex<[Int: Prometheus.Counter]>([:])

    /// Help texts for the metrics Hummingbird records through swift-metrics (which carries none).
    static let frameworkHelp = [
        "hb_requests": "HTTP requests answered, by endpoint, method and status.",
        "hb_request_errors": "HTTP requests whose handler threw past the routes (routes answer their own problems; see orgledger_http_errors_total).",
        "hb_request_duration_seconds": "Time to answer an HTTP request, by endpoint, method and status.",
        "hb_active_requests": "HTTP requests being answered now, by method.",
    ]

    /// The Prometheus text exposition, with a `# HELP` line before every metric's `# TYPE` line.
    public func exposition() -> [UInt8] {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        var out: [String] = []
        var lastHelp: String?
        for line in String(decoding: buffer, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("# HELP ") { lastHelp = line.split(separator: " ").dropFirst(2).first.map(String.init) }
            if line.hasPrefix("# TYPE "), let name = line.split(separator: " ").dropFirst(2).first.map(String.init), name != lastHelp {
                out.append("# HELP \(name) \(Self.frameworkHelp[name] ?? "Recorded by the HTTP framework.")")
            }
            out.append(String(line))
        }
        return Array(out.joined(separator: "\n").utf8)
    }

    func command(_ outcome: CommandOutcome) {
        switch outcome {
        case .applied(_, let events, _):
            applied.increment()
            eventsAppended.increment(by: Int64(events.count))
            if let last = events.last { headSeq.set(Double(last.seq)) }
        case .refused, .versionMismatch, .idempotencyKeyReused: refused.increment()
        case .replayed: replayed.increment()
        }
    }

    /// Called by the writer after each commit.
    public func committed(batchSize size: Int) {
        appends.increment()
        batchSize.record(Double(size))
    }
}
