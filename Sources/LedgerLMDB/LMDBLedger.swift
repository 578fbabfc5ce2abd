import EventLog
import Foundation
import LMDB
import Ledger
import LedgerCore
import OrgDomain

/// One data folder opened for service: the environment, the log, the views, the writer and the command
/// pipeline. Opening brings the views up to date first: when the stored projection format differs from
/// the code's, or the views lag the log, they are rebuilt before anything is answered.
public final class LMDBLedger: Sendable {
    public let environment: Environment
    public let log: LMDBEventLog
    public let tables: ProjectionTables
    public let pipeline: CommandPipeline
    /// Whether opening rebuilt the views, and why.
    public let rebuildReason: String?
    /// Signs the tree's checkpoints with the instance key, named by the origin.
    public let checkpointSigner: SignedNote.Signer

    /// `requestContextRetentionDays`: how long request context (`client_ip`, `user_agent`) is kept (0:
    /// erased at the next due run, for a service that records none); nil keeps it. `origin` names the log
    /// in its checkpoints (default `orgledger/<instance id>`). `instanceKeyPath`: the instance key's file
    /// (default `instance.key` in the folder).
    public init(
        path: String, configuration: Environment.Configuration = .init(), requestContextRetentionDays: Int? = 90, origin: String? = nil,
        instanceKeyPath: String? = nil, afterCommit: (@Sendable (Int) -> Void)? = nil
    ) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let environment = try Environment(path: path, configuration: configuration)
        let log = try LMDBEventLog(environment: environment, afterCommit: afterCommit)
        // The format first: a folder refused is left as it was.
        try LogFormat.requireCurrent(log.tables, in: environment)
        // A new folder gets its instance key; a log without one is refused: a new key would lose every
        // lookup (each returning person a new user) and the memory of erased emails.
        let isEmpty = try environment.read { txn in try log.tables.head(in: txn).seq == 0 }
        let key = try InstanceKey.load(path: instanceKeyPath ?? path + "/" + InstanceKey.fileName, create: isEmpty)
        // A folder written before the Merkle tree gets its tree once; after that every append keeps it.
        try environment.write { txn in try log.tables.catchUpTree(in: txn) }
        let tables = try ProjectionTables(environment: environment, log: log.tables, key: key)
        let (format, lastSeq, head) = try environment.read { txn in
            (try tables.storedFormatVersion(in: txn), try tables.lastAppliedSeq(in: txn), try log.tables.head(in: txn).seq)
        }
        var reason: String?
        if format != ProjectionTables.formatVersion, head > 0 {
            reason = format == nil ? "no projection format recorded" : "projection format \(format!) → \(ProjectionTables.formatVersion)"
        } else if lastSeq != head {
            reason = "views at seq \(lastSeq), log at seq \(head)"
        }
        if reason != nil {
            try Replay.rebuild(environment: environment, tables: tables)
        } else if format != ProjectionTables.formatVersion {
            try environment.write { txn in try tables.setFormatVersion(in: txn) }  // a new, empty folder
        }
        self.environment = environment
        self.log = log
        self.tables = tables
        self.rebuildReason = reason
        self.checkpointSigner = try key.checkpointSigner(origin: origin)
        self.pipeline = CommandPipeline(environment: environment, writer: log.writer, tables: tables, requestContextRetentionDays: requestContextRetentionDays)
    }

    /// Finishes the submitted work and stops the writer.
    public func close() { log.close() }
}

/// An exclusive lock on a data folder (`flock` on `DIR/orgledger.lock`), held by `serve` for its life,
/// so that a second service, `rebuild` or `import` on the same folder refuses instead of racing it.
public final class DataFolderLock: Sendable {
    private let fd: Int32
    public let path: String

    public enum LockError: Error, CustomStringConvertible {
        case held(String)
        case io(String, Int32)
        public var description: String {
            switch self {
            case .held(let path): "\(path) is in use by another OrgLedger process (a running service?)"
            case .io(let path, let code): "cannot lock \(path): \(String(cString: strerror(code)))"
            }
        }
    }

    public init(folder: String) throws(LockError) {
        path = folder + "/orgledger.lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .io(path, errno) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            close(fd)
            throw code == EWOULDBLOCK ? .held(folder) : .io(path, code)
        }
        self.fd = fd
    }

    deinit {
        flock(fd, LOCK_UN)
        close(fd)
    }
}

/// The envelope format a data folder's log is written in (`EventEnvelope.schemaVersion`): a log of
/// another format is refused with a message that says so, never read as damaged data.
public enum LogFormat {
    public static func requireCurrent(_ log: LogTables, in environment: Environment) throws {
        let found = try environment.read { txn in try log.event(seq: 1, in: txn)?.envelope.schemaVersion }
        guard let found, found != EventEnvelope.schemaVersion else { return }
        throw LogFormatError(found: found)
    }
}

public struct LogFormatError: Error, CustomStringConvertible {
    public let found: Int
    public var description: String {
        found == 1
            ? "this data folder holds a log of the first format (people named by email in the events), which this version does not read: "
                + "OrgLedger \(EventEnvelope.schemaVersion) keeps no personal value in the log (README, \"People and their data\")"
            : "this data folder's log is of format \(found); this version reads format \(EventEnvelope.schemaVersion)"
    }
}
