import Foundation
import LMDB
import LedgerCore

/// The event log's two LMDB databases and every operation on them inside a caller's transaction.
///
/// - `events`: key = seq as 8 big-endian bytes; value = the 32-byte hash, then the canonical envelope
///   bytes that were hashed. Written only with `MDB_APPEND`; never updated or deleted.
/// - `streams`: key = stream id (UTF-8), a 0 byte, version as 8 big-endian bytes; value = seq. The per-stream
///   index for reading one org's history and finding its current version.
/// - `tree`: the RFC 9162 Merkle tree over the log, its full subtrees' hashes (`LogTree.swift`).
/// - `checkpoints`: the signed checkpoints of the tree, by tree size (`LogTree.swift`).
///
/// The projections layer calls these inside the writer's transaction, so events and views commit together.
public struct LogTables: Sendable {
    public let events: Database
    public let streams: Database
    public let tree: Database
    public let checkpoints: Database

    public init(environment: Environment) throws {
        events = try environment.openDatabase("events")
        streams = try environment.openDatabase("streams")
        tree = try environment.openDatabase("tree")
        checkpoints = try environment.openDatabase("checkpoints")
    }

    static let hashSize = 32

    @inline(__always)
    static func seqKey(_ seq: UInt64) -> [UInt8] {
        withUnsafeBytes(of: seq.bigEndian) { Array($0) }
    }

    @inline(__always)
    static func readSeq(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        UInt64(bigEndian: bytes.loadUnaligned(as: UInt64.self))
    }

    static func streamKey(_ stream: String, version: UInt64) -> [UInt8] {
        var key = Array(stream.utf8)
        key.append(0)
        withUnsafeBytes(of: version.bigEndian) { key.append(contentsOf: $0) }
        return key
    }

    // MARK: Reads (any transaction)

    public func head(in txn: borrowing some TransactionReading & ~Copyable) throws -> LogHead {
        try txn.withCursor(on: events) { cursor in
            guard let last = try cursor.last() else { return .empty }
            return LogHead(seq: Self.readSeq(last.key), hash: ChainHash(bytes: UnsafeRawBufferPointer(rebasing: last.value[..<Self.hashSize])))
        }
    }

    public func version(ofStream stream: String, in txn: borrowing some TransactionReading & ~Copyable) throws -> UInt64 {
        var prefix = Array(stream.utf8)
        prefix.append(0)
        var after = Array(stream.utf8)
        after.append(1)
        return try txn.withCursor(on: streams) { cursor in
            let entry = try cursor.seek(atLeast: after) != nil ? try cursor.previous() : try cursor.last()
            guard let entry, entry.key.count == prefix.count + 8, entry.key.starts(with: prefix) else { return 0 }
            return Self.readSeq(UnsafeRawBufferPointer(rebasing: entry.key[prefix.count...]))
        }
    }

    /// The last event of a stream: its version, seq and hash; nil for a stream with no events.
    public func streamHead(_ stream: String, in txn: borrowing some TransactionReading & ~Copyable) throws -> (version: UInt64, seq: UInt64, hash: ChainHash)? {
        let version = try version(ofStream: stream, in: txn)
        guard version > 0, let (seq, hash) = try event(ofStream: stream, version: version, in: txn) else { return nil }
        return (version, seq, hash)
    }

    /// The seq and hash of a stream's event at `version`; nil if the stream has no such event.
    public func event(ofStream stream: String, version: UInt64, in txn: borrowing some TransactionReading & ~Copyable) throws -> (seq: UInt64, hash: ChainHash)? {
        guard let seq = try txn.withValue(in: streams, forKey: Self.streamKey(stream, version: version), { Self.readSeq($0) }),
            let hash = try txn.withValue(in: events, forKey: Self.seqKey(seq), { ChainHash(bytes: UnsafeRawBufferPointer(rebasing: $0[..<Self.hashSize])) })
        else { return nil }
        return (seq, hash)
    }

    /// Calls `body` with each stored event after `seq` (its seq, hash and canonical bytes, valid only during
    /// the call) until it returns false. The fast path for scans: nothing is decoded.
    /// Each stored event after `seq` in log order, its canonical bytes without its hash.
    public func forEachEventBytes(
        after seq: UInt64, in txn: borrowing some TransactionReading & ~Copyable,
        _ body: (UInt64, UnsafeRawBufferPointer) throws -> Bool
    ) throws {
        guard seq < UInt64.max else { return }  // nothing comes after the largest seq (and seq + 1 would wrap to 0)
        try txn.withCursor(on: events) { cursor in
            try cursor.forEach(from: Self.seqKey(seq + 1)) { entry in
                try body(Self.readSeq(entry.key), UnsafeRawBufferPointer(rebasing: entry.value[Self.hashSize...]))
            }
        }
    }

    public func forEachEvent(
        after seq: UInt64, in txn: borrowing some TransactionReading & ~Copyable,
        _ body: (UInt64, ChainHash, UnsafeRawBufferPointer) throws -> Bool
    ) throws {
        guard seq < UInt64.max else { return }  // nothing comes after the largest seq (and seq + 1 would wrap to 0)
        try txn.withCursor(on: events) { cursor in
            try cursor.forEach(from: Self.seqKey(seq + 1)) { entry in
                let hash = ChainHash(bytes: UnsafeRawBufferPointer(rebasing: entry.value[..<Self.hashSize]))
                return try body(Self.readSeq(entry.key), hash, UnsafeRawBufferPointer(rebasing: entry.value[Self.hashSize...]))
            }
        }
    }

    public func events(after seq: UInt64, limit: Int, in txn: borrowing some TransactionReading & ~Copyable) throws -> [RecordedEvent] {
        var out: [RecordedEvent] = []
        guard limit > 0 else { return out }
        try forEachEvent(after: seq, in: txn) { _, hash, bytes in
            out.append(RecordedEvent(envelope: try EventEnvelope.decode(bytes).envelope, hash: hash, canonicalBytes: Array(bytes)))
            return out.count < limit
        }
        return out
    }

    public func event(seq: UInt64, in txn: borrowing some TransactionReading & ~Copyable) throws -> RecordedEvent? {
        try txn.withValue(in: events, forKey: Self.seqKey(seq)) { value in
            let bytes = UnsafeRawBufferPointer(rebasing: value[Self.hashSize...])
            return RecordedEvent(
                envelope: try EventEnvelope.decode(bytes).envelope,
                hash: ChainHash(bytes: UnsafeRawBufferPointer(rebasing: value[..<Self.hashSize])), canonicalBytes: Array(bytes))
        }
    }

    /// When event `seq` was recorded (its `at`), read without decoding the rest; nil past the head.
    public func time(ofSeq seq: UInt64, in txn: borrowing some TransactionReading & ~Copyable) throws -> Timestamp? {
        try txn.withValue(in: events, forKey: Self.seqKey(seq)) { value in
            try EnvelopeView.read(UnsafeRawBufferPointer(rebasing: value[Self.hashSize...])).at
        }
    }

    /// The seqs of a stream's events with `version >= fromVersion`, at most `limit`.
    public func seqs(
        inStream stream: String, fromVersion: UInt64, limit: Int, in txn: borrowing some TransactionReading & ~Copyable
    ) throws -> [UInt64] {
        var seqs: [UInt64] = []
        guard limit > 0 else { return seqs }
        var prefix = Array(stream.utf8)
        prefix.append(0)
        try txn.withCursor(on: streams) { cursor in
            try cursor.forEach(from: Self.streamKey(stream, version: max(fromVersion, 1))) { entry in
                guard entry.key.count == prefix.count + 8, entry.key.starts(with: prefix) else { return false }
                seqs.append(Self.readSeq(entry.value))
                return seqs.count < limit
            }
        }
        return seqs
    }

    public func events(
        inStream stream: String, fromVersion: UInt64, limit: Int, in txn: borrowing some TransactionReading & ~Copyable
    ) throws -> [RecordedEvent] {
        try seqs(inStream: stream, fromVersion: fromVersion, limit: limit, in: txn).map { seq in
            guard let event = try event(seq: seq, in: txn) else {
                throw EnvelopeError("the stream index names seq \(seq), which is not in the log")
            }
            return event
        }
    }

    // MARK: Append (the writer's transaction)

    /// Appends inside `txn`. A refusal is returned before anything is written; a thrown error is LMDB's.
    public func append(_ request: AppendRequest, in txn: borrowing WriteTransaction) throws -> Result<AppendReceipt, AppendError> {
        try append(request, streamVersion: try version(ofStream: request.stream, in: txn), in: txn)
    }

    /// Appends inside `txn` to a stream whose current version the caller has just read in the same
    /// transaction (the command pipeline, which looked its stream up once for the whole command).
    public func append(_ request: AppendRequest, streamVersion current: UInt64, in txn: borrowing WriteTransaction) throws -> Result<AppendReceipt, AppendError> {
        let head = try head(in: txn)
        switch seal(request, streamVersion: current, head: head) {
        case .failure(let refusal):
            return .failure(refusal)
        case .success(let recorded):
            for event in recorded {
                try write(event, in: txn)
            }
            return .success(AppendReceipt(events: recorded))
        }
    }

    /// Stores one sealed event at the head of the log. Only `append` and the importer (after checking the
    /// chain) call this.
    public func write(_ event: RecordedEvent, in txn: borrowing WriteTransaction) throws {
        let bytes = event.canonicalBytes
        try txn.put(in: events, key: Self.seqKey(event.seq), reserving: Self.hashSize + bytes.count, flags: .append) { out in
            event.hash.write(to: UnsafeMutableRawBufferPointer(rebasing: out[..<Self.hashSize]))
            bytes.withUnsafeBytes { out.baseAddress!.advanced(by: Self.hashSize).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        }
        try txn.put(
            in: streams, key: Self.streamKey(event.envelope.stream, version: event.version), value: Self.seqKey(event.seq),
            flags: .noOverwrite)
        try appendLeaf(bytes, seq: event.seq, in: txn)
    }

    // MARK: Verification

    /// Checks the chain (see `ChainVerifier`) and that the stream index names exactly the stored events.
    public func verify(in txn: borrowing some TransactionReading & ~Copyable, progress: ((UInt64) -> Void)?) throws -> ChainReport {
        var verifier = ChainVerifier()
        var problem: ChainProblem?
        try forEachEvent(after: 0, in: txn) { seq, hash, bytes in
            if let found = verifier.check(keySeq: seq, storedHash: hash, bytes: bytes) {
                problem = found
                return false
            }
            if seq & 0xFFFF == 0 { progress?(seq) }
            return true
        }
        if problem == nil {
            // Every stream's index entries must be exactly versions 1...n, each naming the event with that
            // stream and version. The chain pass proved the events' own stream versions are gap-free.
            let indexEntries = try txn.statistics(of: streams).entries
            if UInt64(indexEntries) != verifier.count {
                problem = ChainProblem(seq: verifier.head.seq, reason: "the stream index has \(indexEntries) entries for \(verifier.count) events")
            } else {
                for (stream, version) in verifier.versions {
                    let seqs = try self.seqs(inStream: stream, fromVersion: 1, limit: Int.max, in: txn)
                    if seqs.count != version {
                        problem = ChainProblem(seq: seqs.last ?? 0, reason: "the stream index of \(stream) has \(seqs.count) entries for \(version) events")
                        break
                    }
                    if let bad = try firstMisindexed(stream, seqs, in: txn) {
                        problem = bad
                        break
                    }
                }
            }
        }
        if problem == nil { problem = try firstTreeDifference(in: txn) }
        return verifier.report(problem: problem)
    }

    private func firstMisindexed(_ stream: String, _ seqs: [UInt64], in txn: borrowing some TransactionReading & ~Copyable) throws -> ChainProblem? {
        for (offset, seq) in seqs.enumerated() {
            let header = try txn.withValue(in: events, forKey: Self.seqKey(seq)) {
                try EnvelopeHeader.read(UnsafeRawBufferPointer(rebasing: $0[Self.hashSize...]))
            }
            guard let header, header.stream == stream, header.version == UInt64(offset + 1) else {
                return ChainProblem(seq: seq, reason: "the stream index entry \(stream)@\(offset + 1) names seq \(seq), which is not that event")
            }
        }
        return nil
    }
}

/// The durable event log: LMDB, appends through the group-commit writer.
public final class LMDBEventLog: EventLog {
    public let environment: Environment
    public let tables: LogTables
    public let writer: GroupCommitWriter

    /// Opens the log in `environment` and starts its writer. Call `close()` when done.
    public init(environment: Environment, maximumBatch: Int = 1024, afterCommit: (@Sendable (Int) -> Void)? = nil) throws {
        self.environment = environment
        self.tables = try LogTables(environment: environment)
        self.writer = GroupCommitWriter(environment: environment, maximumBatch: maximumBatch, afterCommit: afterCommit)
    }

    /// Opens (creating) the data folder `path`.
    public convenience init(path: String, configuration: Environment.Configuration = .init()) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try self.init(environment: Environment(path: path, configuration: configuration))
    }

    /// Finishes the submitted appends and stops the writer.
    public func close() { writer.close() }

    public func append(_ request: AppendRequest) async throws -> AppendReceipt {
        let tables = self.tables
        let outcome = try await writer.submit { txn in try tables.append(request, in: txn) }
        // Not `outcome.get()`: with swiftc 6.3.1 a typed `throws(AppendError)` rethrown as `any Error` from an
        // async function was released twice (double free at the caller's exit).
        switch outcome {
        case .success(let receipt): return receipt
        case .failure(let refusal): throw refusal as any Error
        }
    }

    public func events(after seq: UInt64, limit: Int) throws -> [RecordedEvent] {
        try environment.read { txn in try tables.events(after: seq, limit: limit, in: txn) }
    }

    public func events(inStream stream: String, fromVersion: UInt64, limit: Int) throws -> [RecordedEvent] {
        try environment.read { txn in try tables.events(inStream: stream, fromVersion: fromVersion, limit: limit, in: txn) }
    }

    public func version(ofStream stream: String) throws -> UInt64 {
        try environment.read { txn in try tables.version(ofStream: stream, in: txn) }
    }

    public func head() throws -> LogHead {
        try environment.read { txn in try tables.head(in: txn) }
    }

    public func verifyChain(progress: ((UInt64) -> Void)? = nil) throws -> ChainReport {
        try environment.read { txn in try tables.verify(in: txn, progress: progress) }
    }
}
