import EventLog
import Foundation
import LMDB
import LedgerCore

/// Loads an export (NDJSON envelopes with `hash`) into a new data folder, checking the chain as it goes.
///
/// Every line must hash to its `hash` (re-encoded canonically without it), follow the previous line's
/// hash, and carry the next seq and its stream's next version. The first bad line stops the import and
/// the folder is left without data: the files this import created are removed.
public enum Importer {
    public struct ImportError: Error, CustomStringConvertible {
        public let line: Int
        public let message: String
        public var description: String { "line \(line): \(message)" }
    }

    /// Imports `lines` into the folder `path`, which must not hold a log yet. Returns the head.
    public static func load(_ lines: some Sequence<[UInt8]>, into path: String, progress: ((UInt64) -> Void)? = nil) throws -> LogHead {
        let dataFile = path + "/data.mdb"
        guard !FileManager.default.fileExists(atPath: dataFile) else {
            throw ImportError(line: 0, message: "\(path) already holds a log; import only into a new folder")
        }
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        do {
            let head = try loadChecked(lines, into: path, progress: progress)
            return head
        } catch {
            try? FileManager.default.removeItem(atPath: dataFile)
            try? FileManager.default.removeItem(atPath: path + "/lock.mdb")
            throw error
        }
    }

    private static func loadChecked(_ lines: some Sequence<[UInt8]>, into path: String, progress: ((UInt64) -> Void)?) throws -> LogHead {
        let environment = try Environment(path: path)
        let log = try LogTables(environment: environment)
        var verifier = ChainVerifier()
        var batch: [RecordedEvent] = []
        var lineNumber = 0
        func flush() throws {
            guard !batch.isEmpty else { return }
            let events = batch
            try environment.write { txn in
                for event in events { try log.write(event, in: txn) }
            }
            batch.removeAll(keepingCapacity: true)
        }
        for line in lines {
            lineNumber += 1
            if line.isEmpty || line.allSatisfy({ $0 == 0x20 || $0 == 0x0D }) { continue }
            let decoded: (envelope: EventEnvelope, hash: ChainHash?)
            do { decoded = try EventEnvelope.decode(line) } catch {
                throw ImportError(line: lineNumber, message: "not an envelope: \(error)")
            }
            guard let hash = decoded.hash else { throw ImportError(line: lineNumber, message: "the envelope has no hash") }
            let bytes = try decoded.envelope.canonicalBytes()
            if let problem = bytes.withUnsafeBytes({ verifier.check(keySeq: decoded.envelope.seq, storedHash: hash, bytes: $0) }) {
                throw ImportError(line: lineNumber, message: "chain broken at seq \(problem.seq): \(problem.reason)")
            }
            batch.append(RecordedEvent(envelope: decoded.envelope, hash: hash, canonicalBytes: bytes))
            if batch.count == 10_000 {
                try flush()
                progress?(decoded.envelope.seq)
            }
        }
        try flush()
        let tables = try ProjectionTables(environment: environment, log: log)
        try Replay.rebuild(environment: environment, tables: tables)
        return verifier.head
    }
}
