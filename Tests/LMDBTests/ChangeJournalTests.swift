import Foundation
import Synchronization
import Testing
@testable import LMDB

/// What the commit hook of a recording environment is handed: the PostgreSQL ledger ships exactly
/// this, so a change that was taken back must not be in it.
@Suite("Change journal")
struct ChangeJournalTests {
    /// The hook's view of each committed transaction: (table, key, value or nil for a delete, or "empty").
    final class Shipped: Sendable {
        let batches = Mutex<[[String]]>([])
    }

    static func describe(_ change: ChangeJournal.Change) -> String {
        switch change {
        case .put(let table, let key, let value): "put \(table) \(String(decoding: key, as: UTF8.self))=\(String(decoding: value, as: UTF8.self))"
        case .delete(let table, let key): "delete \(table) \(String(decoding: key, as: UTF8.self))"
        case .empty(let table): "empty \(table)"
        }
    }

    @Test("the hook gets each transaction's changes in order; an aborted nested transaction's are gone; ignored tables and unhooked writes are not recorded")
    func recordsWhatCommits() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let env = try Environment(path: folder.path, configuration: .init(recordsChanges: true))
        let things = try env.openDatabase("things"), own = try env.openDatabase("own")
        env.journal!.ignore([own])
        let shipped = Shipped()
        env.setCommitHook { _, changes in shipped.batches.withLock { $0.append(changes.map(Self.describe)) } }

        try env.write { txn in
            try txn.put(in: things, key: "a", value: Array("1".utf8))
            try txn.put(in: own, key: "x", value: Array("local".utf8))
            do {
                let child = try txn.child()
                try child.put(in: things, key: "b", value: Array("taken back".utf8))
                struct Refused: Error {}
                throw Refused()  // drops `child`: aborted
            } catch {}
            let kept = try txn.child()
            try kept.put(in: things, key: "c", value: Array("3".utf8))
            try kept.commitChild()
            try txn.delete(in: things, key: "a")
        }
        try env.write { txn in try txn.empty(things) }
        try env.write(runsCommitHook: false) { txn in try txn.put(in: things, key: "d", value: Array("4".utf8)) }

        #expect(shipped.batches.withLock { $0 } == [["put things a=1", "put things c=3", "delete things a"], ["empty things"]])
        #expect(try env.read { txn in try txn.value(in: things, forKey: "d") } == Array("4".utf8))
    }

    @Test("a hook that throws aborts the transaction: nothing of it is committed")
    func hookRefusal() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let env = try Environment(path: folder.path, configuration: .init(recordsChanges: true))
        let things = try env.openDatabase("things")
        struct Unreachable: Error {}
        env.setCommitHook { _, _ in throw Unreachable() }
        #expect(throws: Unreachable.self) { try env.write { txn in try txn.put(in: things, key: "a", value: Array("1".utf8)) } }
        #expect(try env.read { txn in try txn.value(in: things, forKey: "a") } == nil)
    }
}
