import ArgumentParser
import EventLog
import Foundation
import LMDB
import LedgerCore

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the log as NDJSON envelopes (with hash) to standard output — the backup format.",
        discussion: "Each line is the canonical (RFC 8785) envelope with its hash; anyone can re-check the chain from it. Restore with 'orgledger import'."
    )

    @OptionGroup var options: DataOptions

    @Option(help: "Only events with seq greater than this.")
    var after: UInt64 = 0

    func run() throws {
        let store = try OfflineStore(options.data)
        let head = try store.environment.read { txn in try store.log.head(in: txn) }
        let progress = ProgressReporter(label: "export", total: head.seq)
        let out = FileHandle.standardOutput
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 20)
        try store.environment.read { txn in
            try store.log.forEachEvent(after: after, in: txn) { seq, hash, bytes in
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
    }
}
