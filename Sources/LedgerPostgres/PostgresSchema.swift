import LedgerCore
import Logging
import PostgresNIO

/// The tables of a ledger on PostgreSQL, created and versioned by the binary (product spec §11).
///
/// Only SQL that PostgreSQL, CockroachDB and YugabyteDB all run: no sequence for `seq` (the writer
/// assigns it under the head row's lock, so it stays gap-free and in commit order), no advisory locks,
/// `bytea` keys compared bytewise, `ON CONFLICT` upserts.
///
/// - `orgledger_schema`: one row, the schema version this binary wrote (a newer one is refused).
/// - `orgledger_head`: one row, the log's last seq and hash, the writers' fencing epoch and the current
///   writer's lease (until when, by the server's clock, it may not be replaced). Every append locks it
///   (`SELECT … FOR UPDATE`), so appends serialize on it and a writer whose epoch is no longer the
///   row's is refused inside its own transaction.
/// - `orgledger_events`: seq → stream, version, hash and the canonical bytes that were hashed; the
///   unique `(stream, version)` index is the stream index.
/// - `orgledger_tree`: the RFC 9162 tree's full subtrees by storage position (`MerkleTree.position`).
/// - `orgledger_rows`: every other table of the ledger (views, personal-data store, idempotent answers,
///   snapshots, checkpoints), as the ordered `(key, value)` byte rows the LMDB backend keeps, by table
///   name; `rev` is the head row's `rev` of the batch that last wrote the row, so an instance catches
///   up by asking for the rows past the revision it holds. A deleted row stays as a tombstone: its
///   value is NULL (an erased person's values are gone from it), its `rev` says when it went.
enum PostgresSchema {
    static let version: Int32 = 2

    static let statements = [
        "CREATE TABLE IF NOT EXISTS orgledger_schema (id smallint PRIMARY KEY CHECK (id = 1), version integer NOT NULL)",
        """
        CREATE TABLE IF NOT EXISTS orgledger_head (id smallint PRIMARY KEY CHECK (id = 1), seq bigint NOT NULL, hash bytea NOT NULL,
          epoch bigint NOT NULL, lease_until timestamptz NOT NULL, rev bigint NOT NULL)
        """,
        """
        CREATE TABLE IF NOT EXISTS orgledger_events (seq bigint PRIMARY KEY, stream text NOT NULL, version bigint NOT NULL,
          hash bytea NOT NULL, bytes bytea NOT NULL)
        """,
        "CREATE UNIQUE INDEX IF NOT EXISTS orgledger_events_stream ON orgledger_events (stream, version)",
        "CREATE TABLE IF NOT EXISTS orgledger_tree (position bigint PRIMARY KEY, hash bytea NOT NULL)",
        "CREATE TABLE IF NOT EXISTS orgledger_rows (tbl text NOT NULL, key bytea NOT NULL, value bytea, rev bigint NOT NULL, PRIMARY KEY (tbl, key))",
        "CREATE INDEX IF NOT EXISTS orgledger_rows_rev ON orgledger_rows (rev)",
    ]

    /// Creates what is missing and checks the version; two instances starting at once both succeed.
    static func ensure(on connection: PostgresConnection, logger: Logger) async throws {
        for attempt in 1...3 {
            do {
                try await connection.query("BEGIN", logger: logger)
                // The version first: a database of another version is left as it is.
                try await connection.query(PostgresQuery(unsafeSQL: statements[0]), logger: logger)
                try await connection.query(
                    "INSERT INTO orgledger_schema (id, version) VALUES (1, \(version)) ON CONFLICT (id) DO NOTHING", logger: logger)
                let found = try await connection.query("SELECT version FROM orgledger_schema WHERE id = 1", logger: logger).collect()
                let stored = try found.first?.decode(Int32.self) ?? 0
                guard stored == version else {
                    _ = try? await connection.query("ROLLBACK", logger: logger)
                    throw PostgresLedgerError("the database holds schema version \(stored); this orgledger reads version \(version)")
                }
                for statement in statements.dropFirst() { try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
                let genesis = PostgresEventLog.bytes(ChainHash.genesis)
                try await connection.query(
                    "INSERT INTO orgledger_head (id, seq, hash, epoch, lease_until, rev) VALUES (1, 0, \(genesis), 0, clock_timestamp(), 0) ON CONFLICT (id) DO NOTHING", logger: logger)
                try await connection.query("COMMIT", logger: logger)
                return
            } catch let error as PostgresLedgerError {
                throw error
            } catch {
                // Another instance creating the same tables at the same moment loses with a unique
                // violation; the next attempt finds them made.
                _ = try? await connection.query("ROLLBACK", logger: logger)
                if attempt == 3 { throw error }
            }
        }
    }
}
