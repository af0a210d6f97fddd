import ArgumentParser

/// `policyctl cluster`: what the cluster's etcd says of its members and their tunnels.
struct Cluster: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Show the cluster as etcd holds it: members (status) and the listens they claim (tunnels).",
        discussion: """
            Reads the etcd named by the cluster: section of the config (its endpoints and prefix); \
            nothing is written. A member's record and its claims live under its lease: when a \
            proxy dies they vanish once the lease expires.

            Example:
              policyctl cluster status
              policyctl cluster tunnels --json

            Exit status: 0 shown; 1 etcd did not answer within --timeout, or a record is not what \
            its key says (named on stderr); 2 usage error, a config without cluster:.
            """,
        subcommands: [ClusterStatus.self, ClusterTunnels.self],
        defaultSubcommand: ClusterStatus.self
    )
}
