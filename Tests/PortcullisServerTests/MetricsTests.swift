import Foundation
import PortcullisPolicy
import Testing
@testable import PortcullisServer
import PortcullisTestSupport

/// The metrics as text: events in, the Prometheus exposition out; and the HTTP responder's answers.
@Suite struct MetricsTests {
    private static let key = PublicKey(algorithm: "ssh-ed25519", base64: "AAAAalex", fingerprint: "SHA256:alex")
    private static let client = Endpoint(host: "127.0.0.1", port: 40000)
    private static let server = Endpoint(host: "127.0.0.1", port: 22)

    /// The value of the sample written `series` (name with labels), or nil.
    private func value(_ text: String, _ series: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    private func session(_ metrics: ServerMetrics, id: UInt64, key: String = "alex", at: UInt64 = 0, authAt: UInt64 = 20_000_000) {
        metrics.observe(.sessionOpened(session: id, client: Self.client, server: Self.server), now: at)
        metrics.observe(.authenticated(session: id, user: "u", key: Self.key, keyName: key), now: at + authAt)
    }

    @Test func textFormatEscapesAndSpellsValues() {
        let text = PrometheusText.render([
            MetricFamily(name: "x_total", help: "A \\ help\nline.", kind: .counter,
                         samples: [.init(labels: [("k", "a\"b\\c\nd")], value: 3)]),
            MetricFamily(name: "y", help: "Y.", kind: .gauge, samples: [.init(value: 0.25), .init(value: .infinity)]),
        ])
        #expect(text == """
            # HELP x_total A \\\\ help\\nline.
            # TYPE x_total counter
            x_total{k="a\\"b\\\\c\\nd"} 3
            # HELP y Y.
            # TYPE y gauge
            y 0.25
            y +Inf

            """)
    }

    @Test func histogramBucketsAreCumulative() {
        var histogram = Histogram(bounds: [0.1, 1])
        histogram.observe(0.05)
        histogram.observe(0.5)
        histogram.observe(7)
        let text = PrometheusText.render([MetricFamily(name: "h_seconds", help: "H.", kind: .histogram,
                                                       samples: histogram.samples())])
        #expect(text.contains("h_seconds_bucket{le=\"0.1\"} 1\n"))
        #expect(text.contains("h_seconds_bucket{le=\"1\"} 2\n"))
        #expect(text.contains("h_seconds_bucket{le=\"+Inf\"} 3\n"))
        #expect(text.contains("h_seconds_sum 7.55\n"))
        #expect(text.contains("h_seconds_count 3\n"))
    }

    @Test func eventsBecomeGaugesAndCounters() {
        let metrics = ServerMetrics(version: "0.1.0", libssh: "0.10.6")
        session(metrics, id: 1)
        session(metrics, id: 2)
        metrics.observe(.sessionOpened(session: 3, client: Self.client, server: Self.server))
        metrics.observe(.authRefused(session: 3, user: "u", key: nil, keyName: nil, reason: "no"))
        let open = ForwardRequest.tcpOpen(host: "127.0.0.1", port: 80)
        let listen = ForwardRequest.streamLocalListen(path: "/srv/a.sock")
        metrics.observe(.forwardRequested(session: 1, request: open, decision: .allow(rule: .at("t.yaml", 1, "r")), channel: 1))
        metrics.observe(.forwardRequested(session: 1, request: .tcpOpen(host: "10.0.0.1", port: 1), decision: .deny(reason: "no")))
        metrics.observe(.channelOpened(session: 1, channel: 1, request: open, originator: "x"))
        metrics.observe(.channelOpened(session: 2, channel: 1, request: open, originator: "x"))
        metrics.observe(.forwardRequested(session: 2, request: listen, decision: .allow(rule: .at("t.yaml", 1, "r"))))
        metrics.observe(.forwardBound(session: 2, request: listen, bound: "/srv/a.sock"))
        metrics.observe(.channelClosed(session: 1, channel: 1, request: open, bytesToClient: 1000, bytesFromClient: 24,
                                       duration: 1, reason: "closed"))
        metrics.connectionRefused(kind: "max-startups")
        metrics.reloaded(ok: false)
        metrics.auditWritten(seconds: 0.0003)
        var text = metrics.render()
        #expect(value(text, "portcullis_sessions") == 2)
        #expect(value(text, "portcullis_channels{kind=\"tcp-open\"}") == 1)
        #expect(value(text, "portcullis_forwards{kind=\"streamlocal-listen\"}") == 1)
        #expect(value(text, "portcullis_forwards{kind=\"tcp-listen\"}") == 0)
        #expect(value(text, "portcullis_auth_successes_total") == 2)
        #expect(value(text, "portcullis_auth_failures_total") == 1)
        #expect(value(text, "portcullis_decisions_total{kind=\"tcp-open\",outcome=\"allowed\"}") == 1)
        #expect(value(text, "portcullis_decisions_total{kind=\"tcp-open\",outcome=\"denied\"}") == 1)
        #expect(value(text, "portcullis_decisions_total{kind=\"streamlocal-listen\",outcome=\"allowed\"}") == 1)
        #expect(value(text, "portcullis_forwarded_bytes_total{direction=\"to_client\"}") == 1000)
        #expect(value(text, "portcullis_forwarded_bytes_total{direction=\"from_client\"}") == 24)
        #expect(value(text, "portcullis_connection_setup_seconds_bucket{le=\"0.025\"}") == 2)
        #expect(value(text, "portcullis_connection_setup_seconds_bucket{le=\"0.01\"}") == 0)
        #expect(value(text, "portcullis_connection_setup_seconds_count") == 2)
        #expect(value(text, "portcullis_connections_refused_total{reason=\"max-startups\"}") == 1)
        #expect(value(text, "portcullis_reloads_total{outcome=\"rejected\"}") == 1)
        #expect(value(text, "portcullis_reloads_total{outcome=\"ok\"}") == 0)
        #expect(value(text, "portcullis_audit_write_seconds_bucket{le=\"0.0005\"}") == 1)
        #expect(value(text, "portcullis_build_info{version=\"0.1.0\",libssh=\"0.10.6\"}") == 1)
        #expect(!text.contains("alex"))

        // A session ending takes its channels and listens with it; the unauthenticated one never counted.
        metrics.observe(.sessionClosed(session: 2, reason: "client disconnected", duration: 3, channels: 1,
                                       bytesToClient: 0, bytesFromClient: 0))
        metrics.observe(.sessionClosed(session: 3, reason: "x", duration: 3, channels: 0, bytesToClient: 0, bytesFromClient: 0))
        text = metrics.render()
        #expect(value(text, "portcullis_sessions") == 1)
        #expect(value(text, "portcullis_channels{kind=\"tcp-open\"}") == 0)
        #expect(value(text, "portcullis_forwards{kind=\"streamlocal-listen\"}") == 0)
    }

    @Test func perKeyLabelsOnlyWhenAskedFor() {
        let metrics = ServerMetrics(perKey: true, version: "0.1.0", libssh: "0.10.6")
        session(metrics, id: 1, key: "alex")
        session(metrics, id: 2, key: "bo")
        let open = ForwardRequest.tcpOpen(host: "127.0.0.1", port: 80)
        metrics.observe(.channelOpened(session: 2, channel: 1, request: open, originator: "x"))
        metrics.observe(.channelClosed(session: 2, channel: 1, request: open, bytesToClient: 5, bytesFromClient: 6,
                                       duration: 1, reason: "closed"))
        var text = metrics.render()
        #expect(value(text, "portcullis_sessions{key=\"alex\"}") == 1)
        #expect(value(text, "portcullis_sessions{key=\"bo\"}") == 1)
        #expect(value(text, "portcullis_forwarded_bytes_total{direction=\"to_client\",key=\"bo\"}") == 5)
        metrics.observe(.sessionClosed(session: 1, reason: "x", duration: 3, channels: 0, bytesToClient: 0, bytesFromClient: 0))
        text = metrics.render()
        #expect(value(text, "portcullis_sessions{key=\"alex\"}") == nil)
        #expect(value(text, "portcullis_sessions{key=\"bo\"}") == 1)
    }

    @Test func responderAnswersOnlyGetMetrics() throws {
        let endpoint = try MetricsEndpoint(host: "127.0.0.1", port: 0) { "m 1\n" }
        func answer(_ request: String) -> String? {
            endpoint.respond(to: Array(request.utf8)).map { String(decoding: $0, as: UTF8.self) }
        }
        let ok = try #require(answer("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"))
        #expect(ok.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(ok.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"))
        #expect(ok.hasSuffix("\r\n\r\nm 1\n"))
        #expect(answer("GET /metrics?x=1 HTTP/1.0\r\n\r\n")?.hasPrefix("HTTP/1.1 200 ") == true)
        #expect(answer("GET / HTTP/1.1\r\n\r\n")?.hasPrefix("HTTP/1.1 404 ") == true)
        #expect(answer("POST /metrics HTTP/1.1\r\n\r\n")?.hasPrefix("HTTP/1.1 405 ") == true)
        #expect(answer("hello\r\n\r\n")?.hasPrefix("HTTP/1.1 400 ") == true)
        #expect(answer("GET /metrics HTTP/1.1\r\nHost: x\r\n") == nil)
        let huge = "GET /metrics HTTP/1.1\r\nX: " + String(repeating: "a", count: 9000)
        #expect(answer(huge)?.hasPrefix("HTTP/1.1 431 ") == true)
    }

    @Test func responderServesSeveralScrapersAndDropsSlowOnes() throws {
        let endpoint = try MetricsEndpoint(host: "127.0.0.1", port: 0, timeout: 1) { "m 1\n" }
        endpoint.start()
        defer { endpoint.stop() }
        let port = try #require(endpoint.endpoints.first?.port)
        // A scraper that sends half a request and stalls does not hold up the others.
        let stalled = try TestSocket.connectTCP(port: port)
        defer { close(stalled) }
        _ = "GET /met".withCString { write(stalled, $0, 8) }
        for _ in 0..<3 {
            let fd = try TestSocket.connectTCP(port: port)
            defer { close(fd) }
            let request = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
            _ = request.withCString { write(fd, $0, strlen($0)) }
            let reply = String(decoding: try TestSocket.readToEnd(fd, seconds: 5), as: UTF8.self)
            #expect(reply.hasPrefix("HTTP/1.1 200 OK"))
            #expect(reply.hasSuffix("m 1\n"))
        }
        let started = Date()
        _ = try TestSocket.readToEnd(stalled, seconds: 5)
        #expect(Date().timeIntervalSince(started) < 3)
    }

    @Test func bindFailureNamesMetricsListen() throws {
        let first = try MetricsEndpoint(host: "127.0.0.1", port: 0) { "" }
        let port = try #require(first.endpoints.first?.port)
        #expect {
            _ = try MetricsEndpoint(host: "127.0.0.1", port: port) { "" }
        } throws: { error in
            "\(error)".contains("metrics_listen 127.0.0.1:\(port): cannot listen") && "\(error)".contains("in use")
        }
    }
}
