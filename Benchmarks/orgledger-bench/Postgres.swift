import Foundation
import Histogram

// MARK: PostgreSQL against LMDB (issue #15)

/// Commands at 64 clients on LMDB and on PostgreSQL in the same run, reads from a second (following)
/// instance against reads from the writer and from LMDB, and the time a standby takes to write after
/// the writer is SIGKILLed. `server`: a PostgreSQL URL this run may create databases on.
@MainActor func postgresAgainstLMDB(server: String) throws {
    print("")
    print("| PostgreSQL against LMDB, same run | requests | requests/s | p50 µs | p99 µs | p99.9 µs | non-2xx |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    let clients = 64, perClient = 24_000 / 64
    func commands(_ socket: String, label: String) throws {
        let setup = try KeepAliveConnection(path: socket)
        for c in 0..<clients {
            _ = try setup.send("POST", "/v1/orgs", actor: "owner@c\(c).example", body: #"{"handle":"load-\#(c)","display_name":"Load"}"#)
        }
        let (rps, h, failures) = load(socket: socket, clients: clients, perClient: perClient) { c, n in
            ("POST", "/v1/orgs/load-\(c)/invitations", "owner@c\(c).example", #"{"emails":["p\#(n)@c\#(c).example"],"role":"member"}"#)
        }
        print("| \(label): commands, \(clients) clients | \(clients * perClient) | \(fmt(rps)) | \(h.valueAtPercentile(50)) | \(h.valueAtPercentile(99)) | \(h.valueAtPercentile(99.9)) | \(failures) |")
    }
    func reads(_ socket: String, label: String) {
        let (rps, h, failures) = load(socket: socket, clients: 16, perClient: 4_000) { c, _ in ("GET", "/v1/orgs/load-\(c)", "owner@c\(c).example", nil) }
        print("| \(label): one org, 16 clients | \(16 * 4_000) | \(fmt(rps)) | \(h.valueAtPercentile(50)) | \(h.valueAtPercentile(99)) | \(h.valueAtPercentile(99.9)) | \(failures) |")
    }

    // LMDB first, then PostgreSQL: the same workload, one after the other on the same machine.
    let data = try freshFolder("pg-lmdb", in: baseDir)
    let (lmdb, lmdbSocket) = try startService(data: data)
    try commands(lmdbSocket, label: "LMDB")
    reads(lmdbSocket, label: "LMDB")
    lmdb.terminate()
    lmdb.waitUntilExit()

    let url = try createDatabase(on: server)
    let key = baseDir + "/pg-instance.key"
    try? FileManager.default.removeItem(atPath: key)
    let (writer, writerSocket) = try startService(store: url, key: key, name: "pg-writer")
    try commands(writerSocket, label: "PostgreSQL, writer")
    let (follower, followerSocket) = try startService(store: url, key: key, name: "pg-follower")
    reads(writerSocket, label: "PostgreSQL, the writer")
    reads(followerSocket, label: "PostgreSQL, a second instance")

    // Takeover: the writer SIGKILLed; how long until the follower acknowledges a command.
    let probe = try KeepAliveConnection(path: followerSocket)
    kill(writer.processIdentifier, SIGKILL)
    writer.waitUntilExit()
    let killed = now()
    var n = 0
    while true {
        n += 1
        if (try? probe.send("POST", "/v1/orgs", actor: "owner@takeover.example", body: #"{"handle":"takeover-\#(n)","display_name":"T"}"#)) == 201 { break }
        usleep(20_000)
    }
    print("")
    print("takeover: the second instance acknowledged its first command \(String(format: "%.2f", Double(now() - killed) / 1e9)) s after the writer was SIGKILLed (lease 3 s, renewed every second)")
    follower.terminate()
    follower.waitUntilExit()
    try? FileManager.default.removeItem(atPath: data)
}

/// A new database on `server`; its URL.
func createDatabase(on server: String) throws -> String {
    let name = "bench_\(UInt64.random(in: 0...UInt64.max) % 1_000_000_000)"
    let psql = Process()
    psql.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
    psql.arguments = [server, "-qc", "CREATE DATABASE \(name)"]
    try psql.run()
    psql.waitUntilExit()
    guard psql.terminationStatus == 0 else { fatalError("cannot create a database on \(server)") }
    let (head, query) = server.firstIndex(of: "?").map { (String(server[..<$0]), String(server[$0...])) } ?? (server, "")
    return String(head[...head.lastIndex(of: "/")!]) + name + query
}

/// Starts the release `orgledger serve --store`; returns the process and its socket.
@MainActor func startService(store: String, key: String, name: String) throws -> (Process, String) {
    let socket = baseDir + "/" + name + ".sock"
    let process = Process()
    process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("orgledger")
    process.arguments = ["serve", "--store", store, "--instance-key", key, "--socket", socket, "--log-level", "error"]
    try process.run()
    for _ in 0..<6000 {
        if let c = try? KeepAliveConnection(path: socket), (try? c.send("GET", "/v1/health", actor: nil)) == 200 { return (process, socket) }
        usleep(10_000)
    }
    fatalError("the service did not start")
}
