import ArgumentParser
import Foundation
import LedgerCore
import Ledger
import LedgerLMDB
import LedgerPostgres
import Logging
import NIOCore
import OrgDomain
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

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "notice"

    @Option(help: "Open connections per listener; more wait until one closes (at most a quarter of the file-descriptor limit).")
    var maxConnections: Int = ConnectionLimits().maximumConnections

    @Option(help: "Seconds a connection may take to send a request's head (and may stay idle between requests).")
    var headerTimeout: Int = 30

    @Option(help: "Seconds a request's body may take to arrive.")
    var bodyTimeout: Int = 30

    @Option(help: ArgumentHelp("Days to keep request context (X-Client-IP, User-Agent) before it is erased; 0: never stored.", valueName: "DAYS"))
    var retainRequestContext: Int = 90

    @Option(help: ArgumentHelp("The log's name in its signed checkpoints (default orgledger/<instance id>); give every instance of one ledger the same.", valueName: "NAME"))
    var origin: String?

    @Option(help: ArgumentHelp(
        "With --store: the instance key file every instance of the ledger shares (made here when missing while the database is empty).", valueName: "FILE"))
    var instanceKey: String?

    @Option(name: .customLong("operator"), help: ArgumentHelp("An operator: may call /v1/admin/… (repeatable; env ORGLEDGER_OPERATORS, comma-separated).", valueName: "EMAIL"))
    var operators: [String] = []

    /// The operators named by `--operator` and `ORGLEDGER_OPERATORS`, normalized like any email.
    var operatorEmails: Result<Set<Email>, FieldError> {
        let fromEnvironment = (ProcessInfoEnvironment.value("ORGLEDGER_OPERATORS") ?? "").split(separator: ",").map { String($0) }.filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        var out: Set<Email> = []
        for raw in operators + fromEnvironment {
            switch Email.parse(raw, field: "--operator") {
            case .success(let email): out.insert(email)
            case .failure(let error): return .failure(error)
            }
        }
        return .success(out)
    }

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let mode = mode_t(socketMode, radix: 8), mode <= 0o777 else { throw ValidationError("--socket-mode must be octal, e.g. 600") }
        if let listen, LoopbackAddress(listen) == nil {
            throw ValidationError("--listen takes a loopback address and port: 127.0.0.1:PORT, localhost:PORT or [::1]:PORT")
        }
        guard maxConnections >= 1, headerTimeout >= 1, bodyTimeout >= 1 else {
            throw ValidationError("--max-connections, --header-timeout and --body-timeout must be at least 1")
        }
        guard retainRequestContext >= 0, retainRequestContext <= 36_500 else { throw ValidationError("--retain-request-context takes 0–36500 days") }
        if options.store != nil, instanceKey == nil {
            throw ValidationError("serve --store needs --instance-key FILE: every instance of one ledger gets the same key")
        }
        if options.store == nil, instanceKey != nil { throw ValidationError("--instance-key goes with --store (a data folder keeps its key inside)") }
        if case .failure(let error) = operatorEmails { throw ValidationError("--operator / ORGLEDGER_OPERATORS: every operator must be an email (\(error.message))") }
    }

    func run() async throws {
        let mode = mode_t(socketMode, radix: 8)!
        var tcp: (String, Int)?
        if let address = listen.flatMap(LoopbackAddress.init) { tcp = (address.host, address.port) }
        var logger = Logger(label: "orgledger")
        logger.logLevel = Logger.Level(rawValue: logLevel)!
        var serverOptions = ServerOptions(ledgerDescription: options.postgres?.description ?? options.data, socketPath: socket, tcp: tcp, socketMode: mode)
        serverOptions.operators = (try? operatorEmails.get()) ?? []
        serverOptions.recordsRequestContext = retainRequestContext > 0
        serverOptions.limits = ConnectionLimits(
            maximumConnections: maxConnections, headerTimeout: .seconds(Int64(headerTimeout)), bodyTimeout: .seconds(Int64(bodyTimeout)))
        do {
            let retention = retainRequestContext  // 0: whatever an earlier setting recorded is erased too
            if let postgres = options.postgres, let instanceKey {
                try await OrgLedgerServer.run(serverOptions, openLedger: { [origin] afterCommit in
                    try await PostgresLedger.open(
                        postgres, instanceKeyPath: instanceKey, requestContextRetentionDays: retention, origin: origin, afterCommit: afterCommit, logger: logger)
                }, logger: logger)
                return
            }
            // One service per data folder: the lock is held for the life of the process.
            try FileManager.default.createDirectory(atPath: options.data, withIntermediateDirectories: true)
            let folderLock = try DataFolderLock(folder: options.data)
            defer { withExtendedLifetime(folderLock) {} }
            try await OrgLedgerServer.run(serverOptions, openLedger: { [data = options.data, origin] afterCommit in
                let ledger = try LMDBLedger(path: data, requestContextRetentionDays: retention, origin: origin, afterCommit: afterCommit)
                if let reason = ledger.rebuildReason { logger.notice("rebuilt the views before serving", metadata: ["reason": "\(reason)"]) }
                return ledger
            }, logger: logger)
        } catch let error
            where error is ServeError || error is DataFolderLockError || error is LogFormatError || error is InstanceKeyError || error is SignedNoteError
            || error is PostgresLedgerError
        {
            // Refusals to start, with what to do about them: one line, exit 1.
            printError("serve: \(error)")
            throw ExitCode(1)
        }
    }
}

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
