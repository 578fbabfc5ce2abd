import LedgerCore

/// What the log proves about itself (product spec §9): signed checkpoints of its Merkle tree, the tiles
/// the tree is read in, and inclusion and consistency proofs. Storage-neutral: each backend keeps the
/// tree beside its log and answers these through `Ledger`.
public enum Evidence {
    /// C2SP `tlog-tiles`: a tile holds 2^8 hashes (or entries); a partial tile fewer.
    public static let tileHeight = 8
    public static let tileWidth = 1 << tileHeight
}

/// A checkpoint as stored: the tree size it is of and the signed note (`text/plain`).
public final class SignedCheckpoint: Sendable {
    public let size: UInt64
    public let note: String

    public init(size: UInt64, note: String) {
        self.size = size
        self.note = note
    }
}

/// Which tile: hashes at tree level `8·level` (or, for `level == nil`, the entry bundle), the `index`-th
/// run of 256, `width` of them (256: a full tile).
public struct TileAddress: Sendable, Hashable {
    public let level: Int?
    public let index: UInt64
    public let width: Int

    public init(level: Int?, index: UInt64, width: Int) {
        self.level = level
        self.index = index
        self.width = width
    }

    /// Parses what follows `tile/` in a C2SP path: `<L>/<N>[.p/<W>]` or `entries/<N>[.p/<W>]`, `N` in
    /// groups of three digits, all but the last prefixed `x` (`x001/x234/067`). One spelling only: no
    /// leading group of `x000`, `W` from 1 to 255.
    public init?(path segments: [Substring]) {
        guard segments.count >= 2 else { return nil }
        if segments[0] == "entries" {
            level = nil
        } else {
            guard segments[0].utf8.count <= 2, segments[0].allSatisfy(\.isASCIIDigit), let l = Int(segments[0]), l < 8, String(l) == segments[0] else { return nil }
            level = l
        }
        var rest = Array(segments.dropFirst())
        var width = Evidence.tileWidth
        if rest.count >= 2, rest[rest.count - 2].hasSuffix(".p") {
            let w = rest.removeLast()
            guard w.utf8.count <= 3, w.allSatisfy(\.isASCIIDigit), let parsed = Int(w), String(parsed) == w, parsed >= 1, parsed < Evidence.tileWidth else { return nil }
            width = parsed
            rest[rest.count - 1] = rest[rest.count - 1].dropLast(2)
        }
        guard !rest.isEmpty, rest.count <= 7 else { return nil }
        var index: UInt64 = 0
        for (i, group) in rest.enumerated() {
            let last = i == rest.count - 1
            let digits = last ? group : (group.hasPrefix("x") ? group.dropFirst() : "")
            guard digits.utf8.count == 3, digits.allSatisfy(\.isASCIIDigit), let value = UInt64(digits) else { return nil }
            if i == 0, !last, value == 0 { return nil }
            let (scaled, overflow) = index.multipliedReportingOverflow(by: 1000)
            guard !overflow else { return nil }
            index = scaled + value
        }
        self.index = index
        self.width = width
    }
}

/// An inclusion proof (`GET /v1/proofs/inclusion`): the audit path of seq's leaf in the tree of `treeSize`.
public final class InclusionProof: Sendable {
    public let seq: UInt64
    public let treeSize: UInt64
    public let hashes: [MerkleTree.Hash]

    public init(seq: UInt64, treeSize: UInt64, hashes: [MerkleTree.Hash]) {
        self.seq = seq
        self.treeSize = treeSize
        self.hashes = hashes
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isWholeNumber }
}

/// One event with its inclusion proof: its export line (the envelope with `hash`; the leaf is it
/// without `hash`, canonical) and its audit path in the checkpoint's tree.
public struct ProvedEvent: Sendable {
    public let seq: UInt64
    public let line: [UInt8]
    public let hashes: [MerkleTree.Hash]

    public init(seq: UInt64, line: [UInt8], hashes: [MerkleTree.Hash]) {
        self.seq = seq
        self.line = line
        self.hashes = hashes
    }
}

/// The evidence behind an answer about one member of one org as of a point (`?proof=true`, product spec
/// §9): every event of the org's stream the answer folds, the stream's next event if there is one
/// (versions 1…n+1 gap-free show none was left out), the events of the user's own stream that name them
/// (`user.created`, `user.email_changed`: the email commitments) with the values that open those
/// commitments while they are held, and each event's inclusion proof in `checkpoint`. Checkable offline
/// with the verifier key alone. No other personal value is disclosed (not a directory profile, not a
/// request's context).
public final class ProvableStream: Sendable {
    public let checkpoint: SignedCheckpoint
    public let events: [ProvedEvent]
    public let next: ProvedEvent?
    public let naming: [ProvedEvent]
    public let disclosures: [DisclosureLine]

    public init(checkpoint: SignedCheckpoint, events: [ProvedEvent], next: ProvedEvent?, naming: [ProvedEvent], disclosures: [DisclosureLine]) {
        self.checkpoint = checkpoint
        self.events = events
        self.next = next
        self.naming = naming
        self.disclosures = disclosures
    }
}
