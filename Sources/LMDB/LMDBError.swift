import CLMDB

/// An error returned by LMDB: the C return code, the operation that failed, and LMDB's own text.
///
/// Match on a code the way GRDB matches SQLite result codes:
/// ```swift
/// do { try txn.put(db, key: k, value: v, flags: .noOverwrite) }
/// catch LMDBError.keyExists { … }
/// ```
public struct LMDBError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The code returned by the C library: an `MDB_*` code or an `errno` value.
    public let code: Int32
    /// The LMDB function (or wrapper operation) that returned it.
    public let operation: String

    public init(code: Int32, operation: String) {
        self.code = code
        self.operation = operation
    }

    /// LMDB's own description (`mdb_strerror`), which also covers `errno` values such as `ENOSPC`.
    public var message: String { String(cString: mdb_strerror(code)) }

    public var description: String { "\(operation): \(message) (\(code))" }

    /// A code to match in a `catch` pattern.
    public struct Code: Hashable, Sendable {
        public let rawValue: Int32
        public init(_ rawValue: Int32) { self.rawValue = rawValue }

        public static func ~= (code: Code, error: any Error) -> Bool {
            (error as? LMDBError)?.code == code.rawValue
        }
    }

    public static let keyExists = Code(MDB_KEYEXIST)
    public static let notFound = Code(MDB_NOTFOUND)
    public static let mapFull = Code(MDB_MAP_FULL)
    public static let mapResized = Code(MDB_MAP_RESIZED)
    public static let readersFull = Code(MDB_READERS_FULL)
    public static let transactionFull = Code(MDB_TXN_FULL)
    public static let databasesFull = Code(MDB_DBS_FULL)
    public static let badValueSize = Code(MDB_BAD_VALSIZE)
    public static let invalid = Code(MDB_INVALID)
    public static let corrupted = Code(MDB_CORRUPTED)
    /// The disk is full: `errno` `ENOSPC` from a write or `fsync` during commit.
    public static let noSpace = Code(28)

    /// Whether this error means the disk (not the map) is full.
    public var isDiskFull: Bool { code == 28 || code == 122 /* EDQUOT */ }
}

/// Turns an LMDB return code into a thrown `LMDBError`.
@inline(__always)
func check(_ rc: Int32, _ operation: @autoclosure () -> String) throws(LMDBError) {
    if rc != 0 { throw LMDBError(code: rc, operation: operation()) }
}
