import ArgumentParser

@main
struct OrgLedger: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "orgledger",
        abstract: "An event-sourced ledger of organizations and their members.",
        discussion: """
            Offline commands open the data folder directly and work while the service runs.
            Exit status: 0 success, 1 a check failed (verify), 2 usage or I/O error.
            """,
        subcommands: [
            Serve.self, Health.self, Orgs.self, Org.self, MemberCommand.self, Invite.self, InvitationCommand.self, KeyCommand.self, Events.self, MetricsCommand.self, Demo.self,
            Verify.self, Rebuild.self, Export.self, Import.self, Audit.self, Routes.self,
        ]
    )
}

/// Options shared by the offline commands.
struct DataOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The data folder.", valueName: "DIR"))
    var data: String = ProcessInfoEnvironment.value("ORGLEDGER_DATA") ?? "./orgledger-data"
}

enum ProcessInfoEnvironment {
    static func value(_ name: String) -> String? {
        guard let raw = getenv(name) else { return nil }
        let value = String(cString: raw)
        return value.isEmpty ? nil : value
    }
}

#if canImport(Glibc)
import Glibc
#endif
