import ArgumentParser
import Foundation
import LedgerLMDB
import LedgerPostgres

@main
struct OrgLedger: AsyncParsableCommand {
    /// The release; `orgledger --version` prints it.
    static let version = "0.10.0"

    static let configuration = CommandConfiguration(
        commandName: "orgledger",
        abstract: "An event-sourced ledger of organizations and their members.",
        discussion: """
            Offline commands open the data folder directly and work while the service runs.
            Exit status: 0 success, 1 refused or failed (a problem answer, a failed check), 2 usage.
            """,
        version: version,
        subcommands: [
            Serve.self, Health.self, MeCommand.self, AdminCommand.self, Orgs.self, Org.self, MemberCommand.self, Invite.self, InvitationCommand.self, KeyCommand.self,
            Events.self, MetricsCommand.self, Demo.self,
            Verify.self, Rebuild.self, Export.self, Import.self, Compact.self, Audit.self, Routes.self, CheckpointKey.self, Prove.self,
        ]
    )
}

extension OrgLedger {
    /// The exit codes of product spec §6: 0 ok, 1 refused or failed, 2 usage. ArgumentParser's own
    /// are 64 for usage (EX_USAGE) and 1 for other errors; its messages and usage text (of the
    /// subcommand that was misused) are kept.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            if code == .success { exit(withError: error) }  // --help, --version
            let usage = code == .validationFailure || error is ValidationError
            if !(error is ExitCode) { FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8)) }
            Foundation.exit(usage ? 2 : (error as? ExitCode)?.rawValue == 2 ? 2 : 1)
        }
    }
}

/// Options shared by the offline commands.
struct DataOptions: ParsableArguments {
    @Option(name: .customLong("data"), help: ArgumentHelp("The data folder (LMDB, the default store; env ORGLEDGER_DATA, else ./orgledger-data).", valueName: "DIR"))
    var dataFolder: String?

    @Option(help: ArgumentHelp(
        "A PostgreSQL database in place of a data folder: postgres://USER@HOST:PORT/DATABASE (?host=SOCKET_DIR for a Unix socket; the password from PGPASSWORD).",
        valueName: "URL"))
    var store: String?

    /// The data folder: `--data`, else ORGLEDGER_DATA, else ./orgledger-data.
    var data: String { dataFolder ?? ProcessInfoEnvironment.value("ORGLEDGER_DATA") ?? "./orgledger-data" }

    /// The database `--store` names.
    var postgres: PostgresLocation? { store.flatMap { try? PostgresLocation(url: $0) } }

    func validate() throws {
        if dataFolder != nil, store != nil { throw ValidationError("--data and --store each name the ledger's storage: give one of them") }
        if let store {
            do { _ = try PostgresLocation(url: store) } catch { throw ValidationError("--store: \(error)") }
        }
    }

    /// Runs `body` on the data folder to read: `--data`'s, or with `--store` a copy of the database made
    /// for this command (removed after).
    func withFolder<R>(_ body: (String) throws -> R) throws -> R {
        guard let postgres else { return try body(data) }
        let copy: (folder: String, lock: DataFolderLock)
        do { copy = try PostgresLedger.copy(of: postgres) } catch { throw OfflineError("cannot read \(postgres): \(error)") }
        defer {
            try? FileManager.default.removeItem(atPath: copy.folder)
            withExtendedLifetime(copy.lock) {}
        }
        return try body(copy.folder)
    }

    /// Refuses `--store` for a command that works on a data folder only.
    func requireFolder(_ command: String, because reason: String) throws {
        if store != nil { throw ValidationError("\(command) works on a data folder (--data), not on PostgreSQL: \(reason)") }
    }
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
