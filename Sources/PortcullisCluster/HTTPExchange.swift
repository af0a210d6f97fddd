import Foundation

/// One HTTP/1.1 POST of a JSON body and its response, on a connection of its own
/// (`Connection: close`). The body is read with a hard size limit: a larger one is refused.
final class HTTPExchange {
    let connection: TCPConnection
    var endpoint: EtcdEndpoint { connection.endpoint }
    private(set) var status = 0
    private var pending: [UInt8] = []
    private var framing: Framing = .untilClose
    private var remaining = 0          // bytes left in the current chunk, or of Content-Length
    private var finished = false
    private let limit: Int

    private enum Framing { case length, chunked, untilClose }

    /// Connects, sends `method path` with `body`, and reads the status line and headers.
    init(endpoint: EtcdEndpoint, method: String = "POST", path: String, body: [UInt8], limit: Int,
         deadline: Deadline) throws {
        self.limit = limit
        connection = try TCPConnection(to: endpoint, deadline: deadline)
        let head = "\(method) \(path) HTTP/1.1\r\nHost: \(endpoint.authority)\r\n"
            + "Content-Type: application/json\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        try connection.write(Array(head.utf8) + body, deadline: deadline)
        try readHead(deadline: deadline)
    }

    private func readHead(deadline: Deadline) throws {
        let headLimit = 64 * 1024
        var end: Int?
        while end == nil {
            if let found = HTTPExchange.find([13, 10, 13, 10], in: pending) { end = found; break }
            guard pending.count <= headLimit else { throw EtcdError.responseTooLarge(endpoint, limit: headLimit) }
            let more = try connection.read(max: 16384, deadline: deadline)
            guard !more.isEmpty else { throw EtcdError.badResponse(endpoint, "connection closed before the response headers") }
            pending += more
        }
        let head = String(decoding: pending[0..<end!], as: UTF8.self)
        pending.removeFirst(end! + 4)
        var lines = head.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ", maxSplits: 2)
        guard statusLine.count >= 2, statusLine[0].hasPrefix("HTTP/1."), let code = Int(statusLine[1]) else {
            throw EtcdError.badResponse(endpoint, "not an HTTP/1.x status line")
        }
        status = code
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if name == "content-length" {
                guard let length = Int(value), length >= 0 else { throw EtcdError.badResponse(endpoint, "bad Content-Length") }
                guard length <= limit else { throw EtcdError.responseTooLarge(endpoint, limit: limit) }
                framing = .length
                remaining = length
            } else if name == "transfer-encoding", value.lowercased().contains("chunked") {
                framing = .chunked
                remaining = 0
            }
        }
        if framing == .length && remaining == 0 { finished = true }
    }

    /// The whole body, refused if it grows past the limit.
    func readBody(deadline: Deadline) throws -> [UInt8] {
        var body: [UInt8] = []
        while let piece = try nextBytes(deadline: deadline, cancelled: { false }) {
            body += piece
            guard body.count <= limit else { throw EtcdError.responseTooLarge(endpoint, limit: limit) }
        }
        return body
    }

    /// The next newline-terminated message of a streamed body (grpc-gateway writes one JSON object
    /// per line); nil at the end of the stream. A message longer than the limit is refused.
    func nextLine(deadline: Deadline?, cancelled: () -> Bool) throws -> [UInt8]? {
        while true {
            if let newline = lineBuffer.firstIndex(of: 10) {
                let line = Array(lineBuffer[..<newline])
                lineBuffer.removeFirst(newline + 1)
                if line.allSatisfy({ $0 == 13 || $0 == 32 }) { continue }
                return line
            }
            guard lineBuffer.count <= limit else { throw EtcdError.responseTooLarge(endpoint, limit: limit) }
            guard let more = try nextBytes(deadline: deadline, cancelled: cancelled) else {
                if lineBuffer.allSatisfy({ $0 == 13 || $0 == 32 || $0 == 10 }) { return nil }
                let line = lineBuffer
                lineBuffer = []
                return line
            }
            lineBuffer += more
        }
    }
    private var lineBuffer: [UInt8] = []

    /// The next decoded piece of the body, nil at its end.
    private func nextBytes(deadline: Deadline?, cancelled: () -> Bool) throws -> [UInt8]? {
        while !finished {
            switch framing {
            case .untilClose:
                if !pending.isEmpty { defer { pending = [] }; return pending }
                let more = try connection.read(max: 65536, deadline: deadline, cancelled: cancelled)
                if more.isEmpty { finished = true; return nil }
                return more
            case .length:
                if pending.isEmpty { pending = try readSome(deadline, cancelled, "before the end of the body") }
                let take = min(remaining, pending.count)
                let piece = Array(pending[0..<take])
                pending.removeFirst(take)
                remaining -= take
                if remaining == 0 { finished = true }
                return piece
            case .chunked:
                if remaining == 0 {
                    // A chunk-size line, "HEX[;ext]\r\n".
                    var lineEnd = HTTPExchange.find([13, 10], in: pending)
                    while lineEnd == nil {
                        guard pending.count < 1024 else { throw EtcdError.badResponse(endpoint, "chunk size line too long") }
                        pending += try readSome(deadline, cancelled, "inside the chunked body")
                        lineEnd = HTTPExchange.find([13, 10], in: pending)
                    }
                    let text = String(decoding: pending[0..<lineEnd!], as: UTF8.self)
                    pending.removeFirst(lineEnd! + 2)
                    let hex = text.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
                    guard let size = Int(hex, radix: 16), size >= 0 else {
                        throw EtcdError.badResponse(endpoint, "bad chunk size \"\(text.prefix(20))\"")
                    }
                    guard size <= limit else { throw EtcdError.responseTooLarge(endpoint, limit: limit) }
                    if size == 0 { finished = true; return nil }
                    remaining = size + 2          // the data and its CRLF
                }
                if pending.isEmpty { pending = try readSome(deadline, cancelled, "inside the chunked body") }
                let take = min(remaining, pending.count)
                var piece = Array(pending[0..<take])
                pending.removeFirst(take)
                let dataLeft = remaining - 2
                remaining -= take
                // Drop the bytes of the trailing CRLF that this piece took.
                if take > dataLeft { piece.removeLast(take - max(dataLeft, 0)) }
                if !piece.isEmpty { return piece }
            }
        }
        return nil
    }

    private func readSome(_ deadline: Deadline?, _ cancelled: () -> Bool, _ place: String) throws -> [UInt8] {
        let more = try connection.read(max: 65536, deadline: deadline, cancelled: cancelled)
        guard !more.isEmpty else { throw EtcdError.badResponse(endpoint, "connection closed \(place)") }
        return more
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
            if Array(haystack[start..<(start + needle.count)]) == needle { return start }
        }
        return nil
    }
}
