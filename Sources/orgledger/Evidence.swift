import ArgumentParser
import EventLog
import LMDB
import Foundation
import Ledger
import LedgerCore
import LedgerLMDB

/// `orgledger checkpoint-key`: the verifier key an auditor pins to check this ledger's checkpoints.
struct CheckpointKey: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint-key",
        abstract: "Print the signed-note verifier key of the log's checkpoints (<origin>+<key hash>+<base64 Ed25519 key>).",
        discussion: """
            Give it to whoever checks the log (orgledger verify --export FILE --checkpoint NOTE --key VKEY, Go's \
            sumdb/note, any C2SP signed-note client). It is public; the private key stays in DIR/instance.key.
            """
    )

    @OptionGroup var options: DataOptions

    @Option(help: ArgumentHelp("The log's origin, as given to serve --origin (default orgledger/<instance id>).", valueName: "NAME"))
    var origin: String?

    @Option(help: ArgumentHelp("The instance key file (default: the data folder's; with --store, the file every serve --store gets).", valueName: "FILE"))
    var instanceKey: String?

    func validate() throws {
        if options.store != nil, instanceKey == nil { throw ValidationError("checkpoint-key --store needs --instance-key FILE: the key is the file every serve --store gets") }
    }

    func run() throws {
        do {
            let key = try InstanceKey.load(path: instanceKey ?? options.data + "/" + InstanceKey.fileName, create: false)
            print(try key.checkpointSigner(origin: origin).verifierKey)
        } catch {
            printError("checkpoint-key: \(error)")
            throw ExitCode(1)
        }
    }
}

/// `orgledger prove`: one event's inclusion proof in the latest checkpoint, offline.
struct Prove: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the inclusion proof of one event in the latest signed checkpoint, with the event and the checkpoint.",
        discussion: """
            JSON: {seq, leaf_index, tree_size, hashes (base64), event (its export line), checkpoint (the signed note)}.
            Anyone holding the verifier key checks it without the data folder (README, "Evidence an auditor can pin").
            Works while the service runs.
            """
    )

    @OptionGroup var options: DataOptions

    @Option(help: "The event's seq.")
    var seq: UInt64

    func run() throws {
        try options.withFolder { folder in try prove(folder) }
    }

    private func prove(_ folder: String) throws {
        let store = try OfflineStore(folder)
        let proof: JSONValue? = try store.environment.read { txn in
            guard let checkpoint = try store.log.latestCheckpoint(in: txn), checkpoint.size >= seq, seq >= 1 else { return nil }
            let (proved, _) = try store.log.proved(seq, size: checkpoint.size, in: txn)
            return [
                "seq": .int(Int64(seq)), "leaf_index": .int(Int64(seq - 1)), "tree_size": .int(Int64(checkpoint.size)),
                "hashes": MerkleTree.base64(proved.hashes),
                "event": .string(String(decoding: proved.line, as: UTF8.self)), "checkpoint": .string(checkpoint.note),
            ]
        }
        guard let proof else {
            printError("prove: no event \(seq) in a signed checkpoint yet (the service signs one within a second of an append)")
            throw ExitCode(1)
        }
        print(String(decoding: try CanonicalJSON.encode(proof), as: UTF8.self))
    }
}

/// A checkpoint an auditor pinned: the note in `path`, its signature and origin checked with `key`.
func openPinnedCheckpoint(note path: String, key: String) throws -> Checkpoint {
    guard let data = FileManager.default.contents(atPath: path), let note = String(data: data, encoding: .utf8) else {
        throw OfflineError("cannot read the checkpoint \(path)")
    }
    do {
        return try Checkpoint(note: note, verifier: try SignedNote.Verifier(key))
    } catch {
        throw OfflineError("the checkpoint \(path): \(error)")
    }
}
