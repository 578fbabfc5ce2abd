import Foundation
import LMDB
import LedgerCore
import Testing
@testable import EventLog

@Suite("LMDB event log")
struct LMDBLogTests {
    @Test("one changed byte in a stored event is detected and its seq named")
    func tamperDetected() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        do {
            let log = try LMDBEventLog(path: folder.path)
            defer { log.close() }
            for i in 1...9 {
                let marker = i == 5 ? "tamper-target-marker" : "ordinary-\(i)"
                _ = try await log.append(AppendRequest(stream: "org_t", expectedVersion: .any, events: [event("t", ["note": .string(marker)])]))
            }
            #expect(try log.verifyChain().isIntact)
        }
        // Change one byte of the event's stored bytes in the data file itself, as an attacker with the file would.
        let dataFile = folder.path + "/data.mdb"
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: dataFile)))
        let marker = Array("tamper-target-marker".utf8)
        // Every copy: LMDB's copy-on-write leaves stale copies of the page in freed pages.
        let offsets = bytes.ranges(of: marker).map(\.lowerBound)
        try #require(!offsets.isEmpty)
        for offset in offsets { bytes[offset] ^= 0x01 }
        try Data(bytes).write(to: URL(fileURLWithPath: dataFile))

        let log = try LMDBEventLog(path: folder.path)
        defer { log.close() }
        let report = try log.verifyChain()
        #expect(report.problem?.seq == 5)
        #expect(report.problem?.reason.contains("do not match their hash") == true)
        #expect(report.eventsChecked == 4)
        #expect(report.head.seq == 4)
    }

    @Test("a rewritten event with a fresh hash is caught by the next event's prev_hash")
    func rehashedEventDetected() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let log = try LMDBEventLog(path: folder.path)
        defer { log.close() }
        for _ in 1...3 { _ = try await log.append(AppendRequest(stream: "org_t", expectedVersion: .any, events: [event()])) }
        // Rewrite event 2 consistently with its own hash (bypassing the log, as a forger would).
        let original = try #require(try log.events(after: 1, limit: 1).first)
        var forged = original.envelope
        forged.actor = "mallory@example.com"
        let forgedBytes = try forged.canonicalBytes()
        try log.environment.write { txn in
            try txn.put(in: log.tables.events, key: LogTables.seqKey(2), value: ChainHash.of(forgedBytes).bytes + forgedBytes)
        }
        let report = try log.verifyChain()
        #expect(report.problem?.seq == 3)
        #expect(report.problem?.reason.contains("prev_hash") == true)
    }

    @Test("the map grows from 64 KiB past 50 MB of events")
    func mapGrowsPast50MB() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let log = try LMDBEventLog(path: folder.path, configuration: .init(mapSize: 64 << 10))
        defer { log.close() }
        #expect(log.environment.mapSize == 64 << 10)
        let padding = JSONValue.string(String(repeating: "p", count: 4000))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<4 {
                group.addTask {
                    for _ in 0..<34 {
                        let events = (0..<100).map { _ in event("bulk", ["pad": padding]) }
                        _ = try await log.append(AppendRequest(stream: "bulk-\(task)", expectedVersion: .any, events: events))
                    }
                }
            }
            try await group.waitForAll()
        }
        let info = log.environment.info()
        #expect(info.usedBytes > 50_000_000)
        #expect(info.mapSize >= info.usedBytes)
        let report = try log.verifyChain()
        #expect(report.isIntact)
        #expect(report.eventsChecked == 13_600)
    }

    @Test("events survive closing and reopening the data folder")
    func reopen() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let head: LogHead
        do {
            let log = try LMDBEventLog(path: folder.path)
            defer { log.close() }
            _ = try await log.append(AppendRequest(stream: "org_r", expectedVersion: .noStream, events: [event(), event()]))
            head = try log.head()
        }
        let log = try LMDBEventLog(path: folder.path)
        defer { log.close() }
        #expect(try log.head() == head)
        #expect(try log.version(ofStream: "org_r") == 2)
        let next = try await log.append(AppendRequest(stream: "org_r", expectedVersion: .exactly(2), events: [event()]))
        #expect(next.events[0].envelope.prevHash == head.hash)
    }

    @Test("a killed writer loses nothing it acknowledged, and the chain verifies", .timeLimit(.minutes(2)))
    func sigkillDuringAppends() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let helper = try executable(named: "orgledger-append-loop")
        var acknowledged: [UInt64: String] = [:]
        for round in 0..<3 {
            let process = Process()
            process.executableURL = helper
            process.arguments = [folder.path]
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            try pipe.fileHandleForWriting.close()
            let output = Mutex(Data())
            let reader = Thread {
                let data = pipe.fileHandleForReading.readDataToEndOfFile()
                output.withLock { $0 = data }
            }
            reader.start()
            try await Task.sleep(for: .milliseconds(400 + 200 * round))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            #expect(process.terminationReason == .uncaughtSignal)
            while !reader.isFinished {
                try await Task.sleep(for: .milliseconds(10))
            }
            let text = String(decoding: output.withLock { $0 }, as: UTF8.self)
            var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            lines.removeLast()  // the text after the last newline: empty, or a line cut by the kill
            for line in lines {
                let parts = line.split(separator: " ")
                acknowledged[UInt64(parts[0])!] = String(parts[1])
            }
        }
        #expect(acknowledged.count > 100, "the helper acknowledged too few appends to make the test meaningful")

        let log = try LMDBEventLog(path: folder.path)
        defer { log.close() }
        let report = try log.verifyChain()
        #expect(report.isIntact, "\(String(describing: report.problem))")
        let stored = try log.events(after: 0, limit: Int.max)
        let storedHashes = Dictionary(uniqueKeysWithValues: stored.map { ($0.seq, $0.hash.hex) })
        let lost = acknowledged.filter { storedHashes[$0.key] != $0.value }
        #expect(lost.isEmpty, "acknowledged but not stored: \(lost.keys.sorted().prefix(10))")
        #expect(report.head.seq >= acknowledged.keys.max() ?? 0)
    }
}

import Synchronization

@Suite("The Merkle tree in the log's transactions")
struct LogTreeTests {
    /// A log of `count` events, closed; its folder.
    func log(_ count: Int) async throws -> TemporaryFolder {
        let folder = try TemporaryFolder()
        let log = try LMDBEventLog(path: folder.path)
        defer { log.close() }
        for i in 1...count {
            _ = try await log.append(AppendRequest(stream: "org_\(i % 3)", expectedVersion: .any, events: [event("t", ["n": .int(Int64(i))])]))
        }
        return folder
    }

    @Test("the stored tree's root is RFC 9162's over the stored bytes, and verify checks every node")
    func verifyChecksTheTree() async throws {
        let folder = try await log(300)
        defer { folder.remove() }
        let environment = try Environment(path: folder.path)
        let tables = try LogTables(environment: environment)
        try environment.read { txn in
            var builder = MerkleTree.Builder()
            try tables.forEachEventBytes(after: 0, in: txn) { _, bytes in
                builder.append(leaf: MerkleTree.leafHash(bytes))
                return true
            }
            #expect(try tables.root(size: 300, in: txn) == builder.root)
            #expect(try tables.verify(in: txn, progress: nil).isIntact)
        }
        // One stored node changed (a parent, position 2: the node over leaves 0 and 1): verify names it.
        try environment.write { txn in try txn.put(in: tables.tree, key: LogTables.seqKey(2), value: [UInt8](repeating: 7, count: 32)) }
        let report = try environment.read { txn in try tables.verify(in: txn, progress: nil) }
        #expect(report.problem?.seq == 2 && report.problem?.reason.contains("Merkle tree") == true, "\(String(describing: report.problem))")
        // One node too many.
        try environment.write { txn in try tables.rederiveTree(in: txn) }
        try environment.write { txn in try txn.put(in: tables.tree, key: LogTables.seqKey(1_000_000), value: [UInt8](repeating: 7, count: 32)) }
        #expect(try environment.read { txn in try tables.verify(in: txn, progress: nil) }.problem?.reason.contains("nodes") == true)
    }

    @Test("a folder without the tree (written before it existed) gets exactly the tree appends would have built")
    func catchUpBuildsTheSameTree() async throws {
        let folder = try await log(257)
        defer { folder.remove() }
        let environment = try Environment(path: folder.path)
        let tables = try LogTables(environment: environment)
        let appended = try environment.read { txn in try (0..<MerkleTree.storedCount(size: 257)).map { try txn.value(in: tables.tree, forKey: LogTables.seqKey($0)) } }
        for keep in [UInt64(0), 100] {
            // Keep the nodes of the first `keep` leaves, as a log that stopped growing its tree there.
            try environment.write { txn in
                for position in MerkleTree.storedCount(size: keep)..<MerkleTree.storedCount(size: 257) { _ = try txn.delete(in: tables.tree, key: LogTables.seqKey(position)) }
                #expect(try tables.treeSize(in: txn) == keep)
                try tables.catchUpTree(in: txn)
            }
            let rebuilt = try environment.read { txn in try (0..<MerkleTree.storedCount(size: 257)).map { try txn.value(in: tables.tree, forKey: LogTables.seqKey($0)) } }
            #expect(rebuilt == appended, "caught up from \(keep) leaves")
        }
    }
}
