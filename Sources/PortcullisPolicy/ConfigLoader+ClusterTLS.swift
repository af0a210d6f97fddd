import Foundation
import Yams

extension ConfigLoader {
    /// Reads `tls_ca`, `tls_cert` and `tls_key` against the endpoints' scheme: https endpoints need
    /// `tls_ca`; `tls_cert` and `tls_key` come together or not at all; http endpoints take none of
    /// them; http and https are not mixed (`etcd` empty: the endpoints had problems of their own,
    /// so only the files are checked). Paths are relative to the config file; each must be a
    /// readable file. False if anything was reported.
    static func readTLS(_ fields: [String: (key: Node, value: Node)], etcd: [ClusterSettings.Endpoint],
                        into settings: inout ClusterSettings, reader: inout NodeReader) -> Bool {
        var valid = true
        var files: [String: String] = [:]
        for name in ["tls_ca", "tls_cert", "tls_key"] {
            guard let entry = fields[name], !NodeReader.isNull(entry.value) else { continue }
            guard let text = reader.string(entry.value, field: "cluster.\(name)") else { valid = false; continue }
            guard !text.isEmpty, !text.utf8.contains(0), !text.hasSuffix("/") else {
                reader.report(entry.value, "cluster.\(name) \(NodeReader.quoted(text)): expected a file path")
                valid = false
                continue
            }
            let path = text.hasPrefix("/") ? text : resolve(text, besides: reader.path)
            if let problem = readableFileProblem(path) {
                reader.report(entry.value, "cluster.\(name) \(NodeReader.quoted(text)): \(problem)")
                valid = false
                continue
            }
            files[name] = path
        }
        let schemes = Set(etcd.map(\.scheme))
        if schemes.count > 1 {
            reader.report(fields["etcd"]?.value ?? fields["etcd"]!.key,
                          "cluster.etcd: http:// and https:// endpoints mixed; use https:// for all of them")
            return false
        }
        let here = fields["etcd"]?.key
        if schemes == [.http] {
            for name in ["tls_ca", "tls_cert", "tls_key"] {
                if let entry = fields[name], !NodeReader.isNull(entry.value) {
                    reader.report(entry.key, "cluster.\(name): only with https:// etcd endpoints (these are http://)")
                    valid = false
                }
            }
            return valid
        }
        guard schemes == [.https] else { return valid }
        let certNode = fields["tls_cert"].flatMap { NodeReader.isNull($0.value) ? nil : $0.key }
        let keyNode = fields["tls_key"].flatMap { NodeReader.isNull($0.value) ? nil : $0.key }
        if fields["tls_ca"].map({ NodeReader.isNull($0.value) }) ?? true, let here {
            reader.report(here, "cluster.etcd: https:// endpoints need cluster.tls_ca (the CA certificate that "
                          + "signed etcd's server certificate)")
            valid = false
        }
        if let certNode, keyNode == nil {
            reader.report(certNode, "cluster.tls_cert: needs cluster.tls_key (the client certificate's private key)")
            valid = false
        } else if let keyNode, certNode == nil {
            reader.report(keyNode, "cluster.tls_key: needs cluster.tls_cert (the client certificate)")
            valid = false
        }
        guard valid, let ca = files["tls_ca"] else { return false }
        var client: ClusterSettings.TLS.ClientCertificate?
        if let cert = files["tls_cert"], let key = files["tls_key"] {
            client = .init(certFile: cert, keyFile: key)
        }
        settings.tls = ClusterSettings.TLS(caFile: ca, client: client)
        return true
    }

    /// Why `path` cannot be read as a file; nil if it can.
    static func readableFileProblem(_ path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else { return "cannot read \(path): \(String(cString: strerror(errno)))" }
        guard info.st_mode & S_IFMT == S_IFREG else { return "\(path) is not a regular file" }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return "cannot read \(path): \(String(cString: strerror(errno)))" }
        close(fd)
        return nil
    }
}
