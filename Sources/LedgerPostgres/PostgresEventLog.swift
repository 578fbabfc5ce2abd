import EventLog
import LedgerCore
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import Synchronization

/// The event log on PostgreSQL (product spec §11), keeping the `EventLog` contract the LMDB log keeps:
/// the same seal, the same chain, the same RFC 9162 tree, in the tables of `PostgresSchema`.
///
/// One instance writes at a time. `becomeWriter` (or a standby's `takeOverIfLapsed`, once the writer has
/// stopped renewing its lease) raises the fencing epoch in the head row; every append
/// locks that row (`SELECT … FOR UPDATE`) and goes ahead only if the epoch is still its own, so a writer
/// that was replaced — paused, partitioned, or restarted with an old epoch — writes nothing, even with
/// its transaction already open. Appends take turns on the writer's connection (the head row
/// serializes them anyway); reads go over a second connection, each one statement, so a read never
/// sees an append's transaction before it commits. An append that PostgreSQL rolled back as a
/// serialization failure or deadlock (`40001`, `40P01`: what CockroachDB and YugabyteDB answer under
/// contention) is run again; any other failure, a failed `COMMIT` included, is thrown: the append is
/// not acknowledged.
public final class PostgresEventLog: EventLog, Sendable {
    /// The writer's connection and the readers', each opened again when found closed or lost (the
    /// server restarted, the network dropped it): the statement that found it so failed; the next one
    /// reconnects.
    private let connections: Mutex<Connections>

    private struct Connections {
        var writer: PostgresConnection
        var reader: PostgresConnection
        /// Set when a statement failed because the connection was lost: a lost connection may still
        /// look open for a moment, and postgres-nio 1.33 never answers a statement queued on it then.
        var writerLost = false
        var readerLost = false
    }
    private let location: PostgresLocation
    let logger: Logger
    /// Rings on each notification that the log grew (`seq(after:)` waits on it).
    private let doorbell = Doorbell()
    /// The task that listens for those notifications, once a follower has asked to wait.
    private let listener = Mutex<Task<Void, Never>?>(nil)
    /// Whether this writer notifies followers after each commit (off for servers without NOTIFY).
    let notifies: Bool
    /// What the writer keeps between transactions, changed only by whoever holds `gate`.
    let kept = Mutex<Kept>(Kept())
    /// Transactions on the writer's connection take turns here.
    private let gate = Turnstile()

    struct Kept {
        /// The epoch this instance writes with; nil until it becomes the writer.
        var epoch: Int64?
        /// The lease this writer took, in milliseconds; each append extends it as a renewal does. (Not a
        /// `Duration`: captured in the append's async closures, that 16-byte-aligned value crashed
        /// swift_task_dealloc under swiftc 6.3.1.)
        var leaseMilliseconds = PostgresEventLog.milliseconds(PostgresEventLog.defaultLease)
        /// Set by `close`: no listener starts after it.
        var closed = false
        /// The tree's right edge after this instance's last commit, and the head hash it goes with (nil:
        /// read it from the table). Trusted only for that very head: a log of the same length that is not
        /// this one (a restored database) gets its own.
        var frontier: (tree: MerkleTree.Frontier, head: ChainHash)?
    }

    private init(writer: PostgresConnection, reader: PostgresConnection, location: PostgresLocation, notifies: Bool, logger: Logger) {
        self.connections = Mutex(Connections(writer: writer, reader: reader))
        self.location = location
        self.notifies = notifies
        self.logger = logger
    }

    /// Connects, creates or checks the schema, and (only with `asWriter`) takes the writer's role: a
    /// reader, a verify or an export must never fence the live writer by opening the store. With
    /// `notifies: false` its appends send no NOTIFY (for a server that has none): followers then learn
    /// of them by polling alone.
    public static func open(
        _ location: PostgresLocation, asWriter: Bool = false, notifies: Bool = true, logger: Logger = Logger(label: "orgledger.postgres")
    ) async throws -> PostgresEventLog {
        let writer = try await connectWriter(location, logger: logger)
        let reader: PostgresConnection
        do {
            reader = try await PostgresConnection.connect(configuration: location.configuration, id: 2, logger: logger)
        } catch {
            try? await writer.close()
            throw error
        }
        let log = PostgresEventLog(writer: writer, reader: reader, location: location, notifies: notifies, logger: logger)
        do {
            try await PostgresSchema.ensure(on: writer, logger: logger)
            if asWriter { try await log.becomeWriter() }
        } catch {
            await log.close()
            throw error
        }
        return log
    }

    public func close() async {
        kept.withLock { $0.closed = true }
        listener.withLock { $0?.cancel() }
        let (writer, reader) = connections.withLock { ($0.writer, $0.reader) }
        try? await writer.close()
        try? await reader.close()
    }

    /// A writer's connection. A writer stopped inside its transaction (paused, partitioned) must not
    /// hold the head row's lock for ever: the server ends such a transaction, and a statement waits for
    /// a lock at most a few seconds, so a standby's takeover is never stuck behind it.
    private static func connectWriter(_ location: PostgresLocation, logger: Logger) async throws -> PostgresConnection {
        let writer = try await PostgresConnection.connect(configuration: location.configuration, id: 1, logger: logger)
        do {
            try await writer.query("SET idle_in_transaction_session_timeout = '10s'", logger: logger)
            try await writer.query("SET lock_timeout = '5s'", logger: logger)
        } catch {
            try? await writer.close()
            throw error
        }
        return writer
    }

    /// The writer's connection, opened again if it was closed. Only whoever holds `gate` calls this.
    var writer: PostgresConnection {
        get async throws {
            let (current, lost) = connections.withLock { ($0.writer, $0.writerLost) }
            guard current.isClosed || lost else { return current }
            current.close().whenComplete { _ in }
            let fresh = try await Self.connectWriter(location, logger: logger)
            connections.withLock { connections in
                connections.writer = fresh
                connections.writerLost = false
            }
            return fresh
        }
    }

    /// The readers' connection, opened again (waiting for it) if it was closed.
    private var reader: PostgresConnection {
        get throws {
            let (current, lost) = connections.withLock { ($0.reader, $0.readerLost) }
            guard current.isClosed || lost else { return current }
            let fresh = try PostgresConnection.connect(
                on: MultiThreadedEventLoopGroup.singleton.any(), configuration: location.configuration, id: 2, logger: logger
            ).wait()
            let replaced = connections.withLock { connections in
                defer {
                    connections.reader = fresh
                    connections.readerLost = false
                }
                return connections.reader
            }
            replaced.close().whenComplete { _ in }
            return fresh
        }
    }

    /// How long a writer's lease lasts unless renewed: a standby takes over within this (plus its
    /// polling interval) of the writer's last renewal.
    public static let defaultLease: Duration = .seconds(3)

    /// Takes the writer's role whatever the lease says (an operator's decision, or the only instance):
    /// raises the fencing epoch, so the instance that wrote before (if any) writes nothing more, and
    /// starts a lease. Returns the new epoch.
    @discardableResult
    public func becomeWriter(lease: Duration = defaultLease) async throws -> Int64 {
        try await takeWriterRole(onlyIfLapsed: false, lease: lease)!
    }

    /// A standby's attempt: takes the writer's role only if the current writer's lease has run out by
    /// the server's clock (one statement, so two standbys cannot both win). Returns the new epoch, or
    /// nil while the writer's lease holds.
    public func takeOverIfLapsed(lease: Duration = defaultLease) async throws -> Int64? {
        try await takeWriterRole(onlyIfLapsed: true, lease: lease)
    }

    /// Extends this writer's lease; false once another instance has taken the role (fenced).
    public func renewLease(_ lease: Duration = defaultLease) async throws -> Bool {
        try await exclusively {
            guard let epoch = kept.withLock({ $0.epoch }) else { return false }
            let connection = try await self.writer
            let rows = try await Self.untilClosed(connection) { [logger] in
                try await connection.query(
                    """
                    UPDATE orgledger_head SET lease_until = clock_timestamp() + \(Self.milliseconds(lease)) * interval '1 millisecond'
                    WHERE id = 1 AND epoch = \(epoch) RETURNING epoch
                    """, logger: logger
                ).collect()
            }
            return !rows.isEmpty
        }
    }

    /// Ends this writer's lease now and writes nothing more (a graceful stop): a standby takes over at
    /// its next poll instead of once the lease runs out. Best effort: a failure leaves the lease to lapse.
    public func releaseLease() async {
        _ = try? await exclusively {
            guard let epoch = kept.withLock({ $0.epoch }) else { return }
            kept.withLock { $0.epoch = nil }
            let connection = try await self.writer
            _ = try await Self.untilClosed(connection) { [logger] in
                try await connection.query("UPDATE orgledger_head SET lease_until = clock_timestamp() WHERE id = 1 AND epoch = \(epoch)", logger: logger).collect()
            }
        }
    }

    private func takeWriterRole(onlyIfLapsed: Bool, lease: Duration) async throws -> Int64? {
        try await exclusively {
            let condition = onlyIfLapsed ? " AND lease_until < clock_timestamp()" : ""
            let rows: [PostgresRow]
            do {
                let connection = try await self.writer
                let query = PostgresQuery(
                    unsafeSQL: """
                        UPDATE orgledger_head SET epoch = epoch + 1, lease_until = clock_timestamp() + $1 * interval '1 millisecond'
                        WHERE id = 1\(condition) RETURNING epoch
                        """,
                    binds: { var binds = PostgresBindings(); binds.append(Self.milliseconds(lease)); return binds }())
                rows = try await Self.untilClosed(connection) { [logger] in try await connection.query(query, logger: logger).collect() }
            } catch where onlyIfLapsed && Self.sqlState(of: error) == "55P03" {
                return nil  // lock_timeout: a writer holds the head row, so it is alive (or its transaction soon ends)
            }
            guard let new = try rows.first?.decode(Int64.self) else {
                if onlyIfLapsed { return nil }
                throw PostgresLedgerError("the head row is missing")
            }
            kept.withLock { kept in
                kept.epoch = new
                kept.leaseMilliseconds = Self.milliseconds(lease)
                kept.frontier = nil
            }
            return new
        }
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
    }

    // MARK: Writing

    public func append(_ request: AppendRequest) async throws -> AppendReceipt {
        if let problem = request.problem { throw AppendError.invalid(problem) }
        return try await exclusively {
            let (epoch, leaseMilliseconds) = kept.withLock { ($0.epoch, $0.leaseMilliseconds) }
            guard let epoch else { throw PostgresLedgerError("this instance is not the writer") }
            let (receipt, extended) = try await transaction { [self] connection in
                let head = try await Self.lockHead(connection, logger: logger)
                guard head.epoch == epoch else { throw FencedWriter(epoch: epoch, current: head.epoch) }
                let version = try await Self.version(ofStream: request.stream, on: connection, logger: logger)
                let sealed: [RecordedEvent]
                switch seal(request, streamVersion: version, head: head.log) {
                case .success(let events): sealed = events
                case .failure(let refusal): throw refusal as any Error
                }
                var tree = try await loadedFrontier(head: head.log, on: connection)
                var nodes: [MerkleTree.Hash] = []
                for event in sealed {
                    tree.append(leaf: MerkleTree.leafHash(event.canonicalBytes)) { nodes.append($0); return true }
                }
                try await Self.insert(sealed, nodes: nodes, from: MerkleTree.storedCount(size: head.log.seq), on: connection, logger: logger)
                let last = sealed[sealed.count - 1]
                // The epoch again (a second guard, should the row lock ever be lost), and the lease
                // extended: a writer that is writing is alive.
                let moved = try await connection.query(
                    """
                    UPDATE orgledger_head SET seq = \(Int64(last.seq)), hash = \(Self.bytes(last.hash)),
                      lease_until = greatest(lease_until, clock_timestamp() + \(leaseMilliseconds) * interval '1 millisecond')
                    WHERE id = 1 AND epoch = \(epoch) RETURNING seq
                    """, logger: logger
                ).collect()
                guard !moved.isEmpty else { throw FencedWriter(epoch: epoch, current: nil) }
                return (AppendReceipt(events: sealed), (tree, last.hash))
            }
            kept.withLock { $0.frontier = extended }
            // A hint for followers, after the commit and outside it: should the server refuse it, the
            // append stands all the same.
            if notifies { await notifyFollowers(receipt.lastSeq) }
            return receipt
        }
    }

    /// The frontier of the committed tree at `head`: the one kept since this instance's last commit, or
    /// read from the table (after a start, a rollback, or another writer's appends).
    func loadedFrontier(head: LogHead, on connection: PostgresConnection) async throws -> MerkleTree.Frontier {
        if let kept = kept.withLock({ $0.frontier }), kept.head == head.hash, kept.tree.size == head.seq { return kept.tree }
        let size = head.seq
        let levels = 64 - size.leadingZeroBitCount
        let positions = (0..<levels).map { Int64(MerkleTree.position(level: $0, index: (size >> UInt64($0)) - 1)) }
        var found: [Int64: MerkleTree.Hash] = [:]
        if !positions.isEmpty {
            for row in try await connection.query("SELECT position, hash FROM orgledger_tree WHERE position = ANY(\(positions))", logger: logger).collect() {
                let (position, hash) = try row.decode((Int64, ByteBuffer).self)
                found[position] = try Self.hash(hash)
            }
        }
        return try MerkleTree.Frontier(size: size) { level, index in
            guard let hash = found[Int64(MerkleTree.position(level: level, index: index))] else {
                throw PostgresLedgerError("the tree holds no node at level \(level), index \(index)")
            }
            return hash
        }
    }

    private static func lockHead(_ connection: PostgresConnection, logger: Logger) async throws -> (log: LogHead, epoch: Int64) {
        let rows = try await connection.query("SELECT seq, hash, epoch FROM orgledger_head WHERE id = 1 FOR UPDATE", logger: logger).collect()
        guard let row = rows.first else { throw PostgresLedgerError("the head row is missing") }
        let (seq, hash, epoch) = try row.decode((Int64, ByteBuffer, Int64).self)
        return (LogHead(seq: UInt64(seq), hash: try Self.hash(hash)), epoch)
    }

    /// Events and tree nodes as multi-row inserts (PostgreSQL takes at most 65,535 parameters a
    /// statement: an append's 10,000 events are sent in chunks).
    static func insert(_ events: [RecordedEvent], nodes: [MerkleTree.Hash], from position: UInt64, on connection: PostgresConnection, logger: Logger) async throws {
        for chunk in stride(from: 0, to: events.count, by: 2_000) {
            var sql = "INSERT INTO orgledger_events (seq, stream, version, hash, bytes) VALUES "
            var binds = PostgresBindings(capacity: 5 * 2_000)
            for (i, event) in events[chunk..<min(chunk + 2_000, events.count)].enumerated() {
                sql += (i == 0 ? "" : ", ") + "($\(5 * i + 1), $\(5 * i + 2), $\(5 * i + 3), $\(5 * i + 4), $\(5 * i + 5))"
                binds.append(Int64(event.seq))
                binds.append(event.envelope.stream)
                binds.append(Int64(event.version))
                binds.append(bytes(event.hash))
                binds.append(ByteBuffer(bytes: event.canonicalBytes))
            }
            try await connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
        }
        for chunk in stride(from: 0, to: nodes.count, by: 10_000) {
            var sql = "INSERT INTO orgledger_tree (position, hash) VALUES "
            var binds = PostgresBindings(capacity: 2 * 10_000)
            for (i, node) in nodes[chunk..<min(chunk + 10_000, nodes.count)].enumerated() {
                sql += (i == 0 ? "" : ", ") + "($\(2 * i + 1), $\(2 * i + 2))"
                binds.append(Int64(position) + Int64(chunk + i))
                binds.append(bytes(node))
            }
            try await connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
        }
    }

    /// Runs `body` in a transaction on the writer's connection, again after a serialization failure.
    /// Fails as soon as the connection closes (`untilClosed`): then whether it committed is unknown.
    func transaction<R: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> R) async throws -> R {
        var attempt = 0
        while true {
            attempt += 1
            let connection = try await writer
            do {
                return try await Self.untilClosed(connection) { [logger] in
                    try await connection.query("BEGIN ISOLATION LEVEL READ COMMITTED", logger: logger)
                    do {
                        let result = try await body(connection)
                        try await connection.query("COMMIT", logger: logger)
                        return result
                    } catch {
                        // After a failed COMMIT PostgreSQL has ended the transaction; a ROLLBACK then only
                        // warns. On a lost connection the server has ended it too, and nothing may be sent.
                        if !Self.isConnectionLost(error) { _ = try? await connection.query("ROLLBACK", logger: logger) }
                        throw error
                    }
                }
            } catch {
                kept.withLock { $0.frontier = nil }
                if attempt < 8, Self.isRetryable(error) { continue }
                throw error
            }
        }
    }

    /// Runs `work` on `connection`, and fails with `ConnectionClosed` as soon as the connection closes
    /// first: postgres-nio 1.33 can leave a statement that was in flight when the server ended the
    /// session unanswered for ever (seen with `pg_ctl restart`). The work left behind can do nothing
    /// more: its connection is gone.
    static func untilClosed<R: Sendable>(_ connection: PostgresConnection, _ work: @escaping @Sendable () async throws -> R) async throws -> R {
        let waiting = Waiting<R>()
        return try await withCheckedThrowingContinuation { continuation in
            waiting.set(continuation)
            Task { do { waiting.finish(.success(try await work())) } catch { waiting.finish(.failure(error)) } }
            connection.closeFuture.whenComplete { _ in waiting.finish(.failure(ConnectionClosed())) }
        }
    }

    /// The same for a statement read synchronously (`read`).
    static func untilClosed(_ connection: PostgresConnection, _ query: EventLoopFuture<PostgresQueryResult>) throws -> [PostgresRow] {
        let promise = connection.eventLoop.makePromise(of: [PostgresRow].self)
        let once = Once()
        query.whenComplete { result in if once.claim() { promise.completeWith(result.map(\.rows)) } }
        connection.closeFuture.whenComplete { _ in if once.claim() { promise.fail(ConnectionClosed()) } }
        return try promise.futureResult.wait()
    }

    private static func isRetryable(_ error: any Error) -> Bool {
        let state = sqlState(of: error)
        return state == "40001" || state == "40P01"
    }

    static func sqlState(of error: any Error) -> String? {
        (error as? PSQLError)?.serverInfo?[.sqlState]
    }

    /// Runs `body`, the only user of the writer's connection meanwhile; a connection lost on the way
    /// is replaced by the next user.
    func exclusively<R>(_ body: () async throws -> R) async throws -> R {
        await gate.enter()
        do {
            let result = try await body()
            await gate.leave()
            return result
        } catch {
            if Self.isConnectionLost(error) { connections.withLock { $0.writerLost = true } }
            await gate.leave()
            throw error
        }
    }

    /// Whether `error` says the connection itself is gone (closed by either side, a network failure,
    /// the server shutting down or ending the session), not that a statement was refused on it.
    static func isConnectionLost(_ error: any Error) -> Bool {
        guard let error = error as? PSQLError else { return !(error is FencedWriter || error is StaleWorkingCopy || error is PostgresLedgerError || error is AppendError) }
        guard error.code == .server else { return true }
        let severity = error.serverInfo?[.severity] ?? ""
        let state = error.serverInfo?[.sqlState] ?? ""
        return severity == "FATAL" || severity == "PANIC" || state.hasPrefix("08") || state.hasPrefix("57")
    }

    // MARK: Reading

    // Synchronous, as the `EventLog` contract is: each waits for its one statement on the reader's
    // connection (never from an event loop thread, which NIO refuses).

    public func events(after seq: UInt64, limit: Int) throws -> [RecordedEvent] {
        guard limit > 0, seq < UInt64(Int64.max) else { return [] }
        return try read("SELECT hash, bytes FROM orgledger_events WHERE seq > \(Int64(seq)) ORDER BY seq LIMIT \(Int64(limit))").map(Self.recorded)
    }

    public func events(inStream stream: String, fromVersion: UInt64, limit: Int) throws -> [RecordedEvent] {
        guard limit > 0, fromVersion < UInt64(Int64.max) else { return [] }
        return try read(
            """
            SELECT hash, bytes FROM orgledger_events WHERE stream = \(stream) AND version >= \(Int64(fromVersion))
            ORDER BY version LIMIT \(Int64(limit))
            """
        ).map(Self.recorded)
    }

    public func version(ofStream stream: String) throws -> UInt64 {
        UInt64(try read("SELECT max(version) FROM orgledger_events WHERE stream = \(stream)").first?.decode(Int64?.self) ?? 0)
    }

    public func head() throws -> LogHead {
        guard let row = try read("SELECT seq, hash FROM orgledger_head WHERE id = 1").first else { throw PostgresLedgerError("the head row is missing") }
        let (seq, hash) = try row.decode((Int64, ByteBuffer).self)
        return LogHead(seq: UInt64(seq), hash: try Self.hash(hash))
    }

    /// Checks the log as it stood when the check began (appends may go on meanwhile): the head row
    /// against the last event, then in pages of 1,000 the chain as `LMDBEventLog` does (`ChainVerifier`),
    /// each event's `stream` and `version` columns (the stream index) against its envelope, and every
    /// tree node against the one the events derive; finally that the tree holds no node past them.
    public func verifyChain(progress: ((UInt64) -> Void)? = nil) throws -> ChainReport {
        // One statement, one snapshot: the head row and the last event it must name.
        guard let start = try read("SELECT h.seq, h.hash, (SELECT max(seq) FROM orgledger_events) FROM orgledger_head h WHERE h.id = 1").first else {
            throw PostgresLedgerError("the head row is missing")
        }
        let (headSeq, headHash, lastSeq) = try start.decode((Int64, ByteBuffer, Int64?).self)
        var verifier = ChainVerifier()
        if (lastSeq ?? 0) != headSeq {
            return verifier.report(problem: ChainProblem(seq: UInt64(headSeq), reason: "the head row names seq \(headSeq); the last event is seq \(lastSeq ?? 0)"))
        }
        var problem: ChainProblem?
        var tree = MerkleTree.Frontier()
        var derived: [MerkleTree.Hash] = []
        var checkedNodes: Int64 = 0
        pages: while verifier.head.seq < UInt64(headSeq) {
            let rows = try read(
                """
                SELECT seq, stream, version, hash, bytes FROM orgledger_events WHERE seq > \(Int64(verifier.head.seq)) AND seq <= \(headSeq)
                ORDER BY seq LIMIT 1000
                """)
            if rows.isEmpty { break }
            for row in rows {
                let (seq, stream, version, hash, bytes) = try row.decode((Int64, String, Int64, ByteBuffer, ByteBuffer).self)
                let stored = Array(bytes.readableBytesView)
                if let found = stored.withUnsafeBytes({ verifier.check(keySeq: UInt64(seq), storedHash: (try? Self.hash(hash)) ?? .genesis, bytes: $0) }) {
                    problem = found
                    break pages
                }
                // The envelope read fine (the verifier checked it): the index columns must say what it says.
                let header = try stored.withUnsafeBytes { try EnvelopeHeader.read($0) }
                guard header.stream == stream, header.version == UInt64(version) else {
                    problem = ChainProblem(seq: UInt64(seq), reason: "the stream index says \(stream) version \(version); the event says \(header.stream) version \(header.version)")
                    break pages
                }
                tree.append(leaf: MerkleTree.leafHash(stored)) { derived.append($0); return true }
            }
            // The stored nodes of this page's leaves, side by side with the derived ones.
            let nodes = try read("SELECT position, hash FROM orgledger_tree WHERE position >= \(checkedNodes) ORDER BY position LIMIT \(Int64(derived.count))")
            for (offset, expected) in derived.enumerated() {
                let position = checkedNodes + Int64(offset)
                let node = offset < nodes.count ? try nodes[offset].decode((Int64, ByteBuffer).self) : nil
                guard let node, node.0 == position, (try? Self.hash(node.1)) == expected else {
                    problem = ChainProblem(seq: verifier.head.seq, reason: "the Merkle tree's node \(position) does not match the log")
                    break pages
                }
            }
            checkedNodes += Int64(derived.count)
            derived.removeAll(keepingCapacity: true)
            progress?(verifier.head.seq)
        }
        if problem == nil, verifier.head.seq != UInt64(headSeq) || (try? Self.hash(headHash)) != verifier.head.hash {
            problem = ChainProblem(seq: verifier.head.seq, reason: "the head row does not name the last event")
        }
        if problem == nil {
            // Nodes past the checked ones are those of events appended since (counted in the same
            // snapshot as the head they go with), or nodes the log has no place for.
            guard let counted = try read(
                "SELECT (SELECT count(*) FROM orgledger_tree WHERE position >= \(checkedNodes)), (SELECT seq FROM orgledger_head WHERE id = 1)"
            ).first else { throw PostgresLedgerError("the head row is missing") }
            let (beyond, now) = try counted.decode((Int64, Int64).self)
            let expected = Int64(MerkleTree.storedCount(size: UInt64(now))) - checkedNodes
            if beyond != expected {
                problem = ChainProblem(seq: verifier.head.seq, reason: "the Merkle tree holds \(beyond - expected) nodes past the log's")
            }
        }
        return verifier.report(problem: problem)
    }

    // MARK: Following the writer

    /// The hint to followers that the log grew to `seq`, after the commit and outside it: should the
    /// server refuse it, the commit stands all the same.
    func notifyFollowers(_ seq: UInt64) async {
        guard let connection = try? await writer else { return }
        _ = try? await Self.untilClosed(connection) { [logger] in
            try await connection.query("SELECT pg_notify(\(Self.channel), \(String(seq)))", logger: logger)
        }
    }

    /// The channel the writer notifies after each commit.
    static let channel = "orgledger_log"

    /// The head's seq once the log is past `seq`, or when `timeout` has passed (the seq as it then is).
    /// The writer's notification wakes the wait at once; correctness never depends on it: the head row
    /// is read again at least every `poll` (a server without NOTIFY, a lost listening connection, a
    /// notification that never came all just cost that delay). A seq, not a `LogHead`: swiftc 6.3.1
    /// corrupts the heap returning that struct from this async function (README, notes for contributors).
    public func seq(after seq: UInt64, timeout: Duration, poll: Duration = .milliseconds(250)) async throws -> UInt64 {
        startListening()
        let deadline = ContinuousClock.now + timeout
        while true {
            try Task.checkCancellation()
            let rung = await doorbell.rings
            let current = try head().seq
            let left = deadline - ContinuousClock.now
            if current > seq || left <= .zero { return current }
            await doorbell.wait(after: rung, timeout: min(poll, left))
        }
    }

    /// Listens on a connection of its own, again after any failure, until `close`.
    private func startListening() {
        guard !kept.withLock({ $0.closed }) else { return }
        listener.withLock { task in
            guard task == nil else { return }
            task = Task { [location, logger, doorbell] in
                while !Task.isCancelled {
                    do {
                        let connection = try await PostgresConnection.connect(configuration: location.configuration, id: 3, logger: logger)
                        defer { Task { try? await connection.close() } }
                        try await Self.untilClosed(connection) {
                            try await connection.listen(on: Self.channel) { notifications in
                                await doorbell.ring()  // the listening began: anything before it is in the head row
                                for try await _ in notifications { await doorbell.ring() }
                            }
                        }
                    } catch {
                        // A server without LISTEN (feature not supported) will not have it a second later.
                        if Self.sqlState(of: error) == "0A000" { return }
                        try? await Task.sleep(for: .seconds(1))
                    }
                }
            }
        }
    }

    // MARK: The tree

    /// The root of the tree of the first `size` leaves (1 ≤ size ≤ the head; 0 gives the empty tree's).
    public func root(size: UInt64) throws -> MerkleTree.Hash {
        try Self.checkSizes(size)
        return try withNodes { read in try MerkleTree.root(size: size, read: read) }
    }

    /// The inclusion proof of `seq` in the tree of `size` leaves (1 ≤ seq ≤ size ≤ the head).
    public func inclusionProof(seq: UInt64, size: UInt64) throws -> [MerkleTree.Hash] {
        try Self.checkSizes(seq, size)
        return try withNodes { read in try MerkleTree.inclusionProof(index: seq - 1, size: size, read: read) }
    }

    /// The consistency proof between the trees of `old` and `new` leaves (1 ≤ old ≤ new ≤ the head).
    public func consistencyProof(from old: UInt64, to new: UInt64) throws -> [MerkleTree.Hash] {
        try Self.checkSizes(old, new)
        return try withNodes { read in try MerkleTree.consistencyProof(old: old, new: new, read: read) }
    }

    /// `sizes` must rise (each at least the one before) from 1 (0 alone: the empty tree's root), and
    /// fit a seq: MerkleTree's preconditions are never what refuses a caller's numbers. A size past the
    /// head is refused by the missing nodes.
    private static func checkSizes(_ sizes: UInt64...) throws {
        let fits = sizes.allSatisfy { $0 < UInt64(Int64.max) / 4 }
        let rising = zip(sizes, sizes.dropFirst()).allSatisfy { $0 <= $1 } && (sizes.count == 1 || sizes[0] >= 1)
        guard fits, rising else { throw PostgresLedgerError("sizes \(sizes) are not 1 ≤ … ≤ the tree's size") }
    }

    /// Runs `compute` over the stored nodes in one round trip: which nodes a root or a proof reads
    /// depends on the sizes alone, never on the hashes, so a first run with placeholder hashes names
    /// them, one statement fetches them, and a second run computes with them. A node the table lacks
    /// (a size past the head) throws.
    private func withNodes<R>(_ compute: (MerkleTree.NodeReader) throws -> R) throws -> R {
        var positions: Set<Int64> = []
        _ = try compute { level, index in
            positions.insert(Int64(MerkleTree.position(level: level, index: index)))
            return .genesis
        }
        var found: [Int64: MerkleTree.Hash] = [:]
        if !positions.isEmpty {
            for row in try read("SELECT position, hash FROM orgledger_tree WHERE position = ANY(\(Array(positions)))") {
                let (position, hash) = try row.decode((Int64, ByteBuffer).self)
                found[position] = try Self.hash(hash)
            }
        }
        return try compute { level, index in
            guard let hash = found[Int64(MerkleTree.position(level: level, index: index))] else {
                throw PostgresLedgerError("the tree holds no node at level \(level), index \(index)")
            }
            return hash
        }
    }

    func read(_ query: PostgresQuery) throws -> [PostgresRow] {
        do {
            let connection = try reader
            return try Self.untilClosed(connection, connection.query(query, logger: logger))
        } catch {
            if Self.isConnectionLost(error) { connections.withLock { $0.readerLost = true } }
            throw error
        }
    }

    // MARK: Values

    private static func version(ofStream stream: String, on connection: PostgresConnection, logger: Logger) async throws -> UInt64 {
        let rows = try await connection.query("SELECT max(version) FROM orgledger_events WHERE stream = \(stream)", logger: logger).collect()
        return UInt64(try rows.first?.decode(Int64?.self) ?? 0)
    }

    private static func recorded(_ row: PostgresRow) throws -> RecordedEvent {
        let (hash, bytes) = try row.decode((ByteBuffer, ByteBuffer).self)
        let stored = Array(bytes.readableBytesView)
        let envelope = try stored.withUnsafeBytes { try EventEnvelope.decode($0).envelope }
        return RecordedEvent(envelope: envelope, hash: try Self.hash(hash), canonicalBytes: stored)
    }

    static func bytes(_ hash: ChainHash) -> ByteBuffer { ByteBuffer(bytes: hash.bytes) }

    static func hash(_ buffer: ByteBuffer) throws -> ChainHash {
        guard buffer.readableBytes == 32 else { throw PostgresLedgerError("a stored hash has \(buffer.readableBytes) bytes, not 32") }
        return buffer.readableBytesView.withContiguousStorageIfAvailable { ChainHash(bytes: UnsafeRawBufferPointer($0)) }
            ?? Array(buffer.readableBytesView).withUnsafeBytes { ChainHash(bytes: $0) }
    }
}

/// An append refused because another instance became the writer since this one did: nothing was
/// written, and this instance will write nothing until it becomes the writer again.
public struct FencedWriter: Error, CustomStringConvertible, Sendable {
    public let epoch: Int64
    /// The writer's epoch as the refusal saw it (nil: only that it is not this one's).
    public let current: Int64?
    public var description: String {
        "fenced: this instance writes with epoch \(epoch), the ledger's writer has " + (current.map { "epoch \($0)" } ?? "another")
    }
}

/// The connection closed before the statement was answered: whether it took effect is unknown.
public struct ConnectionClosed: Error, CustomStringConvertible, Sendable {
    public var description: String { "the connection to PostgreSQL closed before the statement was answered" }
}

/// A continuation resumed once, by whichever of two racers finishes first.
private final class Waiting<R: Sendable>: Sendable {
    private let continuation = Mutex<CheckedContinuation<R, any Error>?>(nil)
    func set(_ continuation: CheckedContinuation<R, any Error>) { self.continuation.withLock { $0 = continuation } }
    func finish(_ result: Result<R, any Error>) { continuation.withLock { $0.take() }?.resume(with: result) }
}

/// True for the first caller of `claim` only.
private final class Once: Sendable {
    private let claimed = Mutex(false)
    func claim() -> Bool {
        claimed.withLock { claimed in
            defer { claimed = true }
            return !claimed
        }
    }
}

/// Callers in turn, first come first served: who leaves hands the turn to the next waiting.
private actor Turnstile {
    private var taken = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    func enter() async {
        guard taken else {
            taken = true
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    func leave() {
        if waiting.isEmpty { taken = false } else { waiting.removeFirst().resume() }
    }
}

/// Wakes waiters when rung; a wait also ends after its timeout.
private actor Doorbell {
    private(set) var rings = 0
    private var waiting: [Int: CheckedContinuation<Void, Never>] = [:]
    private var nextWaiter = 0

    func ring() {
        rings += 1
        let woken = waiting
        waiting = [:]
        for continuation in woken.values { continuation.resume() }
    }

    /// Returns at the first ring after `seen` rings (at once if it already came), or after `timeout`.
    func wait(after seen: Int, timeout: Duration) async {
        guard rings == seen else { return }
        let id = nextWaiter
        nextWaiter += 1
        let timer = Task { [weak self] in
            try? await Task.sleep(for: timeout)
            await self?.release(id)
        }
        // Registered before this actor runs anything else, so neither the timer nor a ring can miss it.
        await withCheckedContinuation { waiting[id] = $0 }
        timer.cancel()
    }

    private func release(_ id: Int) {
        waiting.removeValue(forKey: id)?.resume()
    }
}
