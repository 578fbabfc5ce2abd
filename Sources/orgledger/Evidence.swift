import ArgumentParser
import Foundation
import Ledger
import LedgerCore

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

    func run() throws {
        do {
            let key = try InstanceKey.load(path: options.data + "/" + InstanceKey.fileName, create: false)
            print(try key.checkpointSigner(origin: origin).verifierKey)
        } catch {
            printError("checkpoint-key: \(error)")
            throw ExitCode(1)
        }
    }
}
