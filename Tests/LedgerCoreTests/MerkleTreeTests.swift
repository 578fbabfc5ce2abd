import LedgerCore
import Testing

/// The RFC 9162 tree: the published RFC 6962 vectors, and every root and proof the stored-node code gives
/// against the RFC's own recursive definitions, computed from all the leaves.
@Suite struct MerkleTreeTests {
    typealias Hash = MerkleTree.Hash

    /// The RFC 6962 test leaves and the root of each prefix (as published with Certificate Transparency).
    static let vectorLeaves = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
    static let vectorRoots = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125", "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7", "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef", "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]

    static func bytes(hex: String) -> [UInt8] {
        stride(from: 0, to: hex.count, by: 2).map { UInt8(hex.dropFirst($0).prefix(2), radix: 16)! }
    }

    /// A tree kept the way the ledger keeps it: the stored nodes in `position` order, appended leaf by leaf.
    struct StoredTree {
        var nodes: [Hash] = []
        var size: UInt64 = 0

        mutating func append(_ leaf: [UInt8]) throws {
            let completed = try MerkleTree.nodesCompleted(appending: MerkleTree.leafHash(leaf), at: size, read: read)
            #expect(UInt64(nodes.count) == MerkleTree.position(level: 0, index: size))
            nodes += completed
            size += 1
            #expect(UInt64(nodes.count) == MerkleTree.storedCount(size: size))
        }

        func read(_ level: Int, _ index: UInt64) throws -> Hash {
            let position = MerkleTree.position(level: level, index: index)
            guard position < nodes.count, (index + 1) << UInt64(level) <= size else { throw Missing() }
            return nodes[Int(position)]
        }
        struct Missing: Error {}
    }

    // RFC 9162's definitions, straight from the text, over every leaf hash.
    static func mth(_ d: ArraySlice<Hash>) -> Hash {
        if d.isEmpty { return MerkleTree.emptyRoot }
        if d.count == 1 { return d.first! }
        var k = 1
        while k * 2 < d.count { k *= 2 }
        return MerkleTree.nodeHash(mth(d.prefix(k)), mth(d.dropFirst(k)))
    }

    static func path(_ m: Int, _ d: ArraySlice<Hash>) -> [Hash] {
        if d.count <= 1 { return [] }
        var k = 1
        while k * 2 < d.count { k *= 2 }
        return m < k ? path(m, d.prefix(k)) + [mth(d.dropFirst(k))] : path(m - k, d.dropFirst(k)) + [mth(d.prefix(k))]
    }

    static func subproof(_ m: Int, _ d: ArraySlice<Hash>, _ complete: Bool) -> [Hash] {
        if m == d.count { return complete ? [] : [mth(d)] }
        var k = 1
        while k * 2 < d.count { k *= 2 }
        return m <= k ? subproof(m, d.prefix(k), complete) + [mth(d.dropFirst(k))] : subproof(m - k, d.dropFirst(k), false) + [mth(d.prefix(k))]
    }

    @Test("a frontier makes the very nodes a stored tree holds, from any size it is loaded at")
    func frontierMakesTheStoredNodes() throws {
        var stored = StoredTree()
        let leaves = (0..<70).map { [UInt8]("leaf \($0)".utf8) }
        for leaf in leaves { try stored.append(leaf) }
        for start in [0, 1, 5, 8, 33, 64] {
            var frontier = try MerkleTree.Frontier(size: UInt64(start), read: stored.read)
            var made: [Hash] = []
            for leaf in leaves[start...] { frontier.append(leaf: MerkleTree.leafHash(leaf)) { made.append($0); return true } }
            #expect(made == Array(stored.nodes[Int(MerkleTree.storedCount(size: UInt64(start)))...]), "from \(start) leaves")
            #expect(frontier.size == 70)
        }
    }

    @Test func theRFC6962VectorsHold() throws {
        var tree = StoredTree()
        #expect(try MerkleTree.root(size: 0, read: tree.read).hex == Self.vectorRoots[0])
        for (n, leaf) in Self.vectorLeaves.enumerated() {
            try tree.append(Self.bytes(hex: leaf))
            #expect(try MerkleTree.root(size: UInt64(n + 1), read: tree.read).hex == Self.vectorRoots[n + 1], "size \(n + 1)")
        }
        // The published proofs: leaf 0 and leaf 5 in the tree of 8, and the consistency of 2 with 8.
        #expect(try MerkleTree.inclusionProof(index: 0, size: 8, read: tree.read).map(\.hex) == [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7", "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ])
        #expect(try MerkleTree.inclusionProof(index: 5, size: 8, read: tree.read).map(\.hex) == [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b", "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ])
        let consistency = try MerkleTree.consistencyProof(old: 2, new: 8, read: tree.read).map(\.hex)
        #expect(consistency.prefix(2) == ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e", "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"])
    }

    @Test func everyProofMatchesTheDefinitionAndVerifies() throws {
        var tree = StoredTree()
        var leaves: [Hash] = []
        for n in 1...70 {
            let data = Array("leaf \(n - 1)".utf8)
            try tree.append(data)
            leaves.append(MerkleTree.leafHash(data))
            let size = UInt64(n)
            let root = try MerkleTree.root(size: size, read: tree.read)
            #expect(root == Self.mth(leaves[...]))
            for m in 0..<n {
                let proof = try MerkleTree.inclusionProof(index: UInt64(m), size: size, read: tree.read)
                #expect(proof == Self.path(m, leaves[...]), "inclusion \(m) in \(n)")
                #expect(MerkleTree.verifyInclusion(leaf: leaves[m], index: UInt64(m), size: size, proof: proof, root: root))
                // The attacker's variants: another leaf, another index, a proof cut short, a wrong size.
                #expect(!MerkleTree.verifyInclusion(leaf: leaves[(m + 1) % n], index: UInt64(m), size: size, proof: proof, root: root) || n == 1)
                if !proof.isEmpty {
                    #expect(!MerkleTree.verifyInclusion(leaf: leaves[m], index: UInt64(m), size: size, proof: Array(proof.dropLast()), root: root))
                    #expect(!MerkleTree.verifyInclusion(leaf: leaves[m], index: UInt64(m ^ 1), size: size, proof: proof, root: root) || m ^ 1 >= n)
                }
            }
            for old in 1...n {
                let proof = try MerkleTree.consistencyProof(old: UInt64(old), new: size, read: tree.read)
                #expect(proof == Self.subproof(old, leaves[...], true), "consistency \(old) → \(n)")
                let oldRoot = Self.mth(leaves.prefix(old))
                #expect(MerkleTree.verifyConsistency(old: UInt64(old), new: size, oldRoot: oldRoot, newRoot: root, proof: proof))
                if old < n {
                    // A rewritten past (another old root) or a cut proof does not verify.
                    #expect(!MerkleTree.verifyConsistency(old: UInt64(old), new: size, oldRoot: leaves[0] == oldRoot ? leaves[1] : leaves[0], newRoot: root, proof: proof))
                    #expect(!MerkleTree.verifyConsistency(old: UInt64(old), new: size, oldRoot: oldRoot, newRoot: root, proof: Array(proof.dropLast())))
                }
            }
        }
    }

    @Test func aFewThousandLeavesReadOnlyLogarithmicallyMany() throws {
        var tree = StoredTree()
        var leaves: [Hash] = []
        var builder = MerkleTree.Builder()
        for n in 0..<3_001 {
            let data = Array("entry \(n)".utf8)
            try tree.append(data)
            leaves.append(MerkleTree.leafHash(data))
            builder.append(leaf: leaves[n])
            if n < 300 || n % 97 == 0 { #expect(builder.root == (try MerkleTree.root(size: UInt64(n + 1), read: tree.read)), "builder at \(n + 1)") }
        }
        for size in [1, 255, 256, 257, 1024, 2047, 3001] {
            #expect(try MerkleTree.root(size: UInt64(size), read: tree.read) == Self.mth(leaves.prefix(size)), "size \(size)")
        }
        var reads = 0
        let counting: MerkleTree.NodeReader = { level, index in
            reads += 1
            return try tree.read(level, index)
        }
        let proof = try MerkleTree.inclusionProof(index: 1234, size: 3001, read: counting)
        #expect(proof == Self.path(1234, leaves[...]))
        #expect(reads <= 2 * 12, "an inclusion proof in 3001 leaves read \(reads) nodes")
    }
}
