import LedgerCore
import Synchronization

/// The event log in memory, for fast tests. Same contract as `LMDBEventLog`, no durability.
public final class InMemoryEventLog: EventLog {
    private struct State {
        var events: [RecordedEvent] = []
        var streams: [String: [Int]] = [:]  // stream → indexes into events, by version
    }

    private let state = Mutex(State())

    public init() {}

    public func append(_ request: AppendRequest) async throws -> AppendReceipt {
        let outcome: Result<AppendReceipt, AppendError> = state.withLock { state in
            let current = UInt64(state.streams[request.stream]?.count ?? 0)
            let head = state.events.last.map { LogHead(seq: $0.seq, hash: $0.hash) } ?? .empty
            return seal(request, streamVersion: current, head: head).map { recorded in
                for event in recorded {
                    state.streams[request.stream, default: []].append(state.events.count)
                    state.events.append(event)
                }
                return AppendReceipt(events: recorded)
            }
        }
        // Not `outcome.get()` nor a throw inside `withLock`: see LMDBEventLog.append.
        switch outcome {
        case .success(let receipt): return receipt
        case .failure(let refusal): throw refusal as any Error
        }
    }

    public func events(after seq: UInt64, limit: Int) throws -> [RecordedEvent] {
        state.withLock { state in
            guard seq < UInt64(state.events.count), limit > 0 else { return [] }
            let start = Int(seq)
            return Array(state.events[start..<min(state.events.count, start + limit)])
        }
    }

    public func events(inStream stream: String, fromVersion: UInt64, limit: Int) throws -> [RecordedEvent] {
        state.withLock { state in
            guard let indexes = state.streams[stream], limit > 0 else { return [] }
            let start = Int(max(fromVersion, 1) - 1)
            guard start < indexes.count else { return [] }
            return indexes[start..<min(indexes.count, start + limit)].map { state.events[$0] }
        }
    }

    public func version(ofStream stream: String) throws -> UInt64 {
        state.withLock { UInt64($0.streams[stream]?.count ?? 0) }
    }

    public func head() throws -> LogHead {
        state.withLock { state in state.events.last.map { LogHead(seq: $0.seq, hash: $0.hash) } ?? .empty }
    }

    public func verifyChain(progress: ((UInt64) -> Void)? = nil) throws -> ChainReport {
        let events = state.withLock { $0.events }
        var verifier = ChainVerifier()
        for event in events {
            let problem = event.canonicalBytes.withUnsafeBytes {
                verifier.check(keySeq: event.seq, storedHash: event.hash, bytes: $0)
            }
            if let problem { return verifier.report(problem: problem) }
        }
        return verifier.report(problem: nil)
    }
}
