import ArgumentParser
import Foundation
import PortcullisPolicy

struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Write a commented starter config, an empty keys directory and a host key.",
        discussion: """
            Refuses to overwrite an existing config. Modes: the config 0600 and keys_dir 0700 (only \
            root reads the rules), the ed25519 host key 0600 (made with ssh-keygen, only if none \
            exists), socket_root 0755 if it has to be created. Paths default to the config's \
            directory: keys.d and ssh_host_ed25519_key.

            Example:
              policyctl init --config /etc/portcullis/portcullis.yaml --socket-root /srv/portcullis --listen 0.0.0.0:22

            Exit status: 0 written; 1 refused or failed; 2 usage error.
            """
    )

    @OptionGroup var options: ConfigOption
    @Option(help: ArgumentHelp("Where the daemon creates Unix sockets.", valueName: "DIR")) var socketRoot = "/srv/portcullis"
    @Option(help: ArgumentHelp("Address to accept SSH on, host:port; repeatable (default 0.0.0.0:22 and [::]:22).", valueName: "ADDR")) var listen: [String] = []
    @Option(help: ArgumentHelp("The keys directory (default: keys.d next to the config).", valueName: "DIR")) var keysDir: String?
    @Option(help: ArgumentHelp("The host key (default: ssh_host_ed25519_key next to the config).", valueName: "FILE")) var hostKey: String?

    func run() throws {
        let configPath = absolute(options.config)
        let base = (configPath as NSString).deletingLastPathComponent
        let keysDir = absolute(self.keysDir ?? base + "/keys.d")
        let hostKey = absolute(self.hostKey ?? base + "/ssh_host_ed25519_key")
        let socketRoot = absolute(self.socketRoot)
        let addresses = listen.isEmpty ? ["0.0.0.0:22", "[::]:22"] : listen
        for address in addresses {
            guard (try? ListenAddress(address)) != nil else { throw Failure.usage("--listen \"\(address)\": expected host:port or [v6]:port") }
        }
        if FileManager.default.fileExists(atPath: configPath) {
            throw Failure.refused("\(configPath) already exists; policyctl init never overwrites a config")
        }
        try makeDirectory(base, mode: 0o755)
        try makeDirectory(keysDir, mode: 0o700)
        try makeDirectory(socketRoot, mode: 0o755)
        var madeHostKey = false
        if !FileManager.default.fileExists(atPath: hostKey) {
            let status = runProgram("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "portcullis host key", "-f", hostKey])
            guard status == 0 else { throw Failure.refused("ssh-keygen could not write the host key \(hostKey) (exit \(status))") }
            madeHostKey = true
        }
        let text = Self.starter(listen: addresses, hostKey: hostKey, socketRoot: socketRoot, keysDir: keysDir)
        do {
            _ = try ConfigLoader.load(path: configPath, pending: PendingChanges(mainFile: Data(text.utf8)))
        } catch {
            throw Failure.refused("the starter config would be invalid: \(ConfigOption.summary(error))")
        }
        do { try AtomicFile.write(Data(text.utf8), to: configPath, mode: 0o600, replace: false) } catch { throw Failure.refused(error.description) }
        print("wrote \(configPath) (0600), keys directory \(keysDir) (0700)"
              + (madeHostKey ? ", host key \(hostKey) (0600)" : "; kept the existing host key \(hostKey)"))
    }

    private func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }

    private func makeDirectory(_ path: String, mode: mode_t) throws(Failure) {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw Failure.refused("\(path) exists and is not a directory") }
            return
        }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: Int(mode)])
        } catch {
            throw Failure.refused("cannot create \(path): \(error.localizedDescription)")
        }
    }

    static func starter(listen: [String], hostKey: String, socketRoot: String, keysDir: String) -> String {
        """
        # Portcullis configuration, written by `policyctl init` on \(Expiry.text(Date())).
        # Every forward is refused unless a rule of the key that authenticated grants it.
        #
        # policyctl never rewrites this file: `policyctl add-key` writes one file per key into
        # keys_dir. After editing by hand: `policyctl validate && policyctl reload`.

        listen: [\(listen.map(KeySpec.quoted).joined(separator: ", "))]   # where SSH is accepted
        host_keys: [\(KeySpec.quoted(hostKey))]
        socket_root: \(KeySpec.quoted(socketRoot))   # every Unix socket the daemon creates lies under it
        socket_mode: "0600"          # mode of created sockets
        gateway_ports: "no"          # as OpenSSH: "no" | "yes" | "clientspecified"
        keys_dir: \(KeySpec.quoted(keysDir))
        limits: {login_grace_time: 30s, max_auth_tries: 6}
        # limits may also set, for every key (a key entry may set its own): max_sessions (10),
        # max_listens (64), max_channels (256), idle_timeout (off); and client_alive_interval (15s),
        # client_alive_count_max (3): a client silent that long is asked, 3 unanswered asks end it.
        # control_socket: "/run/portcullis/control.sock"   # policyctl status/sessions/reload (the default)
        # metrics_listen: "127.0.0.1:9810"                 # Prometheus /metrics (off unless set)
        # user: portcullis     # started as root: drop to this account once the ports are bound (group: too)

        # Keys may also be written here by hand (policyctl reads them, never edits them), e.g.:
        # keys:
        #   - name: alex-laptop
        #     key: "ssh-ed25519 AAAA... alex@laptop"
        #     permit_streamlocal_listen: ["\(socketRoot)/%k/*.sock"]

        """
    }
}

/// Runs a program with the standard streams inherited and returns its exit status (127: could not start).
func runProgram(_ path: String, _ arguments: [String]) -> Int32 {
    let argv = ([path] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid: pid_t = 0
    guard posix_spawn(&pid, path, nil, nil, argv, environ) == 0 else { return 127 }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0, errno == EINTR {}
    return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
}
