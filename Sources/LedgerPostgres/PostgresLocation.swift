import Foundation
import PostgresNIO

/// Where a ledger on PostgreSQL lives, as `--store` names it (product spec §11):
/// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE` over TCP, or, as libpq spells it, a Unix socket's
/// folder in `?host=/run/postgresql` (the socket is `.s.PGSQL.<port>` in it). No TLS: the server is on
/// the same machine or reached through a tunnel the operator runs (a password sent to a server that
/// asks for it in clear would cross that link as is; use scram-sha-256 or peer authentication).
public struct PostgresLocation: Sendable, CustomStringConvertible {
    public let configuration: PostgresConnection.Configuration
    /// The URL without its password, for messages.
    public let description: String

    public init(url: String) throws(PostgresLedgerError) {
        // Messages never repeat the URL: it may hold a password.
        guard let parts = URLComponents(string: url), parts.scheme == "postgres" || parts.scheme == "postgresql" else {
            throw PostgresLedgerError("--store takes postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?host=/socket/folder]")
        }
        // A parameter this does not act on (sslmode, password, …) is refused, not silently dropped.
        if let unknown = parts.queryItems?.first(where: { $0.name != "host" }) {
            throw PostgresLedgerError("the store URL's parameter \(unknown.name.prefix(40)) is not supported (only host=/socket/folder)")
        }
        guard let user = parts.user, !user.isEmpty else { throw PostgresLedgerError("the store URL names no user") }
        let database = parts.path.hasPrefix("/") ? String(parts.path.dropFirst()) : parts.path
        guard !database.isEmpty, !database.contains("/") else { throw PostgresLedgerError("the store URL names no database (postgres://USER@HOST/DATABASE)") }
        let port = parts.port ?? 5432
        guard (1...65535).contains(port) else { throw PostgresLedgerError("the store URL's port \(port) is not a port") }
        let socketFolder = parts.queryItems?.first { $0.name == "host" }?.value
        if let socketFolder {
            guard socketFolder.hasPrefix("/") else { throw PostgresLedgerError("the store URL's host= names a socket folder: an absolute path") }
            configuration = PostgresConnection.Configuration(
                unixSocketPath: socketFolder + "/.s.PGSQL.\(port)", username: user, password: parts.password, database: database)
        } else {
            guard let host = parts.host, !host.isEmpty else { throw PostgresLedgerError("the store URL names no host (or ?host=/socket/folder)") }
            configuration = PostgresConnection.Configuration(host: host, port: port, username: user, password: parts.password, database: database, tls: .disable)
        }
        var shown = parts
        shown.password = nil
        description = shown.string ?? "postgres://…"
    }
}

/// A failure of the PostgreSQL backend that is not a refused append: a URL, a schema, a lost role.
public struct PostgresLedgerError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
