#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A host private key file read as the daemon will read it at start, with the checks sshd makes
/// first: it exists, is a regular file (a FIFO is never opened), is not open to group or others,
/// and can be read. Parsing the key is libssh's (PortcullisServer's HostKeyCheck).
public enum HostKeyFile {
    /// The largest key file libssh reads (its MAX_PRIVKEY_SIZE).
    public static let limit = 4 << 20

    /// The file's bytes, or what is wrong with it as a sentence.
    public static func read(_ path: String) -> Result<[UInt8], HostKeyProblem> {
        var status = stat()
        guard stat(path, &status) == 0 else { return .failure(.cannotRead(errno)) }
        if let kind = ConfigFileReader.nonRegularKind(status.st_mode) { return .failure(.notRegular(kind)) }
        if let problem = unprotected(status) { return .failure(problem) }
        switch ConfigFileReader.read(path, limit: limit, links: .follow) {
        case .success(let bytes): return .success(bytes)
        case .failure(.cannotRead(let code)): return .failure(.cannotRead(code))
        case .failure(.notRegular(let kind)): return .failure(.notRegular(kind))
        case .failure(.tooLarge(let size, _)): return .failure(.tooLarge(size))
        }
    }

    /// sshd's rule: a private key that group or others may read, write or run is refused,
    /// whoever owns it.
    static func unprotected(_ status: stat) -> HostKeyProblem? {
        let mode = UInt32(status.st_mode) & 0o7777
        return mode & 0o077 != 0 ? .unprotected(mode: mode) : nil
    }
}

/// Why a host key file cannot be used.
public enum HostKeyProblem: Error, Equatable, Sendable {
    case cannotRead(Int32)
    case notRegular(String)
    case unprotected(mode: UInt32)
    case tooLarge(Int)
    /// libssh could not load it: its reason.
    case unusable(String)

    public var message: String {
        switch self {
        case .cannotRead(ENOENT): "no such file"
        case .cannotRead(EACCES): "cannot read: permission denied (running as uid \(getuid()))"
        case .cannotRead(let code): "cannot read: \(String(cString: strerror(code)))"
        case .notRegular(let kind): "not a regular file (\(ConfigFileReader.article(kind)))"
        case .unprotected(let mode):
            "UNPROTECTED PRIVATE KEY FILE: permissions 0\(String(mode, radix: 8)) let group or others at it "
                + "(sshd refuses such a key too): chmod 600 it"
        case .tooLarge(let size): "file is \(size) bytes, more than a private key file may have (4 MiB)"
        case .unusable(let reason): reason
        }
    }
}
