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

    @Option(help: ArgumentHelp("Also listen on a loopback TCP address: 127.0.0.1:PORT, localhost:PORT or [::1]:PORT.", valueName: "HOST:PORT"))
    var listen: String?

    @Option(help: "The socket file's mode, in octal.")
    var socketMode: String = "600"

    @Option(help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel: String = "notice"

    func run() async throws {
        guard let mode = mode_t(socketMode, radix: 8), mode <= 0o777 else { throw ValidationError("--socket-mode must be octal, e.g. 600") }
        var tcp: (String, Int)?
        if let listen {
            guard let address = LoopbackAddress(listen) else {
                throw ValidationError("--listen takes a loopback address and port: 127.0.0.1:PORT, localhost:PORT or [::1]:PORT")
            }
            tcp = (address.host, address.port)
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

/// `--listen`: a loopback host and a port. IPv6 in brackets, as in a URL.
struct LoopbackAddress {
    let host: String
    let port: Int

    init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else { return nil }
        let host = String(text[..<colon])
        switch host {
        case "127.0.0.1", "localhost": self.host = host
        case "[::1]": self.host = "::1"
        default: return nil
        }
        self.port = port
    }
}
