import Yams

extension ConfigLoader {
    /// The top-level fields of the operations interfaces: the control socket and the metrics endpoint.
    static let operationsFields = ["control_socket", "control_group", "metrics_listen", "metrics_per_key"]

    /// Reads `control_socket`, `control_group`, `metrics_listen` and `metrics_per_key`.
    static func readOperations(_ fields: [String: (key: Node, value: Node)], into config: inout PolicyConfig,
                               reader: inout NodeReader) {
        func scalar(_ name: String) -> (String, Node)? {
            guard let node = fields[name]?.value, !NodeReader.isNull(node),
                  let text = reader.string(node, field: name) else { return nil }
            return (text, node)
        }
        if let (text, node) = scalar("control_socket") {
            if text == "off" {
                config.controlSocket = nil
            } else if text.isEmpty || text.utf8.contains(0) || text.hasSuffix("/") {
                reader.report(node, "control_socket \(NodeReader.quoted(text)): expected a socket path or \"off\"")
            } else {
                config.controlSocket = text.hasPrefix("/") ? text : resolve(text, besides: reader.path)
            }
        }
        if let (text, node) = scalar("control_group") {
            if text.isEmpty || text.utf8.contains(0) || text.contains(":") || text.contains("/") {
                reader.report(node, "control_group \(NodeReader.quoted(text)): expected a group name or number")
            } else {
                config.controlGroup = text
            }
        }
        if let (text, node) = scalar("metrics_listen") {
            if text == "off" {
                config.metricsListen = nil
            } else {
                do throws(PatternError) {
                    let address = try ListenAddress(text)
                    guard IPAddress(address.host) != nil else {
                        throw PatternError("\(address.host) is not a numeric address (like 127.0.0.1 or [::1])")
                    }
                    config.metricsListen = address
                } catch {
                    reader.report(node, "metrics_listen \(NodeReader.quoted(text)): \(error.message)")
                }
            }
        }
        if let (text, node) = scalar("metrics_per_key") {
            if let flag = ConfigScalars.bool(text) { config.metricsPerKey = flag } else {
                reader.report(node, "metrics_per_key \(NodeReader.quoted(text)): expected true or false")
            }
        }
    }
}
