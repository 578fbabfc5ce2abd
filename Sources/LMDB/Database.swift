import CLMDB

/// A handle to one named database inside an `Environment` (LMDB's `MDB_dbi`).
///
/// Handles are opened once, by `Environment.openDatabase`, and stay valid for the life of the environment.
public struct Database: Sendable, Hashable {
    public let name: String?
    let dbi: MDB_dbi

    init(name: String?, dbi: MDB_dbi) {
        self.name = name
        self.dbi = dbi
    }
}

/// Flags for `put`.
public struct PutFlags: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Refuse with `LMDBError.keyExists` when the key is already present.
    public static let noOverwrite = PutFlags(rawValue: UInt32(MDB_NOOVERWRITE))
    /// The key sorts after every key in the database: a fast append. LMDB answers `keyExists` if it does not.
    public static let append = PutFlags(rawValue: UInt32(MDB_APPEND))
}

/// Statistics of one database (`mdb_stat`).
public struct DatabaseStatistics: Sendable {
    public let entries: Int
    public let depth: Int
    public let branchPages: Int
    public let leafPages: Int
    public let overflowPages: Int
}
