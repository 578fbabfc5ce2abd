import Testing
import Ledger
@testable import LedgerLMDB

@Suite("Row arenas (rebuild's rows)")
struct RowArenaTests {
    private func add(_ arena: RowArena, _ table: ProjectionTables.Table, _ key: String, _ value: String) {
        arena.add(table, key: { $0.append(contentsOf: key.utf8) }, value: { $0.append(contentsOf: value.utf8) })
    }

    private func merged(_ arenas: [RowArena], _ table: ProjectionTables.Table) -> [String] {
        var out: [String] = []
        RowArena.forEachMerged(arenas, in: table) { key, value in
            out.append(String(decoding: key, as: UTF8.self) + "=" + String(decoding: value, as: UTF8.self))
            return true
        }
        return out
    }

    @Test("sorts each table by key bytes as LMDB does: a prefix first, a 0 byte before any letter")
    func sortsLikeLMDB() {
        let arena = RowArena(capacity: 16)  // grows while rows are added
        for key in ["b", "ab", "a\u{0}z", "a", "é", "Z"] { add(arena, .members, key, "v" + key) }
        add(arena, .orgs, "only", "1")
        arena.sort()
        #expect(merged([arena], .members) == ["Z=vZ", "a=va", "a\u{0}z=va\u{0}z", "ab=vab", "b=vb", "é=vé"])
        #expect(merged([arena], .orgs) == ["only=1"])
        #expect(merged([arena], .invitations).isEmpty)
    }

    @Test("merges arenas in key order; of two rows for one handle the current one wins, on either side")
    func mergesAndResolvesHandles() {
        let current = #"{"held_until":null,"org_id":"org_a"}"#
        let held = #"{"held_until":"2026-12-01T00:00:00.000Z","org_id":"org_b"}"#
        let a = RowArena(), b = RowArena()
        add(a, .members, "m1", "a")
        add(a, .members, "m3", "a")
        add(b, .members, "m2", "b")
        add(b, .members, "m4", "b")
        add(a, .handles, "acme", current)
        add(b, .handles, "acme", held)
        add(a, .handles, "beta", held)
        add(b, .handles, "beta", current)
        // Within one arena too.
        add(b, .handles, "gamma", current)
        add(b, .handles, "gamma", held)
        a.sort()
        b.sort()
        #expect(merged([a, b], .members) == ["m1=a", "m2=b", "m3=a", "m4=b"])
        #expect(merged([a, b], .handles) == ["acme=" + current, "beta=" + current, "gamma=" + current])
        #expect(merged([b, a], .handles) == ["acme=" + current, "beta=" + current, "gamma=" + current])
    }

    @Test("rows placed in reserved slots come out in slot order without sorting")
    func slots() {
        let arena = RowArena()
        arena.reserveSlots(.audit, count: 3)
        arena.add(.audit, at: 2, key: { $0.append(contentsOf: "k3".utf8) }, value: { $0.append(contentsOf: "c".utf8) })
        arena.add(.audit, at: 0, key: { $0.append(contentsOf: "k1".utf8) }, value: { $0.append(contentsOf: "a".utf8) })
        arena.add(.audit, at: 1, key: { $0.append(contentsOf: "k2".utf8) }, value: { $0.append(contentsOf: "b".utf8) })
        #expect(merged([arena], .audit) == ["k1=a", "k2=b", "k3=c"])
    }
}
