import ArgumentParser
import Foundation
import PortcullisPolicy
import PortcullisServer

/// Where the daemon's control socket is: `--control-socket PATH`, else `control_socket` of the
/// configuration (`--config`, default as the daemon's).
struct ControlOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The main configuration file, to find control_socket in.", valueName: "FILE"))
    var config = "/etc/portcullis/portcullis.yaml"

    @Option(name: .long, help: ArgumentHelp("The daemon's control socket (instead of the config's control_socket).", valueName: "PATH"))
    var controlSocket: String?

    @Option(help: ArgumentHelp("How long to wait for the daemon's answer.", valueName: "SECONDS"))
    var timeout: Double = 10

    /// The socket's path; fails when the config cannot be read or has control_socket off.
    func socketPath() throws(Failure) -> String {
        if let controlSocket { return controlSocket }
        let loaded: PolicyConfig
        do {
            loaded = try ConfigLoader.load(path: config)
        } catch {
            throw Failure.usage("cannot find the control socket: invalid configuration: \(ConfigOption.summary(error)); "
                                + "give --control-socket PATH")
        }
        guard let path = loaded.controlSocket else {
            throw Failure.refused("control_socket is off in \(config): the daemon has no control socket")
        }
        return path
    }

    /// Sends `command` to the daemon and returns its answer; a refusal (`ok: false`) fails with
    /// the daemon's words.
    func call(_ command: ControlProtocol.Command) throws(Failure) -> ControlResponse {
        let path = try socketPath()
        let response = try ControlClient.call(command, socket: path, timeout: timeout)
        guard response.ok else { throw Failure.refused(response.error ?? "the daemon refused the request") }
        return response
    }
}

/// One request and its answer over the control socket (docs/control-protocol.md).
enum ControlClient {
    static func call(_ command: ControlProtocol.Command, socket path: String, timeout: Double) throws(Failure) -> ControlResponse {
        let fd = try connect(path)
        defer { close(fd) }
        let deadline = Date().addingTimeInterval(timeout)
        let request = ControlProtocol.request(command)
        let sent = request.withUnsafeBytes { raw -> Bool in
            var offset = 0
            while offset < raw.count {
                let written = send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                if written <= 0 { return false }
                offset += written
            }
            return true
        }
        guard sent else { throw Failure.refused("cannot send to portcullisd on \(path): \(String(cString: strerror(errno)))") }
        var buffer = Data()
        var chunk = [UInt8](repeating: 0, count: 65536)
        while !buffer.contains(0x0A) {
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { throw Failure.refused("no answer from portcullisd on \(path) within \(timeout) s") }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(left * 1000) + 1)
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { continue }
            let count = read(fd, &chunk, chunk.count)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw Failure.refused("portcullisd on \(path) closed the connection without an answer") }
            buffer.append(contentsOf: chunk[0..<count])
        }
        let line = buffer[buffer.startIndex..<buffer.firstIndex(of: 0x0A)!]
        do {
            return try ControlProtocol.decoder.decode(ControlResponse.self, from: Data(line))
        } catch {
            throw Failure.refused("portcullisd on \(path) answered something unreadable: \(error)")
        }
    }

    private static func connect(_ path: String) throws(Failure) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure.refused("socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard !bytes.isEmpty, bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(fd)
            throw Failure.usage("control socket path \(path) is too long for a Unix socket")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + 1)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, length) }
        }
        guard result == 0 else {
            let code = errno
            close(fd)
            switch code {
            case ENOENT, ECONNREFUSED:
                throw Failure.refused("cannot connect to \(path): is portcullisd running? control_socket is \(path)")
            case EACCES, EPERM:
                throw Failure.refused("permission denied on \(path): run as root or as a member of control_group")
            default:
                throw Failure.refused("cannot connect to \(path): \(String(cString: strerror(code)))")
            }
        }
        return fd
    }
}

/// `12345` as `12345 B`, `1.2 MiB`... for people; the exact count stays in --json.
func byteCount(_ bytes: UInt64) -> String {
    "\(bytes) B"
}

/// Seconds as `1h 2m 3s`.
func duration(_ seconds: Double) -> String {
    let total = Int(seconds)
    let (h, m, s) = (total / 3600, total / 60 % 60, total % 60)
    if h > 0 { return "\(h)h \(m)m \(s)s" }
    if m > 0 { return "\(m)m \(s)s" }
    return String(format: "%.1fs", seconds)
}

/// Prints the daemon's answer as JSON with its own (snake_case) field names, indented.
func printControlJSON<T: Encodable>(_ value: T) {
    let encoder = ControlProtocol.encoder
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    let data = (try? encoder.encode(value)) ?? Data("null".utf8)
    print(String(decoding: data, as: UTF8.self))
}
