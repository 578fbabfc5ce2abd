import ArgumentParser
import Foundation
import Logging
import Service

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the service: the HTTP/JSON API on a Unix socket, over the data folder.",
        discussion: """
            One service per data folder and per socket: a second serve on either refuses and exits non-zero.
            A stale socket file left by a crash is replaced. SIGTERM or SIGINT stops gracefully.
            """
    )

    @OptionGroup var options: DataOptions

    @Option(help: ArgumentHelp("The Unix socket to listen on (env ORGLEDGER_SOCKET).", valueName: "PATH"))
    var socket: String = ProcessInfoEnvironment.value("ORGLEDGER_SOCKET") ?? "./orgledger.sock"

    @Option(help: ArgumentHelp("Also listen on a loopback TCP address.", valueName: "127.0.0.1:PORT"))
    var listen: String?

    @Option(help: "The socket file's mode, in octal.")
    var socketMode: String = "600"

    @Option(help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel: String = "notice"

    func run() async throws {
        guard let mode = mode_t(socketMode, radix: 8), mode <= 0o777 else { throw ValidationError("--socket-mode must be octal, e.g. 600") }
        var tcp: (String, Int)?
        if let listen {
            let parts = listen.split(separator: ":")
            guard parts.count == 2, let port = Int(parts[1]), ["127.0.0.1", "localhost", "::1"].contains(String(parts[0])) else {
                throw ValidationError("--listen takes a loopback address, e.g. 127.0.0.1:8080")
            }
            tcp = (String(parts[0]), port)
        }
        var logger = Logger(label: "orgledger")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .notice
        do {
            try await OrgLedgerServer.run(ServerOptions(dataPath: options.data, socketPath: socket, tcp: tcp, socketMode: mode), logger: logger)
        } catch let error as ServeError {
            printError("serve: \(error)")
            throw ExitCode(1)
        } catch let error as DataFolderLockError {
            printError("serve: \(error)")
            throw ExitCode(1)
        }
    }
}

import Projections
typealias DataFolderLockError = DataFolderLock.LockError
