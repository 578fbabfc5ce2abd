import ArgumentParser
import Foundation
import LedgerCore
import Service

/// A small HTTP/1.1 client over the service's Unix socket (one request per connection). Hand-written
/// rather than AsyncHTTPClient: the CLI needs only this, and it keeps the client build light.
struct SocketClient {
    let socketPath: String

    struct Reply {
        let status: Int
        let headers: [String: String]
        let body: [UInt8]
        var json: JSONValue? { try? JSONParser.parse(body) }
    }

    enum ClientError: Error, CustomStringConvertible {
        case connect(String, String)
        case io(String)
        case malformed
        var description: String {
            switch self {
            case .connect(let path, let why): "cannot reach the service at \(path): \(why) (is 'orgledger serve' running? --socket / ORGLEDGER_SOCKET)"
            case .io(let why): "talking to the service: \(why)"
            case .malformed: "the service sent a malformed HTTP response"
            }
        }
    }

    func send(_ method: String, _ path: String, headers: [(String, String)] = [], body: [UInt8]? = nil) throws -> Reply {
        let fd: Int32
        do { fd = try UnixSocket.connect(socketPath) } catch { throw ClientError.connect(socketPath, String(cString: strerror(error.code))) }
        defer { close(fd) }

        var request = "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nUser-Agent: orgledger-cli/1\r\n"
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        if let body {
            request += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n"
        }
        request += "\r\n"
        var bytes = Array(request.utf8) + (body ?? [])
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress! + sent, $0.count - sent) }
            guard n > 0 else { throw ClientError.io(String(cString: strerror(errno))) }
            sent += n
        }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 { throw ClientError.io(String(cString: strerror(errno))) }
            if n == 0 { break }
            response.append(contentsOf: chunk[..<n])
        }
        return try Self.parse(response)
    }

    static func parse(_ response: [UInt8]) throws -> Reply {
        guard let end = response.firstRange(of: Array("\r\n\r\n".utf8)) else { throw ClientError.malformed }
        let head = String(decoding: response[..<end.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = head[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { throw ClientError.malformed }
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body = Array(response[end.upperBound...])
        if headers["transfer-encoding"]?.lowercased() == "chunked" { body = try dechunk(body) }
        return Reply(status: status, headers: headers, body: body)
    }

    static func dechunk(_ bytes: [UInt8]) throws -> [UInt8] {
        var out: [UInt8] = [], i = 0
        while i < bytes.count {
            guard let lineEnd = bytes[i...].firstRange(of: Array("\r\n".utf8)),
                let size = Int(String(decoding: bytes[i..<lineEnd.lowerBound], as: UTF8.self).split(separator: ";")[0], radix: 16)
            else { throw ClientError.malformed }
            if size == 0 { break }
            let start = lineEnd.upperBound
            guard start + size <= bytes.count else { throw ClientError.malformed }
            out.append(contentsOf: bytes[start..<(start + size)])
            i = start + size + 2
        }
        return out
    }
}

/// Options every client command takes.
struct ClientOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The service's socket (env ORGLEDGER_SOCKET).", valueName: "PATH"))
    var socket: String = ProcessInfoEnvironment.value("ORGLEDGER_SOCKET") ?? "./orgledger.sock"

    @Option(name: .customLong("as"), help: ArgumentHelp("Act as this email (env ORGLEDGER_ACTOR).", valueName: "EMAIL"))
    var actor: String? = ProcessInfoEnvironment.value("ORGLEDGER_ACTOR")

    @Flag(help: "Print the service's JSON as it is, for scripts.")
    var json = false

    @Option(help: ArgumentHelp("Send If-Match with this org version.", valueName: "VERSION"))
    var ifMatch: String?

    @Option(help: "Send this Idempotency-Key.")
    var idempotencyKey: String?

    /// Sends one request and prints the answer: JSON with --json, a table or fields otherwise. A problem
    /// document goes to standard error and the command exits 1.
    func call(_ method: String, _ path: String, body: JSONValue? = nil, columns: [String]? = nil, listKey: String? = nil) throws {
        var headers: [(String, String)] = []
        if let actor { headers.append(("X-Actor", actor)) }
        if let ifMatch { headers.append(("If-Match", "\"\(ifMatch)\"")) }
        if let idempotencyKey { headers.append(("Idempotency-Key", idempotencyKey)) }
        let encoded = try body.map { try CanonicalJSON.encode($0) }
        var reply = try SocketClient(socketPath: socket).send(method, path, headers: headers, body: encoded)
        // A former handle answers 308: follow it once, and say so.
        if reply.status == 308, let location = reply.headers["location"] {
            printError("note: \(reply.json?["detail"]?.stringValue ?? "moved"); using \(location)")
            reply = try SocketClient(socketPath: socket).send(method, location, headers: headers, body: encoded)
        }
        if reply.status >= 300 {
            if let doc = reply.json, let detail = doc["detail"]?.stringValue {
                printError("error \(reply.status) \(doc["reason"]?.stringValue ?? ""): \(detail)")
                for error in doc["errors"]?.arrayValue ?? [] {
                    printError("  \(error["field"]?.stringValue ?? ""): \(error["message"]?.stringValue ?? "")")
                }
                if let location = reply.headers["location"] { printError("  see \(location)") }
            } else {
                printError("error \(reply.status)")
            }
            throw ExitCode(1)
        }
        if json || reply.json == nil {
            FileHandle.standardOutput.write(Data(reply.body))
            if reply.body.last != UInt8(ascii: "\n") { print("") }
            return
        }
        let value = reply.json!
        if let listKey, let items = value[listKey]?.arrayValue {
            print(Table.render(items, columns: columns ?? []))
            if let next = value["next_cursor"]?.stringValue { print("(more: --cursor \(next))") }
        } else {
            print(Table.fields(value))
        }
    }
}

enum Table {
    static func text(_ value: JSONValue?) -> String {
        switch value {
        case .string(let s)?: s
        case .int(let n)?: String(n)
        case .bool(let b)?: b ? "yes" : "no"
        case .null?, nil: "-"
        case let other?: other.description
        }
    }

    /// Rows as aligned columns.
    static func render(_ rows: [JSONValue], columns: [String]) -> String {
        guard !rows.isEmpty else { return "(none)" }
        let columns = columns.isEmpty ? (rows[0].objectValue?.keys.sorted() ?? []) : columns
        let cells = rows.map { row in columns.map { text(row[$0]) } }
        let widths = columns.indices.map { i in max(columns[i].count, cells.map { $0[i].count }.max() ?? 0) }
        func line(_ items: [String]) -> String {
            items.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces)
        }
        return ([line(columns.map { $0.uppercased() })] + cells.map(line)).joined(separator: "\n")
    }

    /// One object as "key: value" lines.
    static func fields(_ value: JSONValue) -> String {
        guard let members = value.objectValue else { return text(value) }
        let width = members.keys.map(\.count).max() ?? 0
        return members.keys.sorted().map { key in
            key.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + text(members[key])
        }.joined(separator: "\n")
    }
}

/// Percent-encodes one path segment.
func segment(_ text: String) -> String {
    text.addingPercentEncoding(withAllowedCharacters: CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~@+"))) ?? text
}

func query(_ items: [(String, String?)]) -> String {
    let present = items.compactMap { key, value in value.map { "\(key)=\(segment($0))" } }
    return present.isEmpty ? "" : "?" + present.joined(separator: "&")
}
