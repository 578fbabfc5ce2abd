import Ledger
import Logging
import ServiceLifecycle

/// Signs a checkpoint of the tree whenever the log has grown, every `interval` (product spec §9: at
/// least once a second while the log grows), and once at start-up. A failed signing (a full disk) is
/// logged and retried at the next tick; nothing else waits for it.
struct CheckpointService: Service {
    let ledger: any Ledger
    let interval: Duration
    let logger: Logger

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    _ = try await ledger.signCheckpoint()
                } catch let error as LedgerError where error.code == .notWriter {
                    // A follower before the writer's first checkpoint: the writer signs.
                } catch {
                    logger.error("signing a checkpoint failed; retrying next tick", metadata: ["error": "\(error)"])
                }
                do { try await Task.sleep(for: interval) } catch { return }
            }
        }
    }
}
