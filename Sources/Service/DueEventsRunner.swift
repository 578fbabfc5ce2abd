import Ledger
import LedgerCore

/// Appends what is due (expiries, handle releases, purges) at start-up and then every `interval`, until
/// its task is cancelled. The clock is injected: the service passes the system clock, tests a fake one.
public struct DueEventsRunner: Sendable {
    public let ledger: any Ledger
    public let clock: @Sendable () -> Timestamp
    public let interval: Duration
    /// Called with each pass's result; a failed pass (a full disk, say) is reported and retried next time.
    public let report: @Sendable (Result<Int, any Error>) -> Void

    public init(
        ledger: any Ledger, clock: @escaping @Sendable () -> Timestamp, interval: Duration = .seconds(60),
        report: @escaping @Sendable (Result<Int, any Error>) -> Void = { _ in }
    ) {
        self.ledger = ledger
        self.clock = clock
        self.interval = interval
        self.report = report
    }

    /// Runs one pass now (unless `afterFirstInterval`: the caller just ran one), then one every
    /// `interval`; returns when the task is cancelled.
    public func run(afterFirstInterval: Bool = false) async {
        if afterFirstInterval {
            do { try await Task.sleep(for: interval) } catch { return }
        }
        while !Task.isCancelled {
            await pass()
            do { try await Task.sleep(for: interval) } catch { return }
        }
    }

    /// Appends what is due now, and reports it.
    public func pass() async {
        do {
            report(.success(try await ledger.appendDue(now: clock())))
        } catch {
            report(.failure(error))
        }
    }
}
