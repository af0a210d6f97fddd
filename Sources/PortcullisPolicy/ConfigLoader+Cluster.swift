import Yams

extension ConfigLoader {
    /// The top-level fields of cluster mode.
    static let clusterFields = ["proxy_id", "cluster"]
    /// The fields of the `cluster` mapping.
    static let clusterMappingFields = ["etcd", "prefix", "lease_ttl", "advertise", "snapshot", "tls_cert", "tls_key", "tls_ca"]

    /// Reads `proxy_id` (default: the host name) and the `cluster` mapping. With `cluster`, the
    /// file's `keys` and `keys_dir` are refused: etcd is the one source of key entries.
    static func readCluster(_ fields: [String: (key: Node, value: Node)], into config: inout PolicyConfig,
                            reader: inout NodeReader, root: Node) {
        func value(_ name: String) -> Node? {
            guard let node = fields[name]?.value, !NodeReader.isNull(node) else { return nil }
            return node
        }
        if let node = value("proxy_id"), let text = reader.string(node, field: "proxy_id") {
            if let problem = ProxyID.problem(text) {
                reader.report(node, "proxy_id \(NodeReader.quoted(text)): \(problem)")
            } else {
                config.proxyID = text
            }
        } else if value("proxy_id") == nil, let problem = ProxyID.problem(config.proxyID) {
            reader.report(root, "proxy_id is not set and the host name \(NodeReader.quoted(config.proxyID)) "
                          + "cannot be used instead (\(problem)): set proxy_id")
        }
        guard let node = value("cluster") else { return }
        config.cluster = readClusterMapping(node, reader: &reader)
        for name in ["keys", "keys_dir"] {
            if let entry = fields[name], !NodeReader.isNull(entry.value) {
                reader.report(entry.key, "\(name): not allowed with cluster: (key entries live in etcd under "
                              + "\(config.cluster?.prefix ?? ClusterSettings.defaultPrefix)keys/; add them with policyctl add-key)")
            }
        }
    }

    private static func readClusterMapping(_ node: Node, reader: inout NodeReader) -> ClusterSettings? {
        guard let fields = reader.fields(of: node, known: clusterMappingFields, what: "cluster") else { return nil }
        func scalar(_ name: String) -> (String, Node)? {
            guard let node = fields[name]?.value, !NodeReader.isNull(node),
                  let text = reader.string(node, field: "cluster.\(name)") else { return nil }
            return (text, node)
        }
        var settings = ClusterSettings(etcd: [])
        var valid = true
        if let list = fields["etcd"]?.value, !NodeReader.isNull(list) {
            let before = reader.problems.count
            settings.etcd = reader.list(list, field: "cluster.etcd") { text, _ throws(PatternError) in try etcdEndpoint(text) }
            if reader.problems.count > before { valid = false } else if settings.etcd.isEmpty {
                reader.report(list, "cluster.etcd: expected at least one endpoint (http://HOST:PORT or https://HOST:PORT)")
                valid = false
            }
        } else {
            reader.report(fields["etcd"]?.key ?? node, "cluster: missing required field \"etcd\" (the etcd endpoints, e.g. [\"http://127.0.0.1:2379\"])")
            valid = false
        }
        let etcdValid = valid
        if let (text, node) = scalar("prefix") {
            if let problem = prefixProblem(text) {
                reader.report(node, "cluster.prefix \(NodeReader.quoted(text)): \(problem)")
                valid = false
            } else {
                settings.prefix = text
            }
        }
        if let (text, node) = scalar("lease_ttl") {
            if let seconds = ConfigScalars.duration(text), ClusterSettings.leaseTTLRange.contains(seconds) {
                settings.leaseTTL = seconds
            } else {
                reader.report(node, "cluster.lease_ttl \(NodeReader.quoted(text)): expected a duration from 2s to 1h, like \"10s\"")
                valid = false
            }
        }
        if let (text, node) = scalar("advertise") {
            if let problem = advertiseProblem(text) {
                reader.report(node, "cluster.advertise \(NodeReader.quoted(text)): \(problem)")
                valid = false
            } else {
                settings.advertise = text
            }
        }
        if let (text, node) = scalar("snapshot") {
            if text.isEmpty || text.utf8.contains(0) || text.hasSuffix("/") {
                reader.report(node, "cluster.snapshot \(NodeReader.quoted(text)): expected a file path")
                valid = false
            } else {
                settings.snapshot = text.hasPrefix("/") ? text : resolve(text, besides: reader.path)
            }
        }
        if !readTLS(fields, etcd: etcdValid ? settings.etcd : [], into: &settings, reader: &reader) { valid = false }
        return valid ? settings : nil
    }

    /// `http://HOST:PORT` or `https://HOST:PORT`, an IPv6 host in brackets; anything else names what is wrong.
    static func etcdEndpoint(_ text: String) throws(PatternError) -> ClusterSettings.Endpoint {
        guard let scheme = [ClusterSettings.Endpoint.Scheme.https, .http].first(where: { text.hasPrefix("\($0.rawValue)://") }) else {
            throw PatternError("expected http://HOST:PORT or https://HOST:PORT")
        }
        var rest = String(text.dropFirst(scheme.rawValue.count + 3))
        if rest.hasSuffix("/") { rest.removeLast() }
        guard let (host, portText) = HostPort.split(rest, portOptional: false), let host, !host.isEmpty,
              !host.contains("/"), !host.contains("@") else {
            throw PatternError("expected \(scheme.rawValue)://HOST:PORT (an IPv6 host in brackets)")
        }
        guard portText.allSatisfy({ $0.isASCII && $0.isNumber }), let port = UInt16(portText), port > 0 else {
            throw PatternError("port must be 1-65535")
        }
        return ClusterSettings.Endpoint(scheme: scheme, host: host, port: port)
    }

    /// Why `text` cannot be the key prefix; nil if it can.
    static func prefixProblem(_ text: String) -> String? {
        guard text.hasPrefix("/"), text.hasSuffix("/") else { return "expected a path that starts and ends with /, like /portcullis/" }
        guard !text.contains("//") || text == "/" else { return "empty path segment (//)" }
        guard text.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else { return "only printable ASCII without spaces is allowed" }
        return nil
    }

    /// Why `text` cannot be an advertise address; nil if it can.
    static func advertiseProblem(_ text: String) -> String? {
        guard let (host, portText) = HostPort.split(text, portOptional: false), let host, !host.isEmpty,
              host.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "/") }) else {
            return "expected HOST:PORT (an IPv6 host in brackets)"
        }
        guard portText.allSatisfy({ $0.isASCII && $0.isNumber }), let port = UInt16(portText), port > 0 else {
            return "port must be 1-65535"
        }
        return nil
    }
}
