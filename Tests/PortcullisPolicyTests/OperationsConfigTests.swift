import Testing
@testable import PortcullisPolicy

/// The config fields of the operations interfaces (control socket, metrics, client alive) and the
/// paths read relative to the config file.
@Suite struct OperationsConfigTests {
    let base = "host_keys: [/etc/portcullis/host]\nsocket_root: /srv/p\n"

    @Test func defaultsWhenNothingIsSaid() throws {
        let fixture = try Fixture(base)
        defer { fixture.directory.remove() }
        let config = try fixture.load()
        #expect(config.controlSocket == "/run/portcullis/control.sock")
        #expect(config.controlGroup == nil && config.metricsListen == nil && config.metricsPerKey == false)
        #expect(config.limits.clientAliveInterval == 15 && config.limits.clientAliveCountMax == 3)
    }

    @Test func valuesAreReadAndRelativePathsLieBesideTheConfig() throws {
        let fixture = try Fixture(base + """
            control_socket: run/control.sock
            control_group: portcullis
            metrics_listen: "[::1]:9810"
            metrics_per_key: true
            limits: {client_alive_interval: 1m, client_alive_count_max: 5}

            """)
        defer { fixture.directory.remove() }
        let config = try fixture.load()
        #expect(config.controlSocket == fixture.directory.path + "/run/control.sock")
        #expect(config.controlGroup == "portcullis")
        #expect(config.metricsListen == ListenAddress(host: "::1", port: 9810))
        #expect(config.metricsPerKey)
        #expect(config.limits.clientAliveInterval == 60 && config.limits.clientAliveCountMax == 5)
    }

    @Test func offSwitchesThemOff() throws {
        let fixture = try Fixture(base + "control_socket: \"off\"\nmetrics_listen: \"off\"\nlimits: {client_alive_interval: 0}\n")
        defer { fixture.directory.remove() }
        let config = try fixture.load()
        #expect(config.controlSocket == nil && config.metricsListen == nil && config.limits.clientAliveInterval == 0)
    }

    @Test func badValuesAreNamedWithTheirLine() {
        let problems = try? Fixture(base + """
            control_socket: "/run/x/"
            control_group: "a:b"
            metrics_listen: "localhost:9810"
            metrics_per_key: maybe
            limits: {client_alive_interval: soon, client_alive_count_max: 0}

            """).problems()
        #expect(problems?.sorted() == [
            "$DIR/portcullis.yaml:3: control_socket \"/run/x/\": expected a socket path or \"off\"",
            "$DIR/portcullis.yaml:4: control_group \"a:b\": expected a group name or number",
            "$DIR/portcullis.yaml:5: metrics_listen \"localhost:9810\": localhost is not a numeric address (like 127.0.0.1 or [::1])",
            "$DIR/portcullis.yaml:6: metrics_per_key \"maybe\": expected true or false",
            "$DIR/portcullis.yaml:7: limits.client_alive_count_max \"0\": expected a positive whole number",
            "$DIR/portcullis.yaml:7: limits.client_alive_interval \"soon\": expected a duration like 15s or 1m, or 0 (never ask)",
        ])
    }

    @Test func aRelativeHostKeyIsReadBesideTheConfig() throws {
        let fixture = try Fixture("host_keys: [keys/host]\nsocket_root: /srv/p\n")
        defer { fixture.directory.remove() }
        let config = try fixture.load()
        #expect(config.hostKeys == [fixture.directory.path + "/keys/host"])
    }

    @Test func theRootDirectoryIsNotASocketRoot() {
        #expect((try? Fixture("host_keys: [/h]\nsocket_root: /\n").problems()) == [
            "$DIR/portcullis.yaml:2: socket_root \"/\": is the root directory; name the directory the sockets live in, like /srv/tunnels",
        ])
    }
}
