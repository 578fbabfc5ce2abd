import Foundation
import Ledger
import LedgerCore
import Testing

@Suite("The instance key file")
struct InstanceKeyTests {
    @Test("a key file from before checkpoints gets a signing key once, keeps its id and secret, and keeps the new key")
    func anOldFileIsUpgradedOnce() throws {
        let folder = NSTemporaryDirectory() + "orgledger-key-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/" + InstanceKey.fileName
        let old = #"{"hmac_secret":"\#(String(repeating: "ab", count: 32))","instance_id":"ins_old"}"#
        try Data(old.utf8).write(to: URL(fileURLWithPath: path))
        let first = try InstanceKey.load(path: path, create: false)
        #expect(first.upgraded && first.instanceID == "ins_old")
        let written = try #require(FileManager.default.contents(atPath: path))
        #expect(String(decoding: written, as: UTF8.self).contains(#""signing_key":"#))
        #expect(String(decoding: written, as: UTF8.self).contains(String(repeating: "ab", count: 32)), "the lookup secret stays")
        let second = try InstanceKey.load(path: path, create: false)
        #expect(!second.upgraded)
        #expect(try second.checkpointSigner(origin: nil).verifierKey == (try first.checkpointSigner(origin: nil).verifierKey))
        #expect(try first.checkpointSigner(origin: nil).verifierKey.hasPrefix("orgledger/ins_old+"))
        // A signing key that is not 32 bytes of hex is refused, not replaced.
        try Data(#"{"hmac_secret":"\#(String(repeating: "ab", count: 32))","instance_id":"ins_old","signing_key":"zz"}"#.utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: InstanceKeyError.self) { try InstanceKey.load(path: path, create: false) }
    }

    @Test("a signed note verifies with its verifier key only, and not once altered")
    func signedNotes() throws {
        let signer = try SignedNote.Signer(name: "orgledger/test", seed: [UInt8](repeating: 9, count: 32))
        let note = try signer.sign(Checkpoint(origin: "orgledger/test", size: 5, root: MerkleTree.emptyRoot).text)
        let verifier = try SignedNote.Verifier(signer.verifierKey)
        #expect(try Checkpoint(note: note, verifier: verifier).size == 5)
        #expect(throws: SignedNoteError.self) { try Checkpoint(note: note.replacingOccurrences(of: "\n5\n", with: "\n6\n"), verifier: verifier) }
        let other = try SignedNote.Signer(name: "orgledger/test", seed: [UInt8](repeating: 8, count: 32))
        #expect(throws: SignedNoteError.self) { try Checkpoint(note: note, verifier: try SignedNote.Verifier(other.verifierKey)) }
        #expect(throws: SignedNoteError.self) { try SignedNote.Signer(name: "has space", seed: [UInt8](repeating: 9, count: 32)) }
    }
}
