import PortcullisCluster
import PortcullisPolicy

extension ClusterSettings {
    /// The etcd client's endpoints for these settings: each https one with the TLS files.
    public var etcdEndpoints: [EtcdEndpoint] {
        let files = tls.map { EtcdTLS(caFile: $0.caFile, certFile: $0.client?.certFile, keyFile: $0.client?.keyFile) }
        return etcd.map { EtcdEndpoint(host: $0.host, port: $0.port, tls: $0.scheme == .https ? files : nil) }
    }
}
