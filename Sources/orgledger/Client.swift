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
            let table = Table.render(items, columns: columns ?? [])
            if !table.isEmpty { print(table) }
            // On standard error, so a piped table holds rows only.
            if let next = value["next_cursor"]?.stringValue { printError("(more: --cursor \(next))") }
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

    /// Rows for people or programs: on a terminal, aligned columns that fit its width (the widest
    /// columns are cut with "…"); piped, one tab-separated line per row without a header, as `gh` does,
    /// so `cut -f` and `awk -F'\t'` work (tabs and line breaks inside a value become spaces).
    static func render(_ rows: [JSONValue], columns: [String], terminal: Terminal = .standardOutput) -> String {
        let columns = columns.isEmpty ? (rows.first?.objectValue?.keys.sorted() ?? []) : columns
        let cells = rows.map { row in columns.map { text(row[$0]) } }
        guard let width = terminal.width else {
            return cells.map { $0.map(flattened).joined(separator: "\t") }.joined(separator: "\n")
        }
        guard !rows.isEmpty else { return "(none)" }
        let header = columns.map { $0.uppercased() }
        var widths = columns.indices.map { i in ([header[i]] + cells.map { $0[i] }).map { DisplayWidth.of(flattened($0)) }.max() ?? 0 }
        // Shrink the widest column, one cell at a time, until the line fits (no column below 6).
        while widths.reduce(0, +) + 2 * (widths.count - 1) > width, let widest = widths.indices.max(by: { widths[$0] < widths[$1] }), widths[widest] > 6 {
            widths[widest] -= 1
        }
        func line(_ items: [String]) -> String {
            items.enumerated().map { DisplayWidth.fit(flattened($1), to: widths[$0]) }.joined(separator: "  ")
                .replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }
        return ([line(header)] + cells.map(line)).joined(separator: "\n")
    }

    /// One object as aligned "key  value" lines; piped, "key<TAB>value".
    static func fields(_ value: JSONValue, terminal: Terminal = .standardOutput) -> String {
        guard let members = value.objectValue else { return text(value) }
        let keys = members.keys.sorted()
        guard terminal.width != nil else { return keys.map { "\($0)\t\(flattened(text(members[$0])))" }.joined(separator: "\n") }
        let width = keys.map(\.count).max() ?? 0
        return keys.map { key in key.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + text(members[key]) }.joined(separator: "\n")
    }

    static func flattened(_ text: String) -> String {
        String(text.map { $0 == "\t" || $0.isNewline ? " " : $0 })
    }
}

/// Where a table goes: a terminal of some width, or a pipe (nil).
struct Terminal {
    let width: Int?

    static var standardOutput: Terminal {
        guard isatty(STDOUT_FILENO) == 1 else { return Terminal(width: nil) }
        var size = winsize()
        if ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Terminal(width: Int(size.ws_col)) }
        return Terminal(width: ProcessInfoEnvironment.value("COLUMNS").flatMap(Int.init) ?? 80)
    }
}

/// How many terminal columns text takes: East Asian wide and fullwidth characters (CJK, most emoji)
/// take two, combining marks and other zero-width scalars none, everything else one, per grapheme.
enum DisplayWidth {
    static func of(_ text: String) -> Int { text.reduce(0) { $0 + of($1) } }

    static func of(_ character: Character) -> Int {
        guard let first = character.unicodeScalars.first else { return 0 }
        if character.unicodeScalars.allSatisfy({ isZeroWidth($0) }) { return 0 }
        if isWide(first) || character.unicodeScalars.contains(where: { $0.properties.isEmojiPresentation }) { return 2 }
        return 1
    }

    static func isZeroWidth(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .nonspacingMark, .enclosingMark, .format: return true
        default: return scalar.properties.isDefaultIgnorableCodePoint
        }
    }

    static func isWide(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x1100...0x115F, 0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xA000...0xA4CF,
            0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE30...0xFE4F, 0xFF00...0xFF60, 0xFFE0...0xFFE6, 0x20000...0x3FFFD:
            return true
        default:
            return false
        }
    }

    /// `text` padded with spaces to exactly `width` columns, or cut to fit with a trailing "…".
    static func fit(_ text: String, to width: Int) -> String {
        let total = of(text)
        if total <= width { return text + String(repeating: " ", count: width - total) }
        var out = "", used = 0
        for character in text {
            let w = of(character)
            if used + w > width - 1 { break }
            out.append(character)
            used += w
        }
        return out + "…" + String(repeating: " ", count: max(0, width - 1 - used))
    }
}

/// Percent-encodes one path segment: everything but ASCII letters, digits and `-._~@` (Foundation's
/// `alphanumerics` would let `é` through unencoded).
func segment(_ text: String) -> String {
    text.addingPercentEncoding(withAllowedCharacters: CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~@")) ?? text
}

func query(_ items: [(String, String?)]) -> String {
    let present = items.compactMap { key, value in value.map { "\(key)=\(segment($0))" } }
    return present.isEmpty ? "" : "?" + present.joined(separator: "&")
}
