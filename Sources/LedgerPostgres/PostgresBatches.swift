import EventLog
import LedgerCore
import NIOCore
import PostgresNIO
import Synchronization

/// One write transaction of an instance's working copy (`PostgresLedger`), as it goes to PostgreSQL:
/// the events it sealed after `fromSeq`, and the rows it wrote. Hashes travel as bytes: this crosses
/// async frames, where swiftc 6.3.1 mishandles 32-byte-aligned values (README, notes for contributors).
public final class ShippedBatch: Sendable {
    /// The head the batch was sealed on: PostgreSQL's head must still be this one.
    public let fromSeq: UInt64
    public let fromHash: [UInt8]
    public let events: [RecordedEvent]
    /// The last value of each row the batch wrote, or nil for a deleted one.
    public let rows: [(table: String, key: [UInt8], value: [UInt8]?)]
    /// Tables the batch emptied before writing its rows.
    public let emptied: [String]

    public init(fromSeq: UInt64, fromHash: [UInt8], events: [RecordedEvent], rows: [(table: String, key: [UInt8], value: [UInt8]?)], emptied: [String]) {
        self.fromSeq = fromSeq
        self.fromHash = fromHash
        self.events = events
        self.rows = rows
        self.emptied = emptied
    }

    public var isEmpty: Bool { events.isEmpty && rows.isEmpty && emptied.isEmpty }
}

/// What PostgreSQL holds past an instance's working copy, read in one statement (one snapshot).
public final class PulledChanges: Sendable {
    public let headSeq: UInt64
    public let headHash: [UInt8]
    public let rev: Int64
    /// Events after the seq asked for, in seq order: `(hash, canonical bytes)`.
    public let events: [(hash: [UInt8], bytes: [UInt8])]
    /// The rows written after the revision asked for; empty unless `complete` (rows go with the events
    /// they came from: they are applied only with the last of those).
    public let rows: [(table: String, key: [UInt8], value: [UInt8]?)]
    /// Whether this reaches the head (events and rows); otherwise ask again after the last event.
    public let complete: Bool

    init(headSeq: UInt64, headHash: [UInt8], rev: Int64, events: [(hash: [UInt8], bytes: [UInt8])], rows: [(table: String, key: [UInt8], value: [UInt8]?)], complete: Bool) {
        self.headSeq = headSeq
        self.headHash = headHash
        self.rev = rev
        self.events = events
        self.rows = rows
        self.complete = complete
    }
}

/// The batch was sealed on a head PostgreSQL no longer has (another writer's batches, or one of this
/// instance's whose commit was never confirmed): nothing was written; the working copy must catch up.
public struct StaleWorkingCopy: Error, CustomStringConvertible, Sendable {
    public let workingSeq: UInt64
    public let storeSeq: UInt64
    public var description: String { "the working copy is at seq \(workingSeq), the database at seq \(storeSeq): catching up" }
}

extension PostgresEventLog {
    /// Commits a working copy's batch in one transaction: the head row locked, the epoch and the head
    /// checked, the events, their tree nodes and the rows written, the head moved to the batch's last
    /// event and the next revision. Returns that revision. Throws `FencedWriter` when another instance
    /// writes now, `StaleWorkingCopy` when the batch was sealed on another head; either way nothing
    /// was written.
    public func commit(_ batch: ShippedBatch) async throws -> Int64 {
        try await exclusively {
            let (epoch, leaseMilliseconds) = kept.withLock { ($0.epoch, $0.leaseMilliseconds) }
            guard let epoch else { throw PostgresLedgerError("this instance is not the writer") }
            let committed = try await transaction { [self] connection in
                let locked = try await connection.query("SELECT seq, hash, epoch, rev FROM orgledger_head WHERE id = 1 FOR UPDATE", logger: logger).collect()
                guard let row = locked.first else { throw PostgresLedgerError("the head row is missing") }
                let (seq, hash, current, rev) = try row.decode((Int64, ByteBuffer, Int64, Int64).self)
                guard current == epoch else { throw FencedWriter(epoch: epoch, current: current) }
                guard UInt64(seq) == batch.fromSeq, Array(hash.readableBytesView) == batch.fromHash else {
                    throw StaleWorkingCopy(workingSeq: batch.fromSeq, storeSeq: UInt64(seq))
                }
                let next = rev + 1
                var extended: (tree: MerkleTree.Frontier, head: ChainHash)?
                if let last = batch.events.last {
                    let head = LogHead(seq: UInt64(seq), hash: try Self.hash(hash))
                    var tree = try await loadedFrontier(head: head, on: connection)
                    var nodes: [MerkleTree.Hash] = []
                    for event in batch.events {
                        tree.append(leaf: MerkleTree.leafHash(event.canonicalBytes)) { nodes.append($0); return true }
                    }
                    try await Self.insert(batch.events, nodes: nodes, from: MerkleTree.storedCount(size: UInt64(seq)), on: connection, logger: logger)
                    extended = (tree, last.hash)
                }
                for table in batch.emptied {
                    try await connection.query("UPDATE orgledger_rows SET value = NULL, rev = \(next) WHERE tbl = \(table) AND value IS NOT NULL", logger: logger)
                }
                try await Self.upsert(batch.rows, rev: next, on: connection, logger: logger)
                let lastSeq = Int64(batch.events.last?.seq ?? UInt64(seq))
                let lastHash = batch.events.last.map { Self.bytes($0.hash) } ?? hash
                let moved = try await connection.query(
                    """
                    UPDATE orgledger_head SET seq = \(lastSeq), hash = \(lastHash), rev = \(next),
                      lease_until = greatest(lease_until, clock_timestamp() + \(leaseMilliseconds) * interval '1 millisecond')
                    WHERE id = 1 AND epoch = \(epoch) RETURNING seq
                    """, logger: logger
                ).collect()
                guard !moved.isEmpty else { throw FencedWriter(epoch: epoch, current: nil) }
                return (next, extended, lastSeq)
            }
            if let extended = committed.1 { kept.withLock { $0.frontier = extended } }
            if notifies { await notifyFollowers(UInt64(committed.2)) }
            return committed.0
        }
    }

    /// Rows as multi-row upserts, in chunks under PostgreSQL's 65,535 parameters a statement.
    private static func upsert(_ rows: [(table: String, key: [UInt8], value: [UInt8]?)], rev: Int64, on connection: PostgresConnection, logger: Logger) async throws {
        for chunk in stride(from: 0, to: rows.count, by: 10_000) {
            var sql = "INSERT INTO orgledger_rows (tbl, key, value, rev) VALUES "
            var binds = PostgresBindings(capacity: 3 * 10_000 + 1)
            binds.append(rev)
            for (i, row) in rows[chunk..<min(chunk + 10_000, rows.count)].enumerated() {
                sql += (i == 0 ? "" : ", ") + "($\(3 * i + 2), $\(3 * i + 3), $\(3 * i + 4), $1)"
                binds.append(row.table)
                binds.append(ByteBuffer(bytes: row.key))
                if let value = row.value { binds.append(ByteBuffer(bytes: value)) } else { binds.appendNull() }
            }
            sql += " ON CONFLICT (tbl, key) DO UPDATE SET value = EXCLUDED.value, rev = EXCLUDED.rev"
            try await connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
        }
    }

    /// What the database holds past `afterSeq` and `afterRev`, in one statement (one snapshot): the
    /// head, at most `limit` events, and — when those reach the head — every row written since.
    /// Seqs are gap-free, so whether the events reach the head is `head - afterSeq ≤ limit`.
    public func changes(afterSeq: UInt64, afterRev: Int64, limit: Int) throws -> PulledChanges {
        guard afterSeq < UInt64(Int64.max), limit > 0 else { throw PostgresLedgerError("no changes after seq \(afterSeq)") }
        let after = Int64(afterSeq), cap = Int64(limit)
        let rows = try read(
            """
            WITH h AS (SELECT seq, hash, rev FROM orgledger_head WHERE id = 1)
            SELECT 0::smallint, h.seq, h.rev, NULL::text, h.hash, NULL::bytea FROM h
            UNION ALL
            (SELECT 1::smallint, e.seq, 0::bigint, NULL::text, e.hash, e.bytes FROM orgledger_events e, h
              WHERE e.seq > \(after) AND e.seq <= h.seq ORDER BY e.seq LIMIT \(cap))
            UNION ALL
            SELECT 2::smallint, r.rev, 0::bigint, r.tbl, r.key, r.value FROM orgledger_rows r, h
              WHERE r.rev > \(afterRev) AND r.rev <= h.rev AND h.seq - \(after) <= \(cap)
            """)
        var head: (seq: Int64, rev: Int64, hash: [UInt8])?
        var events: [(seq: Int64, hash: [UInt8], bytes: [UInt8])] = []
        var changed: [(table: String, key: [UInt8], value: [UInt8]?)] = []
        for row in rows {
            let (kind, number, rev, table, first, second) = try row.decode((Int16, Int64, Int64, String?, ByteBuffer, ByteBuffer?).self)
            switch kind {
            case 0: head = (number, rev, Array(first.readableBytesView))
            case 1: events.append((number, Array(first.readableBytesView), Array(second?.readableBytesView ?? ByteBuffer().readableBytesView)))
            default: changed.append((table ?? "", Array(first.readableBytesView), second.map { Array($0.readableBytesView) }))
            }
        }
        guard let head else { throw PostgresLedgerError("the head row is missing") }
        events.sort { $0.seq < $1.seq }
        for (offset, event) in events.enumerated() where event.seq != after + Int64(offset) + 1 {
            throw PostgresLedgerError("the log has no event at seq \(after + Int64(offset) + 1) below its head")
        }
        let complete = head.seq - after <= cap
        return PulledChanges(
            headSeq: UInt64(head.seq), headHash: head.hash, rev: head.rev, events: events.map { ($0.hash, $0.bytes) }, rows: complete ? changed : [],
            complete: complete)
    }
}
