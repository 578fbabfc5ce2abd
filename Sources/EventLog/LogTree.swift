import LMDB
import LedgerCore

/// The Merkle tree over the log and its signed checkpoints (product spec §9), in the log's own
/// transactions: `write` appends each event's leaf with the event, so the tree is never behind the log.
///
/// - `tree`: key = `MerkleTree.position` as 8 big-endian bytes; value = the 32-byte hash of that full
///   subtree. Positions grow with the log, so every write is an `MDB_APPEND`.
/// - `checkpoints`: key = tree size as 8 big-endian bytes; value = the signed note (UTF-8).
extension LogTables {
    // MARK: The tree

    /// Stores the nodes leaf `seq − 1` completes (the writer's and the importer's `write`).
    func appendLeaf(_ bytes: [UInt8], seq: UInt64, in txn: borrowing WriteTransaction) throws {
        let index = seq - 1
        let nodes = try MerkleTree.nodesCompleted(appending: MerkleTree.leafHash(bytes), at: index) { level, index in try node(level, index, in: txn) }
        var position = MerkleTree.position(level: 0, index: index)
        for hash in nodes {
            try txn.put(in: tree, key: Self.seqKey(position), value: hash.bytes, flags: .append)
            position += 1
        }
    }

    /// The stored hash of the full subtree `(level, index)`; throws if the tree does not hold it.
    public func node(_ level: Int, _ index: UInt64, in txn: borrowing some TransactionReading & ~Copyable) throws -> MerkleTree.Hash {
        guard let hash = try txn.withValue(in: tree, forKey: Self.seqKey(MerkleTree.position(level: level, index: index)), { MerkleTree.Hash(bytes: $0) }) else {
            throw TreeError("the tree holds no node at level \(level), index \(index)")
        }
        return hash
    }

    /// The tree's size: how many leaves it holds (the head seq, once `catchUpTree` has run).
    public func treeSize(in txn: borrowing some TransactionReading & ~Copyable) throws -> UInt64 {
        let stored = UInt64(try txn.statistics(of: tree).entries)
        // storedCount grows by at least one a leaf: the largest size whose count fits is the size.
        var size = stored / 2
        while MerkleTree.storedCount(size: size + 1) <= stored { size += 1 }
        return size
    }

    /// Builds the leaves the tree lacks (a folder written before the tree existed, once, at open; all of
    /// them after `rederiveTree`); a no-op when it is whole.
    public func catchUpTree(in txn: borrowing WriteTransaction) throws {
        let size = try treeSize(in: txn)
        guard try head(in: txn).seq > size else { return }
        var frontier = try MerkleTree.Frontier(size: size) { level, index in try node(level, index, in: txn) }
        var position = MerkleTree.storedCount(size: size)
        try txn.withCursor(on: tree) { cursor in
            try forEachNodeCompleted(extending: &frontier, in: txn) { _, hash in
                try hash.bytes.withUnsafeBytes { value in
                    try Self.seqKey(position).withUnsafeBytes { key in try cursor.put(key: key, value: value, flags: .append) }
                }
                position += 1
                return true
            }
        }
    }

    /// Streams the nodes that the leaves after `frontier.size` complete, in storage order, with the seq
    /// whose leaf completes each: one pass over the log, no tree reads.
    private func forEachNodeCompleted(
        extending frontier: inout MerkleTree.Frontier, in txn: borrowing some TransactionReading & ~Copyable,
        _ body: (_ seq: UInt64, MerkleTree.Hash) throws -> Bool
    ) throws {
        try forEachEventBytes(after: frontier.size, in: txn) { seq, bytes in
            try frontier.append(leaf: MerkleTree.leafHash(bytes)) { hash in try body(seq, hash) }
        }
    }

    /// The root of the tree of the first `size` leaves.
    public func root(size: UInt64, in txn: borrowing some TransactionReading & ~Copyable) throws -> MerkleTree.Hash {
        try MerkleTree.root(size: size) { level, index in try node(level, index, in: txn) }
    }

    public func inclusionProof(seq: UInt64, size: UInt64, in txn: borrowing some TransactionReading & ~Copyable) throws -> [MerkleTree.Hash] {
        try MerkleTree.inclusionProof(index: seq - 1, size: size) { level, index in try node(level, index, in: txn) }
    }

    public func consistencyProof(from old: UInt64, to new: UInt64, in txn: borrowing some TransactionReading & ~Copyable) throws -> [MerkleTree.Hash] {
        try MerkleTree.consistencyProof(old: old, new: new) { level, index in try node(level, index, in: txn) }
    }

    /// Compares the stored tree, node by node in storage order, with the one the log derives (each leaf
    /// from its event's bytes, each parent from the two derived beneath it): the first stored node that
    /// differs, is missing or has no place in the log's tree, or nil. One pass over the log and one over
    /// the tree, O(log n) memory. `verify` reports it; a rebuild re-derives the tree only if there is one.
    public func firstTreeDifference(in txn: borrowing some TransactionReading & ~Copyable) throws -> ChainProblem? {
        var problem: ChainProblem?
        var frontier = MerkleTree.Frontier()
        var position: UInt64 = 0, size: UInt64 = 0
        try txn.withCursor(on: tree) { cursor in
            var stored = try cursor.first()
            try forEachNodeCompleted(extending: &frontier, in: txn) { seq, hash in
                guard let entry = stored, entry.key.count == 8, Self.readSeq(entry.key) == position, entry.value.count == 32, MerkleTree.Hash(bytes: entry.value) == hash else {
                    problem = ChainProblem(seq: seq, reason: "the Merkle tree's node \(position) does not match the log (rebuild re-derives it)")
                    return false
                }
                position += 1
                size = seq
                stored = try cursor.next()
                return true
            }
            if problem == nil, stored != nil {
                let entries = try txn.statistics(of: tree).entries
                problem = ChainProblem(seq: size, reason: "the Merkle tree holds \(entries) nodes; a log of \(size) events has \(MerkleTree.storedCount(size: size))")
            }
        }
        return problem
    }

    /// Drops the tree and derives it again from the log (rebuild).
    public func rederiveTree(in txn: borrowing WriteTransaction) throws {
        try txn.empty(tree)
        try catchUpTree(in: txn)
    }

    // MARK: Checkpoints

    /// The latest stored checkpoint (a signed note) and its tree size.
    public func latestCheckpoint(in txn: borrowing some TransactionReading & ~Copyable) throws -> (size: UInt64, note: String)? {
        try txn.withCursor(on: checkpoints) { cursor in
            guard let last = try cursor.last() else { return nil }
            return (Self.readSeq(last.key), String(decoding: last.value, as: UTF8.self))
        }
    }

    /// The stored checkpoint of exactly `size` leaves.
    public func checkpoint(size: UInt64, in txn: borrowing some TransactionReading & ~Copyable) throws -> String? {
        try txn.withValue(in: checkpoints, forKey: Self.seqKey(size)) { String(decoding: $0, as: UTF8.self) }
    }

    /// Stores a signed checkpoint of the tree at its current size; sizes only grow.
    public func storeCheckpoint(_ note: String, size: UInt64, in txn: borrowing WriteTransaction) throws {
        try txn.put(in: checkpoints, key: Self.seqKey(size), value: Array(note.utf8), flags: .append)
    }
}

public struct TreeError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
