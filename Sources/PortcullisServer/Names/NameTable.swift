import Foundation

/// Who holds a published name, and how a connection reaches them.
public struct NameHolder: Sendable {
    /// The session that published the name, and its key.
    public let session: UInt64
    public let keyName: String
    /// The port the name was published with: `ssh -R alex-ssh:22:...` serves `alex-ssh:22` only.
    public let port: Int
    /// Hands one end of a connected socket pair, and the consumer's address, to the holder's
    /// session, which opens a `forwarded-tcpip` channel to its client for it (or closes it if it
    /// no longer can). Called from any thread.
    let deliver: @Sendable (Int32, Endpoint?) -> Void

    public init(session: UInt64, keyName: String, port: Int, deliver: @escaping @Sendable (Int32, Endpoint?) -> Void) {
        self.session = session
        self.keyName = keyName
        self.port = port
        self.deliver = deliver
    }

    /// `session 12 (key alex)`, for refusals and logs.
    public var description: String { "session \(session) (key \(keyName))" }
}

/// The table of this daemon's published names: claim a name (or be told who holds it), release
/// it, look it up. In cluster mode a publish is first claimed as `names/NAME` in etcd under the
/// proxy's lease (`RegistryListenClaims`), and a name another member holds is found there and
/// relayed over the member link (`SessionWorker+ClusterNames`); this table keeps the local holders.
public protocol NameDirectory: AnyObject, Sendable {
    /// Claims `name` for `holder`; the current holder if the name is taken (nothing changes then).
    func publish(_ name: String, holder: NameHolder) -> NameHolder?
    /// Releases `name` if `session` holds it; returns whether it did.
    @discardableResult func withdraw(_ name: String, session: UInt64) -> Bool
    /// Who holds `name` now, if anyone.
    func lookup(_ name: String) -> NameHolder?
}

/// The names published on this daemon, shared by every event loop.
public final class NameTable: NameDirectory, @unchecked Sendable {
    private let lock = NSLock()
    private var holders: [String: NameHolder] = [:]

    public init() {}

    public func publish(_ name: String, holder: NameHolder) -> NameHolder? {
        lock.lock()
        defer { lock.unlock() }
        if let current = holders[name] { return current }
        holders[name] = holder
        return nil
    }

    @discardableResult
    public func withdraw(_ name: String, session: UInt64) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard holders[name]?.session == session else { return false }
        holders[name] = nil
        return true
    }

    public func lookup(_ name: String) -> NameHolder? {
        lock.lock()
        defer { lock.unlock() }
        return holders[name]
    }

    /// Every published name and its holder, sorted by name (for tests and status).
    public var published: [(name: String, holder: NameHolder)] {
        lock.lock()
        defer { lock.unlock() }
        return holders.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }
}
