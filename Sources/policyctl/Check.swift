import ArgumentParser
import Foundation
import PortcullisPolicy

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Would this key be allowed to do that? Asks the daemon's own policy code.",
        discussion: """
            KIND is listen (ssh -R port), open (ssh -L/-W/-J host:port), streamlocal-listen \
            (ssh -R /path), streamlocal-open (ssh -L ...:/path), name-publish (ssh -R NAME:PORT:...) \
            or name-open (ssh -J proxy NAME, -W NAME:PORT); the audit log's names tcp-listen \
            and tcp-open are accepted too. A listen whose host is a name (no dot or colon, not \
            localhost) is a name-publish, as the daemon takes it. A name decision is the key's \
            rules only: whether the name is published, free, or also a host name is the \
            daemon's to see. A listen TARGET is [HOST:]PORT as the client sends it: a \
            bare port is what ssh -R PORT sends (localhost:PORT), and :PORT, the empty host, is what \
            ssh -R :PORT and ssh -R '*:PORT' send. An open TARGET is HOST:PORT; otherwise an \
            absolute socket path. The key must log in first: expiry, user and (with --from) the \
            from list are checked. Host names are not resolved, so a CIDR permit_open rule grants \
            only a literal IP address here.

            Prints "allow: FILE:LINE PATTERN" (the rule that allowed it) or "deny: REASON".

            Example:
              policyctl check --key alex streamlocal-listen /srv/portcullis/alex/web.sock
              policyctl check --key blake --from 198.51.100.7 --at 2027-01-01 open 127.0.0.1:5900
              policyctl check --key blake name-open alex-ssh:22

            Exit status: 0 allow; 1 deny; 2 usage error or unusable config.
            """
    )

    enum Kind: String, ExpressibleByArgument, CaseIterable {
        case listen, open
        /// The audit log's names for listen and open.
        case tcpListen = "tcp-listen"
        case tcpOpen = "tcp-open"
        case streamlocalListen = "streamlocal-listen"
        case streamlocalOpen = "streamlocal-open"
        case namePublish = "name-publish"
        case nameOpen = "name-open"
    }

    @OptionGroup var options: ConfigOption
    @Option(help: ArgumentHelp("The key's name or SHA256 fingerprint.", valueName: "NAME|FINGERPRINT")) var key: String
    @Option(help: "The SSH user name (default: the key's user, else its name).") var user: String?
    @Option(help: ArgumentHelp("The client's IP address (default: the from list is not checked).", valueName: "ADDR")) var from: String?
    @Option(help: ArgumentHelp("When: RFC 3339, a date, or a duration from now such as 30d (default: now).", valueName: "TIME")) var at: String?
    @Flag(help: "Print JSON.") var json = false
    @Argument(help: "listen (or tcp-listen), open (or tcp-open), streamlocal-listen, streamlocal-open, name-publish or name-open.") var kind: Kind
    @Argument(help: "[HOST]:PORT, PORT, HOST:PORT, /socket/path or NAME:PORT.") var target: String

    struct Output: Encodable {
        let key: String
        let user: String
        let request: String
        let decision: String
        /// `FILE:LINE PATTERN` of the granting rule.
        let rule: String?
        /// The granting rule's `FILE:LINE` and its pattern, as the audit record names them.
        let location: String?
        let pattern: String?
        let reason: String?

        init(key: String, user: String, request: String, decision: Decision) {
            self.key = key
            self.user = user
            self.request = request
            switch decision {
            case .allow(let grant):
                (self.decision, rule, location, pattern, reason) = ("allow", grant.description, grant.location.description, grant.pattern, nil)
            case .deny(let reason):
                (self.decision, rule, location, pattern, self.reason) = ("deny", nil, nil, nil, reason)
            }
        }
    }

    func run() throws {
        let request = try self.request()
        let now = Date()
        var date = now
        if let at {
            do { date = try Expiry.parse(at, now: now) } catch { throw Failure.usage("--at \"\(at)\": \(error.message)") }
        }
        let (config, refusals) = try options.loadReporting()
        ClusterKeyEntries.warn(refusals)
        let policy = Policy(config: config)
        let entry: KeyEntry
        do { entry = try Self.entry(key, in: policy) } catch {
            // Cluster mode: the key's own entry in etcd does not load; its problems say why.
            let reason = refusals.first { $0.name == key }.map { "key \"\(key)\": its entry in etcd does not load: "
                + $0.problems.map(\.description).joined(separator: "; ") } ?? error.message
            return try report(Output(key: key, user: user ?? "-", request: request.description, decision: .deny(reason: reason)))
        }
        let user = self.user ?? entry.user ?? entry.name
        let decision: Decision
        switch policy.admit(key: entry.key, user: user, clientAddress: from, at: date) {
        case .refused(let reason): decision = .deny(reason: reason)
        case .admitted(let admitted): decision = policy.decide(request, key: admitted, user: user)
        }
        if from == nil, entry.from != nil, !json {
            FileHandle.standardError.write(Data("policyctl: note: key \(entry.name) has a from list; give --from ADDR to check it\n".utf8))
        }
        try report(Output(key: entry.name, user: user, request: request.description, decision: decision))
    }

    private func report(_ output: Output) throws {
        if json { printJSON(output) } else { print(output.rule.map { "allow: \($0)" } ?? "deny: \(output.reason ?? "")") }
        if output.decision != "allow" { throw ExitCode(1) }
    }

    private func request() throws(Failure) -> ForwardRequest {
        switch kind {
        case .listen, .tcpListen, .open, .tcpOpen:
            let listen = kind == .listen || kind == .tcpListen
            func isPort(_ text: some StringProtocol) -> Bool { !text.isEmpty && text.allSatisfy { $0.isASCII && $0.isNumber } }
            var text = target
            if listen, isPort(text) { text = "localhost:" + text }
            // The empty host of ssh -R :PORT (and -R '*:PORT'), which ListenAddress does not take.
            if listen, text.hasPrefix(":"), isPort(text.dropFirst()), let port = Int(text.dropFirst()), port <= 65535 {
                return .tcpListen(host: "", port: port)
            }
            guard let address = try? ListenAddress(text) else {
                throw Failure.usage("\(kind.rawValue) target \"\(target)\": expected \(listen ? "[HOST]:PORT or PORT" : "HOST:PORT")")
            }
            if listen, ServiceName.isNameRequest(address.host) { return .namePublish(name: address.host, port: address.port) }
            return listen ? .tcpListen(host: address.host, port: address.port) : .tcpOpen(host: address.host, port: address.port)
        case .streamlocalListen: return .streamLocalListen(path: target)
        case .streamlocalOpen: return .streamLocalOpen(path: target)
        case .namePublish, .nameOpen:
            guard let address = try? ListenAddress(target) else {
                throw Failure.usage("\(kind.rawValue) target \"\(target)\": expected NAME:PORT")
            }
            return kind == .namePublish ? .namePublish(name: address.host, port: address.port)
                : .nameOpen(name: address.host, port: address.port)
        }
    }

    /// The entry named `text`, or whose fingerprint it is (`SHA256:...`).
    static func entry(_ text: String, in policy: Policy) throws(Failure) -> KeyEntry {
        if let entry = text.hasPrefix("SHA256:") ? policy.entry(fingerprint: text) : policy.entry(named: text) { return entry }
        throw Failure.refused(text.hasPrefix("SHA256:") ? "no key with fingerprint \(text)" : "no key named \"\(text)\"")
    }
}
