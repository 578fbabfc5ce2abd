import LedgerCore

/// The result of checking a log's chain.
public struct ChainReport: Sendable, Hashable {
    /// Events checked, in order, up to the first problem (or all of them).
    public let eventsChecked: UInt64
    /// The last good event.
    public let head: LogHead
    /// The first problem found, or nil when the chain is intact.
    public let problem: ChainProblem?

    public var isIntact: Bool { problem == nil }
}

/// The first event at which the chain breaks, and why.
public struct ChainProblem: Sendable, Hashable, CustomStringConvertible {
    public let seq: UInt64
    public let reason: String

    public init(seq: UInt64, reason: String) {
        self.seq = seq
        self.reason = reason
    }

    public var description: String { "seq \(seq): \(reason)" }
}

/// Checks stored events one by one, in log order. Used by both log implementations and by import.
public struct ChainVerifier: Sendable {
    public private(set) var head: LogHead = .empty
    public private(set) var count: UInt64 = 0
    private var streamVersions: [String: UInt64] = [:]

    public init() {}

    /// Checks the next stored event: its key's seq, its stored hash and its bytes. Returns the problem,
    /// if any; after a problem the verifier's state is unspecified.
    public mutating func check(keySeq: UInt64, storedHash: ChainHash, bytes: UnsafeRawBufferPointer) -> ChainProblem? {
        let expectedSeq = head.seq + 1
        guard keySeq == expectedSeq else {
            return ChainProblem(seq: expectedSeq, reason: "event missing: the next stored event is seq \(keySeq)")
        }
        let actualHash = ChainHash.of(bytes)
        guard actualHash == storedHash else {
            return ChainProblem(seq: keySeq, reason: "stored bytes do not match their hash (stored \(storedHash.hex), computed \(actualHash.hex))")
        }
        let header: EnvelopeHeader
        do { header = try EnvelopeHeader.read(bytes) } catch {
            return ChainProblem(seq: keySeq, reason: "stored envelope is unreadable: \(error)")
        }
        guard header.seq == keySeq else {
            return ChainProblem(seq: keySeq, reason: "envelope says seq \(header.seq)")
        }
        guard header.prevHash == head.hash else {
            return ChainProblem(seq: keySeq, reason: "prev_hash \(header.prevHash.hex) is not the previous event's hash \(head.hash.hex)")
        }
        let expectedVersion = streamVersions[header.stream, default: 0] + 1
        guard header.version == expectedVersion else {
            return ChainProblem(seq: keySeq, reason: "stream \(header.stream) jumps to version \(header.version); expected \(expectedVersion)")
        }
        streamVersions[header.stream] = expectedVersion
        head = LogHead(seq: keySeq, hash: storedHash)
        count += 1
        return nil
    }

    /// The version each stream reached.
    public var versions: [String: UInt64] { streamVersions }

    public func report(problem: ChainProblem?) -> ChainReport {
        ChainReport(eventsChecked: count, head: head, problem: problem)
    }
}
