import EventLog
import Foundation
import LMDB
import LedgerCore
import LedgerPostgres
import LedgerTestSupport
import Logging
import PostgresNIO
import Testing

/// A fresh folder under the system temporary directory, removed by `remove()`.
struct TemporaryFolder {
    let path: String
    init() throws {
        path = NSTemporaryDirectory() + "orgledger-log-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// The implementations the contract suite runs against.
enum LogKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case inMemory = "in-memory"
    case lmdb = "LMDB"
    case postgres = "PostgreSQL"
    var testDescription: String { rawValue }

    /// A fresh, empty log of this kind. Call `close()` on the box when done (use `defer`).
    ///
    /// Not a closure-taking `withLog { log in … }`: swiftc 6.3.1 mis-infers the throwing-ness of such
    /// async closures around `#expect(try …)` and corrupted the task allocator at run time.
    func makeLog() async throws -> LogUnderTest {
        switch self {
        case .inMemory:
            return LogUnderTest(log: InMemoryEventLog(), close: {})
        case .lmdb:
            let folder = try TemporaryFolder()
            let log = try LMDBEventLog(path: folder.path)
            return LogUnderTest(log: log, close: { log.close(); folder.remove() })
        case .postgres:
            let database = try await TestDatabase.make()
            let log = try await PostgresEventLog.open(database.location, asWriter: true)
            // Not waited for: `close` runs in a `defer` of an async test, and blocking a thread of the
            // cooperative pool until a task on that pool has run deadlocks once every thread does so.
            return LogUnderTest(log: log, close: {
                Task {
                    await log.close()
                    await database.drop()
                }
            })
        }
    }
}

struct LogUnderTest {
    let log: any EventLog
    let close: () -> Void
}

let testTime = Timestamp(millisecondsSinceEpoch: 1_795_810_740_123)

func event(_ type: String = "test.happened", _ data: JSONValue = [:]) -> NewEvent {
    NewEvent(type: type, at: testTime, actor: "ada@example.com", data: data, meta: EventMeta(requestId: "r"))
}

func executable(named name: String) throws -> URL {
    var dir = URL(fileURLWithPath: ProcessInfo.processInfo.arguments[0]).resolvingSymlinksInPath()
    for _ in 0..<4 {
        dir.deleteLastPathComponent()
        let candidate = dir.appendingPathComponent(name)
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
    }
    throw EnvelopeError("executable \(name) not found near \(ProcessInfo.processInfo.arguments[0]); build with `swift build --build-tests`")
}

/// The error `body` throws, or nil. Used instead of `await #expect(throws:) { … }`: AddressSanitizer found
/// swiftc 6.3.1's expansion of that macro in async tests writing past the end of the test's async frame.
func thrownError<T>(_ body: () async throws -> T) async -> (any Error)? {
    do {
        _ = try await body()
        return nil
    } catch {
        return error
    }
}
