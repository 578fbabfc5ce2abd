import Foundation
import Testing
@testable import LMDB

/// A fresh folder under the system temporary directory, removed by `remove()`.
struct TemporaryFolder {
    let path: String
    init() throws {
        path = NSTemporaryDirectory() + "orgledger-lmdb-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

@Suite("LMDB wrapper")
struct EnvironmentTests {
    @Test("a committed write is read back; keys come back in byte order")
    func putGetOrder() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let env = try Environment(path: folder.path)
        let db = try env.openDatabase("things")
        try env.write { txn in
            for key in ["b", "a", "c"] { try txn.put(in: db, key: key, value: Array("v-\(key)".utf8)) }
        }
        let keys = try env.read { txn in
            var keys: [String] = []
            try txn.withCursor(on: db) { cursor in
                try cursor.forEach(from: [UInt8]?.none) { entry in
                    keys.append(String(decoding: entry.key, as: UTF8.self))
                    return true
                }
            }
            return keys
        }
        #expect(keys == ["a", "b", "c"])
        #expect(try env.read { try $0.value(in: db, forKey: "b") } == Array("v-b".utf8))
        #expect(try env.read { try $0.value(in: db, forKey: "zz") } == nil)
    }

    @Test("a write whose closure throws is aborted: nothing of it is visible")
    func abortOnThrow() throws {
        struct Boom: Error {}
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let env = try Environment(path: folder.path)
        let db = try env.openDatabase("things")
        #expect(throws: Boom.self) {
            try env.write { txn in
                try txn.put(in: db, key: "k", value: [1])
                throw Boom()
            }
        }
        #expect(try env.read { try $0.value(in: db, forKey: "k") } == nil)
    }

    @Test("errors carry LMDB's code and text and match by name")
    func errors() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let env = try Environment(path: folder.path)
        let db = try env.openDatabase("things")
        try env.write { try $0.put(in: db, key: "k", value: [1]) }
        do {
            try env.write { try $0.put(in: db, key: "k", value: [2], flags: .noOverwrite) }
            Issue.record("overwrote a key with noOverwrite")
        } catch LMDBError.keyExists {
            // expected
        }
        do {
            try env.write { try $0.put(in: db, key: "a", value: [2], flags: .append) }
            Issue.record("appended a key out of order")
        } catch let error as LMDBError {
            #expect(error.code == LMDBError.keyExists.rawValue)
            #expect(error.message.contains("MDB_KEYEXIST"))
            #expect(error.description.contains("mdb_put(things)"))
        }
    }

    @Test("opening a folder that does not exist fails with the path in the message")
    func openFails() {
        do {
            _ = try Environment(path: "/nonexistent/orgledger-\(UUID().uuidString)")
            Issue.record("opened a missing folder")
        } catch {
            #expect(error.code == ENOENT)
            #expect(error.description.contains("/nonexistent/"))
        }
    }

    @Test("a write that fills the map grows it and succeeds")
    func mapGrowth() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let env = try Environment(path: folder.path, configuration: .init(mapSize: 64 << 10))
        let db = try env.openDatabase("big")
        let value = [UInt8](repeating: 7, count: 4000)
        for batch in 0..<40 {
            try env.write { txn in
                for i in 0..<100 { try txn.put(in: db, key: "\(batch)-\(i)", value: value) }
            }
        }
        #expect(env.mapSize > 16 << 20)
        #expect(try env.read { try $0.statistics(of: db).entries } == 4000)
    }

    @Test("the map never grows past its maximum: the write fails with mapFull and writes nothing")
    func mapMaximum() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let env = try Environment(path: folder.path, configuration: .init(mapSize: 64 << 10, maximumMapSize: 1 << 20))
        let db = try env.openDatabase("big")
        let value = [UInt8](repeating: 7, count: 4000)
        do {
            try env.write { txn in
                for i in 0..<1000 { try txn.put(in: db, key: "\(i)", value: value) }
            }
            Issue.record("wrote 4 MB into a 1 MiB map")
        } catch LMDBError.mapFull {}
        #expect(try env.read { try $0.statistics(of: db).entries } == 0)
    }

    @Test("reads run while another thread grows the map")
    func readsDuringGrowth() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let env = try Environment(path: folder.path, configuration: .init(mapSize: 64 << 10))
        let db = try env.openDatabase("big")
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                let value = [UInt8](repeating: 1, count: 2000)
                for i in 0..<2000 { try env.write { try $0.put(in: db, key: String(format: "%06d", i), value: value) } }
            }
            for _ in 0..<2 {
                group.addTask {
                    for _ in 0..<500 {
                        let count = try env.read { try $0.statistics(of: db).entries }
                        #expect(count <= 2000)
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(try env.read { try $0.statistics(of: db).entries } == 2000)
    }

    @Test("a read-only environment refuses writes")
    func readOnly() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        do {
            let env = try Environment(path: folder.path)
            _ = try env.openDatabase("things")
        }
        let env = try Environment(path: folder.path, configuration: .init(readOnly: true))
        #expect(throws: LMDBError.self) { try env.write { _ in } }
    }

    @Test("a database opened without creating it stays usable in later transactions")
    func openExisting() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        do {
            let env = try Environment(path: folder.path)
            let things = try env.openDatabase("things")
            try env.write { txn in try txn.put(in: things, key: Array("k".utf8), value: Array("v".utf8)) }
        }
        for configuration in [Environment.Configuration(), .init(readOnly: true)] {
            let env = try Environment(path: folder.path, configuration: configuration)
            // Opened in a read transaction: an aborted one would close the handle (lmdb.h, mdb_dbi_open).
            let things = try env.openDatabase("things", create: false)
            #expect(try env.read { txn in try txn.value(in: things, forKey: Array("k".utf8)) } == Array("v".utf8))
            #expect(try env.read { txn in try txn.withCursor(on: things) { try $0.first().map { Array($0.key) } } } == Array("k".utf8))
        }
    }

    @Test("durable by default: no sync-skipping flag is set")
    func durableFlags() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let env = try Environment(path: folder.path)
        let unsafe: UInt32 = 0x10000 /* MDB_NOSYNC */ | 0x40000 /* MDB_NOMETASYNC */ | 0x100000 /* MDB_MAPASYNC */
        #expect(env.flags & unsafe == 0)
    }
}
