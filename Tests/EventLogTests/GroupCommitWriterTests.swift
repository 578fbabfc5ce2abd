import Foundation
import LMDB
import Synchronization
import Testing
@testable import EventLog

@Suite("Group-commit writer")
struct GroupCommitWriterTests {
    struct Refused: Error, Equatable {}

    /// Holds the writer thread inside a job until `release()`, so that later submissions queue into one batch.
    final class Gate: Sendable {
        private let semaphore = DispatchSemaphore(value: 0)
        func wait() { semaphore.wait() }
        func release() { semaphore.signal() }
    }

    @Test("callers submitted together share one transaction; a job that throws fails alone, leaves nothing, and makes no other job run again")
    func batchingAndIsolation() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let env = try Environment(path: folder.path)
        let db = try env.openDatabase("kv")
        let writer = GroupCommitWriter(environment: env)
        defer { writer.close() }

        let gate = Gate()
        let runs = RunCounter()
        let blocker = Task { try await writer.submit { _ in gate.wait() } }
        try await Task.sleep(for: .milliseconds(50))  // the writer is now inside the blocker's batch

        let results = Task {
            try await withThrowingTaskGroup(of: (Int, Bool).self) { group in
                for i in 0..<40 {
                    group.addTask {
                        do {
                            try await writer.submit { txn in
                                runs.count.withLock { $0 += 1 }
                                try txn.put(in: db, key: "key-\(i)", value: [UInt8(i)])
                                if i == 17 { throw Refused() }  // after writing: the write must not survive
                            }
                            return (i, true)
                        } catch is Refused {
                            return (i, false)
                        }
                    }
                }
                return try await group.reduce(into: [Int: Bool]()) { $0[$1.0] = $1.1 }
            }
        }
        try await Task.sleep(for: .milliseconds(100))  // let all 40 queue up
        gate.release()
        try await blocker.value
        let outcome = try await results.value

        #expect(outcome.count == 40)
        #expect(outcome.filter { !$0.value }.map(\.key) == [17])
        #expect(runs.count.withLock { $0 } == 40, "a failing job made the others of its batch run again")
        for i in 0..<40 {
            let stored = try env.read { try $0.value(in: db, forKey: "key-\(i)") }
            #expect(stored == (i == 17 ? nil : [UInt8(i)]), "key-\(i)")
        }
        let stats = writer.statistics
        #expect(stats.jobs == 40)  // the failed job is not counted as committed; the blocker is
        #expect(stats.largestBatch >= 20, "40 queued submissions should commit in very few batches")
        #expect(stats.batches <= 5)
    }

    @Test("a closed writer refuses new work and finishes what it had")
    func closeDrains() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let env = try Environment(path: folder.path)
        let db = try env.openDatabase("kv")
        let writer = GroupCommitWriter(environment: env)
        let submitted = Task { try await writer.submit { txn in try txn.put(in: db, key: "k", value: [1]) } }
        try await submitted.value
        writer.close()
        let refusal1 = await thrownError {
            try await writer.submit { _ in () }
        }
        #expect(refusal1 is GroupCommitWriter.WriterError)
        #expect(try env.read { try $0.value(in: db, forKey: "k") } == [1])
    }
}

private final class RunCounter: Sendable {
    let count = Mutex(0)
}
