import PortcullisPolicy

extension SessionWorker {
    /// Claims `request` for this session (`configuration.listenClaims`): in cluster mode the
    /// tunnel registry, so that no other session on any proxy serves the same listen.
    func claimListen(_ request: ForwardRequest, port: Int?) -> ListenClaimDecision {
        configuration.listenClaims.claim(request, port: port, session: id, key: rules?.keyName ?? "")
    }
}

extension ForwardRequest {
    /// A TCP listen of port 0: its port is the server's choice, so it is claimed once bound.
    var isDynamicTCPListen: Bool {
        if case .tcpListen(_, 0) = self { return true }
        return false
    }
}
