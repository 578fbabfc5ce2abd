import ArgumentParser
import EventLog
import Foundation
import LMDB

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the hash chain of the log: every stored hash, every prev_hash, seq and stream versions gap-free, the stream index.",
        discussion: "Exit 0 with a summary, or exit 1 naming the first bad seq."
    )

    @OptionGroup var options: DataOptions

    func run() throws {
        let log = try openReadOnly(options.data)
        let progress = ProgressReporter(label: "verify", total: try log.head().seq)
        let report = try log.verifyChain(progress: { progress.update($0) })
        progress.finish()
        if let problem = report.problem {
            printError("verify: FAILED at seq \(problem.seq): \(problem.reason)")
            printError("verify: \(report.eventsChecked) events before it are intact (head seq \(report.head.seq), hash \(report.head.hash.hex))")
            throw ExitCode(1)
        }
        print("verify: ok — \(report.eventsChecked) events, chain intact, head seq \(report.head.seq) hash \(report.head.hash.hex)")
    }
}

/// Opens an existing data folder for reading; a missing folder is a clear error, not a new empty log.
func openReadOnly(_ path: String) throws -> LMDBEventLog {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path + "/data.mdb", isDirectory: &isDirectory), !isDirectory.boolValue else {
        throw ValidationError("no OrgLedger data in \(path) (expected \(path)/data.mdb)")
    }
    return try LMDBEventLog(environment: Environment(path: path))
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
