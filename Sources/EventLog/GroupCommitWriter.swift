import Foundation
import LMDB
import Synchronization

/// The single writer: it owns every write transaction of an environment and commits many callers' work at once.
///
/// Callers `submit` a job and await its result. A dedicated thread drains the queue into one LMDB write
/// transaction (up to `maximumBatch` jobs), runs the jobs in submission order, commits once, and only then
/// answers each caller: an answer means durable. A job sees the writes of the jobs before it in the batch.
///
/// Rules for a job:
/// - It runs on the writer's thread inside the transaction; it must not block on other work.
/// - It may run more than once (a full map is grown and the batch re-run), so it must depend only on the
///   transaction's contents and its own captured input.
/// - A refusal (a version conflict, a rule) is a *returned value*, decided before writing anything. A job
///   that *throws* runs in its own nested transaction, so nothing it wrote survives; it is answered with
///   that error once the batch commits, and the others are neither undone nor re-run.
/// - If the commit itself fails (disk full, I/O error), every job of the batch gets that error and nothing
///   of the batch is written.
public final class GroupCommitWriter: @unchecked Sendable {
    public struct Statistics: Sendable, Hashable {
        public var batches: UInt64 = 0
        public var jobs: UInt64 = 0
        public var largestBatch: Int = 0
        public var failedCommits: UInt64 = 0
    }

    public enum WriterError: Error, CustomStringConvertible {
        case closed
        public var description: String { "the writer is closed" }
    }

    public let environment: Environment
    public let maximumBatch: Int

    private let condition = NSCondition()
    private var queue: [any PendingJob] = []  // guarded by condition
    private var closed = false  // guarded by condition
    private let finished = DispatchSemaphore(value: 0)
    private let stats = Mutex(Statistics())
    private let afterCommit: (@Sendable (_ batchSize: Int) -> Void)?

    /// Starts the writer thread; `close()` stops it (the writer lives at least until then). `afterCommit` is called on the writer thread after every successful
    /// commit, before the callers are answered (for metrics).
    public init(environment: Environment, maximumBatch: Int = 1024, afterCommit: (@Sendable (Int) -> Void)? = nil) {
        precondition(maximumBatch >= 1)
        self.environment = environment
        self.maximumBatch = maximumBatch
        self.afterCommit = afterCommit
        // The thread holds the writer until `close()` ends it.
        let thread = Thread { self.run() }
        thread.name = "orgledger-writer"
        thread.start()
    }

    /// Runs `job` in the next batch and returns its result once the batch is committed.
    public func submit<T: Sendable>(_ job: @escaping @Sendable (borrowing WriteTransaction) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let pending = Job(body: job, continuation: continuation)
            condition.lock()
            guard !closed else {
                condition.unlock()
                continuation.resume(throwing: WriterError.closed)
                return
            }
            queue.append(pending)
            condition.signal()
            condition.unlock()
        }
    }

    /// Stops accepting jobs, finishes every job already submitted, and stops the thread. Idempotent.
    public func close() {
        condition.lock()
        let wasClosed = closed
        closed = true
        condition.signal()
        condition.unlock()
        if !wasClosed { finished.wait() }
    }

    public var statistics: Statistics { stats.withLock { $0 } }

    // MARK: The writer thread

    private func run() {
        while true {
            condition.lock()
            while queue.isEmpty && !closed { condition.wait() }
            if queue.isEmpty {
                condition.unlock()
                break
            }
            let batch: [any PendingJob]
            if queue.count <= maximumBatch {
                batch = queue
                queue = []
            } else {
                batch = Array(queue.prefix(maximumBatch))
                queue.removeFirst(maximumBatch)
            }
            condition.unlock()
            process(batch)
        }
        finished.signal()
    }

    /// One transaction for the batch, one nested transaction per job: a job that throws takes only its
    /// own writes with it, and the others are neither undone nor run again (a failing job costs only
    /// itself). A full map is the environment's to handle: it grows the map and runs the batch again.
    private func process(_ batch: [any PendingJob]) {
        var failures: [Int: any Error] = [:]
        do {
            try environment.write { txn in
                failures = [:]  // the environment may run this closure again after growing the map
                for (index, job) in batch.enumerated() {
                    do {
                        let child = try txn.child()
                        try job.run(child)  // a throw drops `child`, which aborts it
                        try child.commitChild()
                    } catch {
                        if case LMDBError.mapFull = error { throw error }
                        if case LMDBError.mapResized = error { throw error }
                        failures[index] = error
                    }
                }
            }
        } catch {
            stats.withLock { $0.failedCommits += 1 }
            for job in batch { job.fail(error) }
            return
        }
        let size = batch.count - failures.count
        stats.withLock {
            $0.batches += 1
            $0.jobs += UInt64(size)
            $0.largestBatch = max($0.largestBatch, size)
        }
        afterCommit?(size)
        for (index, job) in batch.enumerated() {
            if let error = failures[index] { job.fail(error) } else { job.succeed() }
        }
    }
}

private protocol PendingJob: AnyObject {
    func run(_ txn: borrowing WriteTransaction) throws
    func succeed()
    func fail(_ error: any Error)
}

private final class Job<T: Sendable>: PendingJob {
    let body: @Sendable (borrowing WriteTransaction) throws -> T
    let continuation: CheckedContinuation<T, any Error>
    var result: T?

    init(body: @escaping @Sendable (borrowing WriteTransaction) throws -> T, continuation: CheckedContinuation<T, any Error>) {
        self.body = body
        self.continuation = continuation
    }

    func run(_ txn: borrowing WriteTransaction) throws { result = try body(txn) }
    /// Hands the result over (the job keeps no copy of it).
    func succeed() { continuation.resume(returning: result.take()!) }
    func fail(_ error: any Error) { continuation.resume(throwing: error) }
}
