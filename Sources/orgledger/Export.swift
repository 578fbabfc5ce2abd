import ArgumentParser
import EventLog
import Foundation
import LMDB
import Ledger
import LedgerCore
import LedgerLMDB

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the log as NDJSON envelopes (with hash) to standard output — the backup format.",
        discussion: "Each line is the canonical (RFC 8785) envelope with its hash; anyone can re-check the chain from it. Restore with 'orgledger import'."
    )

    @OptionGroup var options: DataOptions

    @Option(help: "Only events with seq greater than this.")
    var after: UInt64 = 0

    @Option(help: ArgumentHelp(
        "Also write every personal value still held, as NDJSON {field, salt, seq, value}, to this new file (mode 0600): the export itself holds none.",
        valueName: "FILE"))
    var disclose: String?

    func run() throws {
        try options.withFolder { folder in try export(folder) }
    }

    private func export(_ folder: String) throws {
        let store = try OfflineStore(folder)
        let head = try store.environment.read { txn in try store.log.head(in: txn) }
        let progress = ProgressReporter(label: "export", total: head.seq)
        let out = FileHandle.standardOutput
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 20)
        var last = after
        try store.environment.read { txn in
            try store.log.forEachEvent(after: after, in: txn) { seq, hash, bytes in
                last = seq
                buffer.append(contentsOf: try EventEnvelope.exportLine(stored: bytes, hash: hash))
                buffer.append(UInt8(ascii: "\n"))
                if buffer.count >= 1 << 20 {
                    out.write(Data(buffer))
                    buffer.removeAll(keepingCapacity: true)
                }
                progress.update(seq)
                return true
            }
        }
        out.write(Data(buffer))
        progress.finish()
        if let disclose { try writeDisclosure(store, through: last, to: disclose) }
    }

    /// The personal-data store's values, in seq order: what `verify --disclosure` and `import
    /// --disclosure` read. The file holds personal data: created 0600, never over an existing file.
    private func writeDisclosure(_ store: OfflineStore, through last: UInt64, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw OfflineError("cannot create \(path): \(String(cString: strerror(errno))) (it must not exist yet)") }
        let file = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        var buffer: [UInt8] = []
        try store.environment.read { txn in
            for line in try store.tables.people.disclosures(after: after, through: last, in: txn) {
                buffer += line.json
                buffer.append(UInt8(ascii: "\n"))
                if buffer.count >= 1 << 20 {
                    file.write(Data(buffer))
                    buffer.removeAll(keepingCapacity: true)
                }
            }
        }
        file.write(Data(buffer))
        try file.synchronize()
    }
}
