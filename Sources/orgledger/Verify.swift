import ArgumentParser
import EventLog
import Foundation
import LMDB
import Ledger
import LedgerCore
import LedgerLMDB
import LedgerPostgres

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the log's hash chain and that every view equals a fresh replay of the log.",
        discussion: """
            The chain: every stored hash, every prev_hash, seq and stream versions gap-free, the stream index.
            The views: every row of every projection compared with a replay. Works while the service runs.
            Exit 0 with a summary, or exit 1 naming the first bad seq or the first differing row.
            """
    )

    @OptionGroup var options: DataOptions

    @Option(help: ArgumentHelp("Check an export file instead of a data folder: its hash chain (and, with --disclosure, every disclosed value).", valueName: "FILE"))
    var export: String?

    @Option(help: ArgumentHelp("With --export: check every {field, salt, seq, value} line against the commitment in the export.", valueName: "FILE"))
    var disclosure: String?

    @Option(help: ArgumentHelp("With --export: a signed checkpoint (a file holding the note) the export must extend: its tree of that size has that root.", valueName: "FILE"))
    var checkpoint: String?

    @Option(help: ArgumentHelp("With --checkpoint: the verifier key that signed it (orgledger checkpoint-key).", valueName: "VKEY"))
    var key: String?

    @Flag(help: .private) var inProcess = false

    func validate() throws {
        if disclosure != nil, export == nil { throw ValidationError("--disclosure goes with --export (the export its values are checked against)") }
        if checkpoint != nil, export == nil { throw ValidationError("--checkpoint goes with --export (the export it pins)") }
        if (checkpoint == nil) != (key == nil) { throw ValidationError("--checkpoint and --key go together: a checkpoint is only as good as the key it is checked with") }
    }

    /// LMDB maps the data file and trusts its pages: a corrupt page can fault (SIGSEGV, SIGBUS) inside
    /// LMDB itself. So the reading runs in a child process (this command again, `--in-process`), and a
    /// child killed by a signal is reported as a corrupt data file: exit 1 with a message, never a crash.
    func run() throws {
        if let export { return try checkExport(export, disclosure: disclosure, pinned: try pinnedCheckpoint()) }
        if inProcess { return try check() }
        if let postgres = options.postgres {
            // The database's own tables first (the chain, the stream index, the tree), then its views
            // and rows as a copy of it holds them, checked as a data folder's are.
            let log: (problem: String?, events: UInt64)
            do { log = try PostgresLedger.verifyLog(postgres) } catch {
                printError("verify: cannot read \(postgres): \(error)")
                throw ExitCode(1)
            }
            if let problem = log.problem {
                printError("verify: FAILED — the database's log: \(problem)")
                throw ExitCode(1)
            }
            print("verify: the database's log: \(log.events) events; chain, stream index and Merkle tree intact")
            fflush(nil)  // before the child's lines
            return try options.withFolder { folder in try verifyInChild(folder) }
        }
        try verifyInChild(options.data)
    }

    private func verifyInChild(_ folder: String) throws {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/proc/self/exe")
        child.arguments = ["verify", "--data", folder, "--in-process"]
        // The child's crash is reported below in one line; Swift's backtrace of it would only bury that.
        child.environment = ProcessInfo.processInfo.environment.merging(["SWIFT_BACKTRACE": "enable=no"]) { _, new in new }
        try child.run()
        child.waitUntilExit()
        if child.terminationReason == .uncaughtSignal {
            printError("verify: FAILED — reading \(folder)/data.mdb crashed (signal \(child.terminationStatus)): the data file is corrupt")
            printError("verify: restore it from a backup or an export ('orgledger import'); 'orgledger export' may still read the intact part")
            throw ExitCode(1)
        }
        guard child.terminationStatus == 0 else { throw ExitCode(child.terminationStatus == 2 ? 2 : 1) }
    }

    /// An export checked on its own: the chain as `import` checks it, then each disclosed value against
    /// the commitment at its field. Exit 1 naming the first bad seq (and field).
    /// The `--checkpoint` note opened with `--key`: its signature and origin checked before the export is read.
    private func pinnedCheckpoint() throws -> Checkpoint? {
        guard let checkpoint, let key else { return nil }
        do {
            return try openPinnedCheckpoint(note: checkpoint, key: key)
        } catch {
            printError("verify: FAILED — \(error)")
            throw ExitCode(1)
        }
    }

    private func checkExport(_ path: String, disclosure: String?, pinned: Checkpoint?) throws {
        var pending: [UInt64: [DisclosureLine]] = [:]
        var disclosed = 0
        if let disclosure {
            var lineNumber = 0
            for line in try InputLines(path: disclosure, maximumLine: Importer.maximumLineBytes) where !line.isEmpty {
                lineNumber += 1
                switch DisclosureLine.parse(line) {
                case .success(let item): pending[item.seq, default: []].append(item)
                case .failure(let problem):
                    printError("verify: FAILED — \(disclosure) line \(lineNumber): \(problem)")
                    throw ExitCode(1)
                }
                disclosed += 1
            }
        }
        var verifier = ChainVerifier()
        var tree = MerkleTree.Builder()
        var pinnedMatched = pinned?.size == 0 && pinned?.root == MerkleTree.emptyRoot
        let progress = ProgressReporter(label: "verify export", total: 0)
        for line in try InputLines(path: path, maximumLine: Importer.maximumLineBytes) where !line.isEmpty {
            let decoded: (envelope: EventEnvelope, hash: ChainHash?)
            do { decoded = try EventEnvelope.decode(line) } catch {
                printError("verify: FAILED after seq \(verifier.head.seq): not an envelope: \(error)")
                throw ExitCode(1)
            }
            guard let hash = decoded.hash else {
                printError("verify: FAILED at seq \(decoded.envelope.seq): the envelope has no hash")
                throw ExitCode(1)
            }
            let bytes = try decoded.envelope.canonicalBytes()
            if let problem = bytes.withUnsafeBytes({ verifier.check(keySeq: decoded.envelope.seq, storedHash: hash, bytes: $0) }) {
                printError("verify: FAILED at seq \(problem.seq): \(problem.reason)")
                throw ExitCode(1)
            }
            if let pinned {
                tree.append(leaf: MerkleTree.leafHash(bytes))
                if tree.size == pinned.size {
                    guard tree.root == pinned.root else {
                        printError("verify: FAILED — the export's first \(pinned.size) events do not have the pinned checkpoint's root: the log was rewritten")
                        throw ExitCode(1)
                    }
                    pinnedMatched = true
                }
            }
            if let items = pending.removeValue(forKey: decoded.envelope.seq) {
                let envelope = try JSONParser.parse(line)
                if let problem = items.lazy.compactMap({ $0.problem(in: envelope) }).first {
                    printError("verify: FAILED — disclosure at \(problem)")
                    throw ExitCode(1)
                }
            }
            progress.update(verifier.head.seq)
        }
        progress.finish()
        if let seq = pending.keys.min() {
            printError("verify: FAILED — disclosure at seq \(seq), field \(pending[seq]![0].field): the export has no event \(seq)")
            throw ExitCode(1)
        }
        if let pinned, !pinnedMatched {
            printError("verify: FAILED — the export has \(verifier.count) events; the pinned checkpoint covers \(pinned.size): the log lost events")
            throw ExitCode(1)
        }
        let values = disclosure == nil ? "" : "; \(disclosed) disclosed values open their commitments"
        let pin = pinned.map { "; extends the checkpoint of \($0.origin) at size \($0.size)" } ?? ""
        print("verify: ok — \(verifier.count) events, chain intact, head seq \(verifier.head.seq) hash \(verifier.head.hash.hex)\(values)\(pin)")
    }

    private func check() throws {
        let store = try OfflineStore(options.data)
        let head = try store.environment.read { txn in try store.log.head(in: txn) }
        let (report, problem) = try store.environment.read { txn in
            let chainProgress = ProgressReporter(label: "verify chain", total: head.seq)
            let report = try store.log.verify(in: txn, progress: { chainProgress.update($0) })
            chainProgress.finish()
            guard report.isIntact else { return (report, ProjectionProblem?.none) }
            let viewProgress = ProgressReporter(label: "verify views", total: head.seq)
            let problem = try Replay.verify(tables: store.tables, in: txn, progress: { viewProgress.update($0) })
            viewProgress.finish()
            return (report, problem)
        }
        if let chain = report.problem {
            printError("verify: FAILED at seq \(chain.seq): \(chain.reason)")
            printError("verify: \(report.eventsChecked) events before it are intact (head seq \(report.head.seq), hash \(report.head.hash.hex))")
            throw ExitCode(1)
        }
        if let problem {
            printError("verify: chain intact (\(report.eventsChecked) events), but a view differs from a fresh replay")
            printError("verify: FAILED at row \(problem.row): \(problem.reason)")
            printError("verify: 'orgledger rebuild' (with --data DIR, or --store URL) re-derives every view from the log")
            throw ExitCode(1)
        }
        print("verify: ok — \(report.eventsChecked) events, chain intact, head seq \(report.head.seq) hash \(report.head.hash.hex); every view equals a fresh replay")
    }
}

/// A data folder opened for offline work: no writer thread, nothing rebuilt implicitly.
struct OfflineStore {
    let environment: Environment
    let log: LogTables
    let tables: ProjectionTables

    /// Opens an existing data folder; a missing folder is a clear error, not a new empty log.
    init(_ path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path + "/data.mdb", isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw OfflineError("no OrgLedger data in \(path) (expected \(path)/data.mdb)")
        }
        environment = try Environment(path: path)
        log = try LogTables(environment: environment)
        do { try LogFormat.requireCurrent(log, in: environment) } catch let error as LogFormatError { throw OfflineError(error.description) }
        // Without its key file a folder is still read (verify, export, audit); only lookups by email fail.
        tables = try ProjectionTables(environment: environment, log: log, key: try? InstanceKey.load(path: path + "/" + InstanceKey.fileName, create: false))
    }
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// A failure of an offline command (exit 1), as opposed to a usage error (exit 2).
struct OfflineError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
