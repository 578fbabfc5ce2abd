import Foundation
import LMDB

/// `orgledger compact`: rewrites a data folder's file so that nothing deleted survives in it (product
/// spec §8, "No residue"): after an erasure, no byte of the erased values.
///
/// Not LMDB's compacting copy (`mdb_env_copy2` with `MDB_CP_COMPACT`): it drops free pages but copies
/// every page in use whole, and a page in use keeps in its unused middle the bytes of entries deleted
/// from it (LMDB moves the remaining entries, it does not clear the gap); branch pages keep separator
/// keys of deleted entries. This is a logical copy instead: every entry of every database, in key
/// order, into a new file built from fresh pages, which then replaces the old one atomically (rename).
public enum Compaction {
    public struct Sizes: Sendable {
        public let before: Int
        public let after: Int
    }

    /// Entries copied per write transaction of the new file.
    static let batch = 50_000

    /// Compacts `path/data.mdb`. The caller holds the folder's lock (no service, no other writer).
    public static func compact(folder path: String) throws -> Sizes {
        let data = path + "/data.mdb"
        let staging = path + "/compact.tmp"
        let before = (try? FileManager.default.attributesOfItem(atPath: data)[.size] as? Int) ?? 0
        try? FileManager.default.removeItem(atPath: staging)
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: false)
        try copyEverything(from: path, to: staging)
        // Both environments are closed here (out of scope); every commit of the new file was synced.
        guard rename(staging + "/data.mdb", data) == 0 else {
            throw CompactionError("cannot replace \(data): \(String(cString: strerror(errno)))")
        }
        try? FileManager.default.removeItem(atPath: staging)
        let after = (try? FileManager.default.attributesOfItem(atPath: data)[.size] as? Int) ?? 0
        return Sizes(before: before, after: after)
    }

    private static func copyEverything(from source: String, to destination: String) throws {
        let from = try Environment(path: source)
        let to = try Environment(path: destination)
        // The main database lists the named ones. (Handles are opened in write transactions: one opened in a
        // read transaction closes with it.)
        let main = try from.openDatabase(nil)
        let names = try from.read { txn in
            var out: [String] = []
            try txn.withCursor(on: main) { cursor in
                try cursor.forEach { entry in
                    out.append(String(decoding: entry.key, as: UTF8.self))
                    return true
                }
            }
            return out
        }
        for name in names {
            let source = try from.openDatabase(name), target = try to.openDatabase(name)
            var after: [UInt8]?
            while true {
                let rows: [(key: [UInt8], value: [UInt8])] = try from.read { txn in
                    var out: [(key: [UInt8], value: [UInt8])] = []
                    try txn.withCursor(on: source) { cursor in
                        try cursor.forEach(from: after) { entry in
                            if let after, entry.key.elementsEqual(after) { return true }
                            out.append((Array(entry.key), Array(entry.value)))
                            return out.count < batch
                        }
                    }
                    return out
                }
                guard !rows.isEmpty else { break }
                try to.write { txn in
                    try txn.withCursor(on: target) { cursor in
                        for row in rows {
                            try row.key.withUnsafeBytes { k in try row.value.withUnsafeBytes { v in try cursor.put(key: k, value: v, flags: .append) } }
                        }
                    }
                }
                after = rows.last!.key
                if rows.count < batch { break }
            }
        }
    }
}

public struct CompactionError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
