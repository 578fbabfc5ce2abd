import ArgumentParser
import LedgerPostgres
import EventLog
import Foundation
import LMDB
import LedgerCore
import OrgDomain
import Ledger
import LedgerLMDB

struct Rebuild: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Drop every view and re-derive it from the log (refuses while the service runs).",
        discussion: "With --store: takes the writer's role while it works (serving instances answer commands 503 meanwhile, and one takes the role back after).")

    @OptionGroup var options: DataOptions

    func run() throws {
        if let postgres = options.postgres {
            let start = Date()
            do {
                let rebuilt = try PostgresLedger.rebuild(postgres)
                print("rebuild: ok — every view of \(postgres) re-derived from \(rebuilt.seq) events (\(rebuilt.rows) rows) in \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
            } catch {
                printError("rebuild: \(postgres): \(error)")
                throw ExitCode(1)
            }
            return
        }
        let lock = try DataFolderLock(folder: options.data)
        let store = try OfflineStore(options.data)
        let head = try store.environment.read { txn in try store.log.head(in: txn) }
        let progress = ProgressReporter(label: "rebuild", total: head.seq)
        let start = Date()
        let phases = try Replay.rebuild(environment: store.environment, tables: store.tables, progress: { progress.update($0) })
        progress.finish()
        withExtendedLifetime(lock) {}
        print("rebuild: ok — \(head.seq) events replayed into every view in \(String(format: "%.1f", Date().timeIntervalSince(start))) s (\(phases))")
    }
}

struct Compact: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rewrite the data file with nothing deleted left in it: after an erasure, no byte of the erased values.",
        discussion: "A logical copy of every table into a fresh file that replaces the old one. Refused while the service runs.")

    @OptionGroup var options: DataOptions

    func validate() throws {
        try options.requireFolder("compact", because: "PostgreSQL reclaims a deleted row's space itself (VACUUM)")
    }

    func run() throws {
        guard FileManager.default.fileExists(atPath: options.data + "/data.mdb") else {
            printError("compact: no OrgLedger data in \(options.data) (expected \(options.data)/data.mdb)")
            throw ExitCode(1)
        }
        let lock: DataFolderLock
        do { lock = try DataFolderLock(folder: options.data) } catch {
            printError("compact: \(error); stop the service first")
            throw ExitCode(1)
        }
        let sizes = try Compaction.compact(folder: options.data)
        withExtendedLifetime(lock) {}
        print("compact: ok — \(options.data)/data.mdb \(sizes.before) → \(sizes.after) bytes")
    }
}

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load an export (NDJSON on standard input) into a new data folder, checking the chain first.",
        discussion: "A broken chain, a bad line or an existing log in the folder refuses the import and leaves no data behind.")

    @OptionGroup var options: DataOptions

    @Option(help: ArgumentHelp("Refuse unless the export's last hash is this one (64 hex digits), e.g. a head hash pinned earlier.", valueName: "HASH"))
    var expectHead: String?

    @Option(help: ArgumentHelp("Refuse unless the export extends this signed checkpoint (a file holding the note): its tree of that size has that root.", valueName: "FILE"))
    var expectCheckpoint: String?

    @Option(help: ArgumentHelp("With --expect-checkpoint: the verifier key that signed it (orgledger checkpoint-key).", valueName: "VKEY"))
    var key: String?

    @Option(help: ArgumentHelp("The export's disclosure (export --disclose): restores the personal values, each checked against its commitment.", valueName: "FILE"))
    var disclosure: String?

    @Option(help: ArgumentHelp(
        "The source's instance.key: the moved ledger keeps its instance id and lookup secret (a new key is made without it). With --store: the file every serve --store gets (a new key is written there when it does not exist).",
        valueName: "FILE"))
    var instanceKey: String?

    func validate() throws {
        if options.store != nil, instanceKey == nil { throw ValidationError("import --store needs --instance-key FILE: the key every instance of the ledger will share") }
        if let expectHead, ChainHash(hex: expectHead) == nil { throw ValidationError("--expect-head takes a hash of 64 hex digits") }
        if (expectCheckpoint == nil) != (key == nil) { throw ValidationError("--expect-checkpoint and --key go together: a checkpoint is only as good as the key it is checked with") }
    }

    func run() throws {
        guard let postgres = options.postgres else { return try load(into: options.data) }
        // Into a data folder first (every check of an import is the LMDB importer's), then sent whole.
        var template = Array((NSTemporaryDirectory() + "/orgledger-import-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw OfflineError("cannot make a folder to import into: \(String(cString: strerror(errno)))") }
        let folder = String(cString: made)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let keyPath = instanceKey!
        let keyExisted = FileManager.default.fileExists(atPath: keyPath)
        try load(into: folder, key: keyExisted ? keyPath : nil)
        do {
            let head = try PostgresLedger.publish(folder: folder, to: postgres)
            if !keyExisted {
                let made = try InstanceKey.load(path: folder + "/" + InstanceKey.fileName, create: false)
                try made.write(to: keyPath)
            }
            print("import: sent to \(postgres) — head seq \(head.seq), hash \(head.hash)")
        } catch {
            printError("import: refused, nothing written to \(postgres) — \(error)")
            throw ExitCode(1)
        }
    }

    /// Imports standard input into a data folder (`key`: the instance key to keep, else `--instance-key`).
    private func load(into folder: String, key: String?? = .none) throws {
        let keyPath = key ?? instanceKey
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let lock = try DataFolderLock(folder: folder)
        let progress = ProgressReporter(label: "import", total: 0)
        do {
            var lines: [DisclosureLine] = []
            if let disclosure {
                for (number, line) in try InputLines(path: disclosure, maximumLine: Importer.maximumLineBytes).enumerated() where !line.isEmpty {
                    switch DisclosureLine.parse(line) {
                    case .success(let item): lines.append(item)
                    case .failure(let problem): throw OfflineError("\(disclosure) line \(number + 1): \(problem)")
                    }
                }
            }
            let pinned = try expectCheckpoint.map { try openPinnedCheckpoint(note: $0, key: self.key!) }
            let instance = try keyPath.map { try InstanceKey.load(path: $0, create: false) }
            let head = try Importer.load(
                InputLines(maximumLine: Importer.maximumLineBytes), into: folder, expectedHead: expectHead.flatMap(ChainHash.init(hex:)),
                expectedCheckpoint: pinned, disclosure: lines, instanceKey: instance, progress: { progress.update($0) })
            progress.finish(at: head.seq)
            print("import: ok — \(head.seq) events, chain intact, head hash \(head.hash.hex)")
        } catch let error as Importer.ImportError {
            printError("import: refused, nothing written — \(error)")
            throw ExitCode(1)
        }
        withExtendedLifetime(lock) {}
    }
}

/// A file (standard input by default) as lines (without the newline), read in large chunks. A line
/// longer than `maximumLine` is handed over as soon as it is known to be too long (its first
/// `maximumLine + 1` bytes), so a hostile input without newlines is never buffered whole.
struct InputLines: Sequence, IteratorProtocol {
    let maximumLine: Int
    let fileDescriptor: Int32
    private var buffer: [UInt8] = []
    private var start = 0
    private var done = false

    init(fileDescriptor: Int32 = 0, maximumLine: Int) {
        self.fileDescriptor = fileDescriptor
        self.maximumLine = maximumLine
    }

    /// The lines of the file at `path` (exit 1 with a message if it cannot be opened).
    init(path: String, maximumLine: Int) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw OfflineError("cannot open \(path): \(String(cString: strerror(errno)))") }
        self.init(fileDescriptor: fd, maximumLine: maximumLine)
    }

    mutating func next() -> [UInt8]? {
        while true {
            if let newline = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(buffer[start..<newline])
                start = newline + 1
                return line
            }
            if buffer.count - start > maximumLine {
                let line = Array(buffer[start...(start + maximumLine)])
                start = buffer.count
                return line
            }
            if done {
                guard start < buffer.count else { return nil }
                let line = Array(buffer[start...])
                start = buffer.count
                return line
            }
            buffer.removeFirst(start)
            start = 0
            var chunk = [UInt8](repeating: 0, count: 1 << 20)
            let count = chunk.withUnsafeMutableBytes { read(fileDescriptor, $0.baseAddress, $0.count) }
            if count <= 0 { done = true } else { buffer.append(contentsOf: chunk[..<count]) }
        }
    }
}

struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The audit trail of one org, newest first, read offline — purged orgs included.")

    @OptionGroup var options: DataOptions

    @Option(help: "The org: its id (always) or its current handle.")
    var org: String

    @Option(help: "Only events by this actor (an email, or system).") var actor: String?
    @Option(help: "Only this event type, e.g. member.role_changed.") var action: String?
    @Option(help: "Only events about this target (an email, key id, handle or org id).") var target: String?
    @Option(help: "Only events at or after this RFC 3339 time.") var since: String?
    @Option(help: "Only events before this RFC 3339 time.") var until: String?
    @Option(help: "At most this many events (0 = all).") var limit: Int = 0
    @Option(help: "json, ndjson or csv.") var format: String = "ndjson"

    func validate() throws {
        guard ["json", "ndjson", "csv"].contains(format) else { throw ValidationError("--format must be json, ndjson or csv") }
        if let since, Timestamp(rfc3339: since) == nil { throw ValidationError("--since must be an RFC 3339 time") }
        if let until, Timestamp(rfc3339: until) == nil { throw ValidationError("--until must be an RFC 3339 time") }
    }

    func run() throws {
        try options.withFolder { folder in try audit(folder) }
    }

    private func audit(_ folder: String) throws {
        let store = try OfflineStore(folder)
        let sinceTime = since.flatMap(Timestamp.init(rfc3339:)), untilTime = until.flatMap(Timestamp.init(rfc3339:))
        let found = try store.environment.read { txn -> [(entry: AuditEntry, row: [UInt8])]? in
            // People are recorded by user id and named by email: an email given resolves to its user
            // (one the ledger does not know matches nothing); anything else is compared as given.
            var named: [String?] = [actor, target]
            for index in named.indices {
                guard let raw = named[index], case .success(let email) = Email.parse(raw) else { continue }
                named[index] = try store.tables.people.userID(of: email, in: txn)?.value ?? "usr_nobody"
            }
            let filter = AuditFilter(actor: named[0], action: action, target: named[1], since: sinceTime, until: untilTime)
            var orgID = org
            if case .success(let handle) = Handle.parse(org), let holder = try Queries.currentHolder(of: handle, tables: store.tables, in: txn) {
                orgID = holder
            }
            // An org is known by its stream (purged orgs keep theirs); an unknown one is an error, not an empty trail.
            guard orgID.utf8.count <= AppendRequest.maximumStreamLength, try store.log.streamHead(orgID, in: txn) != nil else { return nil }
            return try Queries.audit(orgID, before: 0, limit: limit > 0 ? limit : Int.max, filter: filter, tables: store.tables, in: txn).map { record in
                (record.entry, Render.resolvingPeople(auditRow: record.row) { try? store.tables.people.person($0, in: txn) })
            }
        }
        guard let rows = found else {
            printError("audit: no org '\(org)' in \(options.postgres?.description ?? options.data) (give its id, or its current handle)")
            throw ExitCode(1)
        }
        let out: [UInt8]
        switch AuditFormat(rawValue: format)! {
        case .json: out = try CanonicalJSON.encode(.array(rows.map { try JSONParser.parse($0.row) })) + [UInt8(ascii: "\n")]
        case .csv: out = Array(AuditFormat.csv(rows).utf8)
        case .ndjson: out = AuditFormat.ndjson(rows)
        }
        FileHandle.standardOutput.write(Data(out))
    }
}
