// orgledger-append-loop DATA_DIR
//
// The child process of the crash test (Tests/EventLogTests/CrashTests.swift): appends events through the
// group-commit writer from 8 concurrent tasks, forever, and prints "SEQ HASH" for every event once its
// append is acknowledged. The test kills it with SIGKILL and checks that every printed line is in the log.
import EventLog
import Foundation
import LedgerCore

guard CommandLine.arguments.count == 2 else {
    FileHandle.standardError.write(Data("usage: orgledger-append-loop DATA_DIR\n".utf8))
    exit(2)
}
let log = try LMDBEventLog(path: CommandLine.arguments[1], configuration: .init(mapSize: 64 << 10))
let start = Int64(Date().timeIntervalSince1970 * 1000)

try await withThrowingTaskGroup(of: Void.self) { group in
    for task in 0..<8 {
        group.addTask {
            var n = 0
            while true {
                n += 1
                let events = (0..<(1 + n % 3)).map { i in
                    NewEvent(type: "test.appended", at: Timestamp(millisecondsSinceEpoch: start), actor: "loop@example.com",
                             data: ["task": .int(Int64(task)), "n": .int(Int64(n)), "i": .int(Int64(i)), "pad": .string(String(repeating: "x", count: 200))])
                }
                let receipt = try await log.append(AppendRequest(stream: "stream-\(task % 3)", expectedVersion: .any, events: events))
                var lines = ""
                for event in receipt.events { lines += "\(event.seq) \(event.hash.hex)\n" }
                // One write(2) per acknowledged append: unbuffered, so nothing acknowledged is lost with the process.
                var bytes = Array(lines.utf8)
                _ = bytes.withUnsafeMutableBytes { write(1, $0.baseAddress, $0.count) }
            }
        }
    }
    try await group.waitForAll()
}
