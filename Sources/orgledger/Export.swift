import ArgumentParser
import EventLog
import Foundation

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the log as NDJSON envelopes (with hash) to standard output.",
        discussion: "Each line is the canonical (RFC 8785) envelope with its hash; anyone can re-check the chain from it."
    )

    @OptionGroup var options: DataOptions

    @Option(help: "Only events with seq greater than this.")
    var after: UInt64 = 0

    func run() throws {
        let log = try openReadOnly(options.data)
        let progress = ProgressReporter(label: "export", total: try log.head().seq)
        let out = FileHandle.standardOutput
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 20)
        try log.environment.read { txn in
            try log.tables.forEachEvent(after: after, in: txn) { seq, hash, bytes in
                // The stored bytes end with "}"; the export line adds `hash`, which needs the sorted position,
                // so the envelope is re-encoded from its decoded form (canonical either way).
                let envelope = try EventEnvelope.decode(bytes).envelope
                buffer.append(contentsOf: try envelope.exportBytes(hash: hash))
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

import LedgerCore
