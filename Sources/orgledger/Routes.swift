import ArgumentParser
import Foundation
import Ledger
import LedgerLMDB
import Service

struct Routes: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List every route of the API (METHOD /path), as the server registers them.")

    func run() throws {
        // The routes do not depend on the data: an empty, throw-away ledger serves to register them.
        let folder = NSTemporaryDirectory() + "orgledger-routes-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let ledger = try LMDBLedger(path: folder)
        defer { ledger.close() }
        for route in OrgLedgerServer.routes(of: ledger) { print(route) }
    }
}
