import Foundation
import HTTPTypes
import NIOCore
import Prometheus
import Projections

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
        applied = registry.makeCounter(descriptor: .init(metricName: "orgledger_commands_total"), labels: [("outcome", "applied")])
        refused = registry.makeCounter(descriptor: .init(metricName: "orgledger_commands_total"), labels: [("outcome", "refused")])
        replayed = registry.makeCounter(descriptor: .init(metricName: "orgledger_commands_total"), labels: [("outcome", "replayed")])
        headSeq = registry.makeGauge(descriptor: .init(metricName: "orgledger_log_head_seq"))
        appends = registry.makeCounter(descriptor: .init(metricName: "orgledger_commits_total"))
        eventsAppended = registry.makeCounter(descriptor: .init(metricName: "orgledger_events_appended_total"))
        batchSize = registry.makeValueHistogram(name: "orgledger_commit_batch_size", buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024])
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
