import Crypto
import Foundation

/// The RFC 9162 §2.1 Merkle tree over the log (product spec §9): leaf `i` (from 0) is the canonical bytes
/// of seq `i + 1`; a leaf hashes as `SHA-256(0x00 ‖ bytes)`, a node as `SHA-256(0x01 ‖ left ‖ right)`.
///
/// Only the hashes of *full* subtrees are kept: the node at `level` and `index` covers leaves
/// `index·2^level ..< (index+1)·2^level`. Appending leaf `i` completes exactly the nodes
/// `(0, i), (1, i>>1), …` up to the number of trailing one bits of `i`, so they are numbered in the order
/// they are made (`position`) and stored with append-only writes. Every other hash a root, a proof or a
/// tile needs is folded from O(log n) of them. Nodes are read through a closure so the same code serves
/// the LMDB table, a test's array, and an offline recomputation from an export.
public enum MerkleTree {
    public typealias Hash = ChainHash
    /// Reads the stored hash of a full subtree; throws if it is not there.
    public typealias NodeReader = (_ level: Int, _ index: UInt64) throws -> Hash

    public static func leafHash(_ bytes: UnsafeRawBufferPointer) -> Hash {
        var hasher = SHA256()
        withUnsafeBytes(of: UInt8(0)) { hasher.update(bufferPointer: $0) }
        hasher.update(bufferPointer: bytes)
        return hasher.finalize().withUnsafeBytes { Hash(bytes: $0) }
    }

    public static func leafHash(_ bytes: [UInt8]) -> Hash { bytes.withUnsafeBytes { leafHash($0) } }

    public static func nodeHash(_ left: Hash, _ right: Hash) -> Hash {
        // On the stack: a rebuild makes a node for nearly every leaf.
        withUnsafeTemporaryAllocation(byteCount: 65, alignment: 8) { out in
            out[0] = 1
            left.write(to: UnsafeMutableRawBufferPointer(rebasing: out[1..<33]))
            right.write(to: UnsafeMutableRawBufferPointer(rebasing: out[33..<65]))
            return Hash.of(UnsafeRawBufferPointer(out))
        }
    }

    /// A proof's hashes as the API and the CLI show them: standard base64, each.
    public static func base64(_ hashes: [Hash]) -> JSONValue { .array(hashes.map { .string($0.base64) }) }

    /// The hash of the empty tree: SHA-256 of no bytes.
    public static let emptyRoot = Hash.of([UInt8]())

    // MARK: Storage layout

    /// How many node hashes a tree of `size` leaves stores: Σ ⌊size / 2^l⌋ = 2·size − popcount(size).
    public static func storedCount(size: UInt64) -> UInt64 { 2 * size - UInt64(size.nonzeroBitCount) }

    /// Where the node `(level, index)` is stored: after every node completed by an earlier leaf, then in
    /// level order among those its last leaf completes.
    public static func position(level: Int, index: UInt64) -> UInt64 {
        let lastLeaf = (index + 1) << UInt64(level) - 1
        return storedCount(size: lastLeaf) + UInt64(level)
    }

    /// The nodes appending `leaf` (a leaf hash, at index `size`) completes, in storage order: the leaf,
    /// then each parent it completes. `read` supplies the left siblings already stored.
    public static func nodesCompleted(appending leaf: Hash, at size: UInt64, read: NodeReader) throws -> [Hash] {
        var out: [Hash] = []
        try completing(leaf, at: size, leftSibling: read) { _, hash in
            out.append(hash)
            return true
        }
        return out
    }

    /// The one walk up the levels an append makes: `made` gets the leaf, then each parent the leaf
    /// completes, while it is a right child (odd index) — its parent is made with the left sibling
    /// `leftSibling` names (asked for before `made` hears of the node beside it). Returns false if
    /// `made` stopped it.
    @discardableResult
    static func completing(
        _ leaf: Hash, at leafIndex: UInt64, leftSibling: (_ level: Int, _ index: UInt64) throws -> Hash, made: (_ level: Int, Hash) throws -> Bool
    ) rethrows -> Bool {
        var hash = leaf
        var index = leafIndex, level = 0
        while true {
            let left = index & 1 == 1 ? try leftSibling(level, index - 1) : nil
            guard try made(level, hash) else { return false }
            guard let left else { return true }
            hash = nodeHash(left, hash)
            index >>= 1
            level += 1
        }
    }

    /// The right edge of a stored, growing tree: the last node made at each level, which is every left
    /// sibling the next appends need. A writer or a re-derivation keeps one and makes each leaf's nodes
    /// without reading the tree.
    public struct Frontier: Sendable {
        public private(set) var size: UInt64 = 0
        private var lastAtLevel: [Hash] = []

        /// The frontier of an empty tree.
        public init() {}

        /// The frontier of a stored tree of `size` leaves: O(log n) reads.
        public init(size: UInt64, read: NodeReader) throws {
            self.size = size
            lastAtLevel = try (0..<(64 - size.leadingZeroBitCount)).map { try read($0, (size >> UInt64($0)) - 1) }
        }

        /// Appends a leaf: `body` gets the nodes it completes in storage order (the leaf, then each
        /// parent up the levels where it is a right child), and returns false to stop early. A frontier
        /// that was stopped (or whose `body` threw) is spent: its upper levels are not those of its size.
        @discardableResult
        public mutating func append(leaf: Hash, _ body: (Hash) throws -> Bool) rethrows -> Bool {
            defer { size += 1 }
            var last = lastAtLevel
            lastAtLevel = []  // held uniquely by `last` while the walk changes it, so no copy is made
            defer { lastAtLevel = last }
            return try MerkleTree.completing(leaf, at: size, leftSibling: { level, _ in last[level] }) { level, hash in
                if level == last.count { last.append(hash) } else { last[level] = hash }
                return try body(hash)
            }
        }
    }

    /// The root of a growing tree without storing it: the hashes of its full subtrees, largest first.
    /// What an auditor's recomputation from an export needs (O(log n) memory).
    public struct Builder: Sendable {
        private var subtrees: [(level: Int, hash: Hash)] = []
        public private(set) var size: UInt64 = 0

        public init() {}

        public mutating func append(leaf: Hash) {
            var hash = leaf
            var level = 0
            while let last = subtrees.last, last.level == level {
                subtrees.removeLast()
                hash = nodeHash(last.hash, hash)
                level += 1
            }
            subtrees.append((level, hash))
            size += 1
        }

        /// MTH of the leaves so far: the full subtrees folded from the right.
        public var root: Hash {
            guard var root = subtrees.last?.hash else { return emptyRoot }
            for subtree in subtrees.dropLast().reversed() { root = nodeHash(subtree.hash, root) }
            return root
        }
    }

    // MARK: Hashes of ranges

    /// The largest power of two below `n` (n ≥ 2): RFC 9162's split point `k`.
    @inline(__always)
    static func split(_ n: UInt64) -> UInt64 { 1 << UInt64(63 - (n - 1).leadingZeroBitCount) }

    /// MTH of leaves `start ..< end` (within the stored tree): a full aligned subtree is read, any other
    /// range split as RFC 9162 splits it. The ranges proofs and roots ask for are sums of shrinking powers
    /// of two, so this reads O(log n) nodes.
    public static func rangeHash(_ start: UInt64, _ end: UInt64, read: NodeReader) throws -> Hash {
        let n = end - start
        precondition(n > 0, "an empty range has no subtree hash")
        if n & (n - 1) == 0, start % n == 0 {
            return try read(n.trailingZeroBitCount, start / n)
        }
        let k = split(n)
        return nodeHash(try rangeHash(start, start + k, read: read), try rangeHash(start + k, end, read: read))
    }

    /// The root of the tree of the first `size` leaves.
    public static func root(size: UInt64, read: NodeReader) throws -> Hash {
        size == 0 ? emptyRoot : try rangeHash(0, size, read: read)
    }

    // MARK: Proofs (RFC 9162 §2.1.3.1, §2.1.4.1)

    /// The inclusion proof of leaf `index` in the tree of `size` leaves (index < size), leaf side first.
    public static func inclusionProof(index: UInt64, size: UInt64, read: NodeReader) throws -> [Hash] {
        precondition(index < size)
        var path: [Hash] = []
        func walk(_ m: UInt64, _ start: UInt64, _ end: UInt64) throws {
            let n = end - start
            guard n > 1 else { return }
            let k = split(n)
            if m < k {
                try walk(m, start, start + k)
                path.append(try rangeHash(start + k, end, read: read))
            } else {
                try walk(m - k, start + k, end)
                path.append(try rangeHash(start, start + k, read: read))
            }
        }
        try walk(index, 0, size)
        return path
    }

    /// The consistency proof from the tree of `old` leaves to the tree of `new` (0 < old ≤ new).
    public static func consistencyProof(old: UInt64, new: UInt64, read: NodeReader) throws -> [Hash] {
        precondition(old > 0 && old <= new)
        var proof: [Hash] = []
        func subproof(_ m: UInt64, _ start: UInt64, _ end: UInt64, _ complete: Bool) throws {
            let n = end - start
            if m == n {
                if !complete { proof.append(try rangeHash(start, end, read: read)) }
                return
            }
            let k = split(n)
            if m <= k {
                try subproof(m, start, start + k, complete)
                proof.append(try rangeHash(start + k, end, read: read))
            } else {
                try subproof(m - k, start + k, end, false)
                proof.append(try rangeHash(start, start + k, read: read))
            }
        }
        try subproof(old, 0, new, true)
        return proof
    }

    // MARK: Checking proofs (RFC 9162 §2.1.3.2, §2.1.4.2): what an auditor runs

    /// Whether `proof` shows the leaf hash `leaf` at `index` in the tree of `size` leaves whose root is `root`.
    public static func verifyInclusion(leaf: Hash, index: UInt64, size: UInt64, proof: [Hash], root: Hash) -> Bool {
        guard index < size else { return false }
        var fn = index
        var sn = size - 1
        var r = leaf
        for p in proof {
            if sn == 0 { return false }
            if fn & 1 == 1 || fn == sn {
                r = nodeHash(p, r)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                r = nodeHash(r, p)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 && r == root
    }

    /// Whether `proof` shows the tree of `new` leaves (root `newRoot`) extends the tree of `old` leaves
    /// (root `oldRoot`).
    public static func verifyConsistency(old: UInt64, new: UInt64, oldRoot: Hash, newRoot: Hash, proof: [Hash]) -> Bool {
        guard old <= new else { return false }
        if old == new { return proof.isEmpty && oldRoot == newRoot }
        if old == 0 { return proof.isEmpty }  // the empty tree is a prefix of every tree
        var path = proof
        if old & (old - 1) == 0 { path.insert(oldRoot, at: 0) }  // old is a full subtree: its root starts the path
        guard let first = path.first else { return false }
        var fn = old - 1
        var sn = new - 1
        while fn & 1 == 1 {
            fn >>= 1
            sn >>= 1
        }
        var fr = first
        var sr = first
        for c in path.dropFirst() {
            if sn == 0 { return false }
            if fn & 1 == 1 || fn == sn {
                fr = nodeHash(c, fr)
                sr = nodeHash(c, sr)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                sr = nodeHash(sr, c)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 && fr == oldRoot && sr == newRoot
    }
}

extension ChainHash {
    /// The 32 bytes in standard base64 (checkpoints, proofs), as C2SP and RFC 9162 tools read them.
    public var base64: String { Data(bytes).base64EncodedString() }
}
