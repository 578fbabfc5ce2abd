import Foundation
import LedgerPostgres
import Logging
import PostgresNIO

/// A database of its own for one test, on the server `scripts/test` starts (`ORGLEDGER_TEST_POSTGRES`,
/// a `postgres://` URL of a user who may create databases). Without it the PostgreSQL cases fail and say
/// so: a backend that was not tested is not shown as passing.
public struct TestDatabase: Sendable {
    public let location: PostgresLocation
    private let server: PostgresLocation
    private let name: String

    public static func make() async throws -> TestDatabase {
        guard let url = ProcessInfo.processInfo.environment["ORGLEDGER_TEST_POSTGRES"] else {
            throw TestDatabaseError()
        }
        let server = try PostgresLocation(url: url)
        let name = "orgledger_test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        try await Self.run("CREATE DATABASE \(name)", on: server)
        var parts = URLComponents(string: url)!
        parts.path = "/" + name
        return TestDatabase(location: try PostgresLocation(url: parts.string!), server: server, name: name)
    }

    public func drop() async {
        try? await Self.run("DROP DATABASE IF EXISTS \(name) WITH (FORCE)", on: server)
    }

    /// Runs one statement on its own connection (a test's tampering, a database made or dropped).
    public static func run(_ sql: String, on location: PostgresLocation) async throws {
        let connection = try await PostgresConnection.connect(configuration: location.configuration, id: 0, logger: Logger(label: "test"))
        defer { Task { try? await connection.close() } }
        try await connection.query(PostgresQuery(unsafeSQL: sql), logger: Logger(label: "test"))
    }
}

public struct TestDatabaseError: Error, CustomStringConvertible {
    public var description: String { "ORGLEDGER_TEST_POSTGRES is not set: run scripts/test, which starts a PostgreSQL server for these tests" }
}
