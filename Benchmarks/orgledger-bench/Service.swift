import Foundation
import Histogram
import LedgerCore
import OrgDomain
import Ledger
import LedgerLMDB
import Service

// MARK: Durable commands in-process

/// Commands through the real pipeline (decide, append, project, durable group commit): each submitter
/// invites fresh people into its own org, one command at a time.
@MainActor func commandsInProcess() async throws {
    print("")
    print("| durable commands in-process | commands | commands/s | p50 µs | p99 µs | p99.9 µs | mean batch | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for submitters in [1, 16, 64] {
        let path = try freshFolder("commands-\(submitters)", in: baseDir)
        let batches = BatchRecorder()
        let store = try LMDBLedger(path: path, afterCommit: { batches.record($0) })
        let now = Timestamp(millisecondsSinceEpoch: 1_795_810_740_123)
        for s in 0..<submitters {
            _ = try await store.pipeline.execute(CommandRequest(target: .new("org_b\(s)"), command: .createOrg(orgID: "org_b\(s)", handle: "bench-\(s)", displayName: "Bench"), actor: Email(trusted: "owner@b\(s).example"), now: now))
        }
        let perSubmitter = submitters == 1 ? 5_000 : 100_000 / submitters
        let before = batches.all.count
        let start = now_()
        let histogram = try await withThrowingTaskGroup(of: Histogram<UInt64>.self) { group in
            for s in 0..<submitters {
                group.addTask {
                    var h = Histogram<UInt64>(highestTrackableValue: 60_000_000)
                    for n in 0..<perSubmitter {
                        let t0 = now_()
                        let outcome = try await store.pipeline.execute(CommandRequest(
                            target: .id("org_b\(s)"),
                            command: .invite(people: [.email("p\(n)@b\(s).example")], role: "member", ttlDays: nil, invitationIDs: ["inv_\(s)_\(n)"]),
                            actor: Email(trusted: "owner@b\(s).example"), now: now))
                        guard case .applied = outcome else { fatalError("refused: \(outcome)") }
                        _ = h.record((now_() - t0) / 1000)
                    }
                    return h
                }
            }
            var all = Histogram<UInt64>(highestTrackableValue: 60_000_000)
            for try await h in group { all.add(h) }
            return all
        }
        let elapsed = now_() - start
        store.close()
        let total = perSubmitter * submitters
        let commits = batches.all.count - before
        print("| \(submitters) submitters | \(total) | \(fmt(rate(total, elapsed))) | \(histogram.valueAtPercentile(50)) | \(histogram.valueAtPercentile(99)) | \(histogram.valueAtPercentile(99.9)) | \(fmt(Double(total) / Double(max(commits, 1)))) | \(fmt(peakRSSMiB())) |")
        try? FileManager.default.removeItem(atPath: path)
    }
}

func now_() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

/// Inviting 100 emails into an org that already holds 100,000 pending invitations, against the same
/// into an empty org, one command at a time, interleaved so both see the same machine: the cost of the
/// one-pending-invitation-per-email rule and of the org's size on the write path.
@MainActor func invitesIntoALargeOrg() async throws {
    let path = try freshFolder("pending", in: baseDir)
    let store = try LMDBLedger(path: path)
    let now = Timestamp(millisecondsSinceEpoch: 1_795_810_740_123)
    let owner = Email(trusted: "owner@large.example")
    for (org, handle) in [("org_large", "large"), ("org_empty", "empty")] {
        _ = try await store.pipeline.execute(CommandRequest(target: .new(org), command: .createOrg(orgID: org, handle: handle, displayName: "Bench"), actor: owner, now: now))
    }
    var counter = 0
    func invite(_ org: String) async throws -> UInt64 {
        let emails = (0..<100).map { _ in counter += 1; return "p\(counter)@large.example" }
        let t0 = now_()
        let outcome = try await store.pipeline.execute(CommandRequest(
            target: .id(org), command: .invite(people: emails.map(PersonRef.email), role: "member", ttlDays: 30, invitationIDs: emails.map { "inv_\($0)" }), actor: owner, now: now))
        guard case .applied(_, let events, _) = outcome, events.count == 100 else { fatalError("refused: \(outcome)") }
        return now_() - t0
    }
    for _ in 0..<1_000 { _ = try await invite("org_large") }  // 100,000 pending
    var large: [UInt64] = [], empty: [UInt64] = []
    for round in 0..<60 {
        // Every other round starts with the other org; the empty org is emptied of nothing (it grows by
        // 100 per round, 6,000 at the end: still 17× smaller).
        if round % 2 == 0 {
            large.append(try await invite("org_large"))
            empty.append(try await invite("org_empty"))
        } else {
            empty.append(try await invite("org_empty"))
            large.append(try await invite("org_large"))
        }
    }
    store.close()
    func median(_ values: [UInt64]) -> Double { Double(values.sorted()[values.count / 2]) / 1e6 }
    print("")
    print("| inviting 100 emails, one command (60 rounds, interleaved) | median ms | p90 ms | ratio to the empty org |")
    print("|---|---:|---:|---:|")
    func p90(_ values: [UInt64]) -> Double { Double(values.sorted()[values.count * 9 / 10]) / 1e6 }
    print("| into an org with 100,000 pending invitations | \(fmt(median(large))) | \(fmt(p90(large))) | \(fmt(median(large) / median(empty))) |")
    print("| into an (almost) empty org | \(fmt(median(empty))) | \(fmt(p90(empty))) | 1.00 |")
    try? FileManager.default.removeItem(atPath: path)
}

// MARK: Over the socket

/// A keep-alive HTTP/1.1 connection over a Unix socket, blocking: one per load-generating thread.
final class KeepAliveConnection {
    let fd: Int32
    private var buffer: [UInt8] = []

    init(path: String) throws {
        fd = try UnixSocket.connect(path)
    }

    deinit { close(fd) }

    /// Sends one request and returns the status.
    func send(_ method: String, _ path: String, actor: String?, body: String? = nil) throws -> Int {
        try exchange(method, path, headers: actor.map { ["X-Actor: \($0)"] } ?? [], body: body).status
    }

    /// Sends one request with these header lines; returns the status and the body.
    func exchange(_ method: String, _ path: String, headers: [String], body: String? = nil) throws -> (status: Int, body: [UInt8]) {
        var request = "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\n"
        for header in headers { request += header + "\r\n" }
        if let body { request += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)" } else { request += "\r\n" }
        var out = Array(request.utf8)
        var sent = 0
        while sent < out.count {
            let n = out.withUnsafeMutableBytes { write(fd, $0.baseAddress! + sent, $0.count - sent) }
            guard n > 0 else { throw NSError(domain: "write", code: Int(errno)) }
            sent += n
        }
        // Read the head, then Content-Length bytes.
        while true {
            if let end = buffer.firstRange(of: [13, 10, 13, 10]) {
                let head = String(decoding: buffer[..<end.lowerBound], as: UTF8.self)
                let status = Int(head.split(separator: " ")[1]) ?? 0
                var length = 0
                for line in head.split(separator: "\r\n") where line.lowercased().hasPrefix("content-length:") {
                    length = Int(line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) ?? 0
                }
                while buffer.count < end.upperBound + length { try fill() }
                let body = Array(buffer[end.upperBound..<(end.upperBound + length)])
                buffer.removeFirst(end.upperBound + length)
                return (status, body)
            }
            try fill()
        }
    }

    private func fill() throws {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { throw NSError(domain: "read", code: Int(errno)) }
        buffer.append(contentsOf: chunk[..<n])
    }
}

/// Runs `clients` threads, each with its own connection, each sending `perClient` requests made by
/// `request(client, n)`; returns (requests/s, latency histogram in µs, non-2xx count).
func load(socket: String, clients: Int, perClient: Int, _ request: @escaping @Sendable (Int, Int) -> (String, String, String?, String?)) -> (Double, Histogram<UInt64>, Int) {
    let results = Mutex<[(Histogram<UInt64>, Int)]>([])
    let group = DispatchGroup()
    let start = now_()
    for c in 0..<clients {
        group.enter()
        Thread {
            defer { group.leave() }
            var h = Histogram<UInt64>(highestTrackableValue: 60_000_000)
            var failures = 0
            guard let connection = try? KeepAliveConnection(path: socket) else { results.withLock { $0.append((h, perClient)) }; return }
            for n in 0..<perClient {
                let (method, path, actor, body) = request(c, n)
                let t0 = now_()
                let status = (try? connection.send(method, path, actor: actor, body: body)) ?? 0
                _ = h.record((now_() - t0) / 1000)
                if !(200..<300).contains(status) { failures += 1 }
            }
            results.withLock { $0.append((h, failures)) }
        }.start()
    }
    group.wait()
    let elapsed = now_() - start
    var all = Histogram<UInt64>(highestTrackableValue: 60_000_000)
    var failures = 0
    for (h, f) in results.withLock({ $0 }) { all.add(h); failures += f }
    return (rate(clients * perClient, elapsed), all, failures)
}

/// Starts the release `orgledger serve` on a data folder; returns the process and its socket.
func startService(data: String) throws -> (Process, String) {
    let socket = data + ".sock"
    let process = Process()
    process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("orgledger")
    process.arguments = ["serve", "--data", data, "--socket", socket, "--log-level", "error"]
    try process.run()
    for _ in 0..<6000 {
        if let c = try? KeepAliveConnection(path: socket), (try? c.send("GET", "/v1/health", actor: nil)) == 200 { return (process, socket) }
        usleep(10_000)
    }
    fatalError("the service did not start")
}

func peakRSSOfChild(_ process: Process) -> Double {
    // VmHWM of the child, read before it exits.
    guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
        let kb = Double(line.split(separator: " ").dropFirst().first ?? "")
    else { return 0 }
    return kb / 1024
}

@MainActor func overTheSocket() throws {
    print("")
    print("| over the socket (keep-alive) | requests | requests/s | p50 µs | p99 µs | p99.9 µs | non-2xx | service peak RSS MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for clients in [1, 16, 64] {
        let data = try freshFolder("socket-\(clients)", in: baseDir)
        let (process, socket) = try startService(data: data)
        let setup = try KeepAliveConnection(path: socket)
        for c in 0..<clients {
            _ = try setup.send("POST", "/v1/orgs", actor: "owner@c\(c).example", body: #"{"handle":"load-\#(c)","display_name":"Load"}"#)
        }
        let perClient = clients == 1 ? 3_000 : 60_000 / clients
        let (rps, h, failures) = load(socket: socket, clients: clients, perClient: perClient) { c, n in
            ("POST", "/v1/orgs/load-\(c)/invitations", "owner@c\(c).example", #"{"emails":["p\#(n)@c\#(c).example"],"role":"member"}"#)
        }
        print("| commands, \(clients) clients | \(clients * perClient) | \(fmt(rps)) | \(h.valueAtPercentile(50)) | \(h.valueAtPercentile(99)) | \(h.valueAtPercentile(99.9)) | \(failures) | \(fmt(peakRSSOfChild(process))) |")
        process.terminate()
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: data)
    }
}

/// Queries with 16 clients on a service whose log holds about `rebuildEvents` events: one org, the
/// members of a 50-member org, an audit page of 100, and time travel on an org with 10k events. The
/// generated bulk names people by made-up ids the people store does not hold (no actor of it can
/// read), so every query is of an org made through the API on top of it.
@MainActor func queries() throws {
    let data = try freshFolder("queries", in: baseDir)
    do {
        let environment = try LMDB.Environment(path: data, configuration: .init(mapSize: 16 << 30))
        _ = try generateOrgLog(environment, count: rebuildEvents)
        // `serve` refuses a log without its instance key (a new key would lose every commitment's salt);
        // the generated log commits to no personal value, so any key is its key.
        try InstanceKey.generate().write(to: data + "/" + InstanceKey.fileName)
    }
    let (process, socket) = try startService(data: data)  // rebuilds the views at start-up
    let setup = try KeepAliveConnection(path: socket)
    _ = try setup.send("POST", "/v1/orgs", actor: "q@fifty.example", body: #"{"handle":"fifty","display_name":"Fifty"}"#)
    let emails = (0..<49).map { "\"m\($0)@fifty.example\"" }.joined(separator: ",")
    _ = try setup.send("POST", "/v1/orgs/fifty/invitations", actor: "q@fifty.example", body: #"{"emails":[\#(emails)],"role":"member"}"#)
    // Accepting needs the invitation ids: read them back.
    let listing = try SocketJSON.get(socket, "/v1/orgs/fifty/invitations", actor: "q@fifty.example")
    for invitation in listing["invitations"]?.arrayValue ?? [] {
        _ = try setup.send("POST", "/v1/invitations/\(invitation["id"]!.stringValue!)/accept", actor: invitation["email"]!.stringValue!)
    }
    _ = try setup.send("POST", "/v1/orgs", actor: "t@tenk.example", body: #"{"handle":"tenk","display_name":"Ten K"}"#)
    for n in 0..<9_998 { _ = try setup.send("PATCH", "/v1/orgs/tenk", actor: "t@tenk.example", body: #"{"display_name":"Ten K \#(n)"}"#) }

    print("")
    print("| queries over the socket, 16 clients (log of \(rebuildEvents / 1000)k+ events) | requests | requests/s | p50 µs | p99 µs | p99.9 µs | non-2xx |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    let cases: [(String, String, String)] = [
        ("`/v1/health` (the baseline: no org, one head lookup)", "/v1/health", "owner@org7.example.com"),
        ("one org", "/v1/orgs/tenk", "t@tenk.example"),
        ("members of a 50-member org", "/v1/orgs/fifty/members", "q@fifty.example"),
        ("an audit page of 100", "/v1/orgs/tenk/audit?limit=100", "t@tenk.example"),
        ("time travel, org with 10k events (as_of its 5,000th)", "", "t@tenk.example"),
    ]
    let tenkSeq = (try SocketJSON.get(socket, "/v1/health", actor: nil))["head_seq"]!.intValue! - 5_000
    for (name, path, actor) in cases {
        let target = path.isEmpty ? "/v1/orgs/tenk?as_of=\(tenkSeq)" : path
        let perClient = path.isEmpty ? 100 : 2_000
        let (rps, h, failures) = load(socket: socket, clients: 16, perClient: perClient) { _, _ in ("GET", target, actor, nil) }
        print("| \(name) | \(16 * perClient) | \(fmt(rps)) | \(h.valueAtPercentile(50)) | \(h.valueAtPercentile(99)) | \(h.valueAtPercentile(99.9)) | \(failures) |")
    }
    print("(service peak RSS: \(fmt(peakRSSOfChild(process))) MiB)")
    process.terminate()
    process.waitUntilExit()
    try? FileManager.default.removeItem(atPath: data)
}

/// Issue #14's target: inclusion proofs at 16 clients against `/v1/health` on the same service, in the
/// same minute. A fresh service with 3,000 commands' worth of log.
@MainActor func proofs() throws {
    let data = try freshFolder("proofs", in: baseDir)
    let (process, socket) = try startService(data: data)
    let setup = try KeepAliveConnection(path: socket)
    _ = try setup.send("POST", "/v1/orgs", actor: "p@proofs.example", body: #"{"handle":"proofs","display_name":"Proofs"}"#)
    for n in 0..<3_000 { _ = try setup.send("PATCH", "/v1/orgs/proofs", actor: "p@proofs.example", body: #"{"display_name":"Proofs \#(n)"}"#) }
    let head = Int((try SocketJSON.get(socket, "/v1/health", actor: nil))["head_seq"]!.intValue!)
    Thread.sleep(forTimeInterval: 1.5)  // a checkpoint covers the head (signed at least once a second)
    print("")
    print("| evidence over the socket, 16 clients (log of \(head) events) | requests | requests/s | p50 µs | p99 µs | p99.9 µs | non-2xx |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    let cases: [(String, @Sendable (Int, Int) -> String)] = [
        ("`/v1/health` (the baseline)", { _, _ in "/v1/health" }),
        ("an inclusion proof (spread seqs, tree at the head)", { c, n in "/v1/proofs/inclusion?seq=\(1 + (c * 7_919 + n * 104_729) % head)&size=\(head)" }),
        ("the latest checkpoint", { _, _ in "/v1/log/checkpoint" }),
    ]
    for round in 1...3 {
        for (name, path) in cases {
            let (rps, h, failures) = load(socket: socket, clients: 16, perClient: 2_000) { c, n in ("GET", path(c, n), nil, nil) }
            print("| \(name), round \(round) | \(16 * 2_000) | \(fmt(rps)) | \(h.valueAtPercentile(50)) | \(h.valueAtPercentile(99)) | \(h.valueAtPercentile(99.9)) | \(failures) |")
        }
    }
    process.terminate()
    process.waitUntilExit()
    try? FileManager.default.removeItem(atPath: data)
}

enum SocketJSON {
    static func get(_ socket: String, _ path: String, actor: String?) throws -> JSONValue {
        let fd = try UnixSocket.connect(socket)
        defer { close(fd) }
        var request = "GET \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        if let actor { request += "X-Actor: \(actor)\r\n" }
        request += "\r\n"
        var out = Array(request.utf8)
        _ = out.withUnsafeMutableBytes { write(fd, $0.baseAddress, $0.count) }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            response.append(contentsOf: chunk[..<n])
        }
        guard let end = response.firstRange(of: [13, 10, 13, 10]) else { return .null }
        return (try? JSONParser.parse(response[end.upperBound...])) ?? .null
    }
}

import LMDB
import Synchronization
