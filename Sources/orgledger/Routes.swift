import ArgumentParser
import Service

struct Routes: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List every route of the API (METHOD /path), as the server registers them.")

    func run() throws {
        for route in try OrgLedgerServer.routes() { print(route) }
    }
}
