// libFuzzer harness: host and address patterns (IPAddress, IPNetwork, AddressPattern and
// AddressMatch, HostPort, ListenAddress, PortSpec, ListenRule, OpenRule).
// Input: pattern \n address \n rule text; each parser gets the lines it is for.
// Properties: whatever parses prints back to text that parses to the same value (addresses,
// networks, listen addresses, port specs); an address's text is canonical; a network contains
// its own address; an address pattern matches the address it was written as (network) or its
// glob filled in (when that is an address's canonical text), and AddressMatch gives OpenSSH's
// from= answer (a negated match refuses, otherwise the first positive match grants); a port is
// 1-65535 (0-65535 for a listen address) written in ASCII digits, never wrapped; HostPort's parts
// put back together give the text.
import FuzzSupport
@testable import PortcullisPolicy

private func checkAddress(_ address: IPAddress, _ what: String) {
    let text = address.description
    require(address.bytes.count == 4 || address.bytes.count == 16, "\(what): \(address.bytes.count) bytes")
    require(IPAddress(text) == address, "\(what): \(shown(text)) does not parse back")
    require(IPAddress(text)?.description == text, "\(what): \(shown(text)) is not canonical")
}

private func instance(ofGlob text: String) -> String {
    String(String.UnicodeScalarView(text.unicodeScalars.map { $0 == "*" || $0 == "?" ? "1" : $0 }))
}

private func checkPatterns(_ patternText: String, _ addressText: String) {
    if let address = IPAddress(patternText) { checkAddress(address, "address \(shown(patternText))") }
    if let client = IPAddress(addressText, lenient: true) { checkAddress(client, "client \(shown(addressText))") }
    if case .success(let network) = IPNetwork.parse(patternText) {
        require(network.contains(network.address), "\(network) lacks its own address")
        require((try? IPNetwork.parse(network.description).get()) == network, "\(network) does not parse back")
        require(network.prefixLength >= 0 && network.prefixLength <= network.address.bytes.count * 8, "\(network)")
    }
    guard let pattern = try? AddressPattern(patternText) else { return }
    require(pattern.negated == patternText.hasPrefix("!"), "negation of \(shown(patternText))")
    let single = AddressMatch([pattern])
    let expectedOwn: AddressMatch.Outcome = pattern.negated ? .excluded(pattern) : .matched(pattern)
    switch pattern.kind {
    case .network(let network):
        require(single.evaluate(network.address.description) == expectedOwn, "\(shown(patternText)) misses \(network.address)")
    case .glob:
        let own = instance(ofGlob: pattern.negated ? String(patternText.dropFirst()) : patternText)
        if IPAddress(own)?.description == own {
            require(single.evaluate(own) == expectedOwn, "\(shown(patternText)) misses \(shown(own))")
        }
    }
    // OpenSSH from= semantics over the pattern and its negation.
    let both = AddressMatch([pattern] + ((try? AddressPattern("!" + patternText)).map { [$0] } ?? []))
    let outcome = both.evaluate(addressText)
    guard let client = IPAddress(addressText, lenient: true) else {
        require(outcome == .unmatched, "\(shown(addressText)) is no address but got \(outcome)")
        return
    }
    let negatedHit = both.patterns.first { $0.negated && $0.matches(client) }
    let positiveHit = both.patterns.first { !$0.negated && $0.matches(client) }
    let expected: AddressMatch.Outcome = negatedHit.map(AddressMatch.Outcome.excluded)
        ?? positiveHit.map(AddressMatch.Outcome.matched) ?? .unmatched
    require(outcome == expected, "\(both) on \(shown(addressText)): \(outcome), expected \(expected)")
}

private func isPortText(_ text: Substring) -> Bool {
    !text.isEmpty && text.count <= 5 && text.unicodeScalars.allSatisfy { ("0"..."9").contains($0) }
}

private func checkRules(_ text: String) {
    for portOptional in [false, true] {
        guard let (host, port) = HostPort.split(text, portOptional: portOptional) else { continue }
        let rebuilt = host.map { $0.utf8.contains(UInt8(ascii: ":")) || text.hasPrefix("[") ? "[\($0)]:\(port)" : "\($0):\(port)" } ?? String(port)
        require(rebuilt == text, "HostPort split \(shown(text)) into \(host.map(shown) ?? "nil") and \(shown(String(port)))")
        require(host != nil || portOptional, "no host without portOptional")
    }
    if let listen = try? ListenAddress(text) {
        require((0...65535).contains(listen.port) && !listen.host.isEmpty, "listen \(listen)")
        require((try? ListenAddress(listen.description)) == listen, "\(listen) does not parse back")
    }
    if let spec = try? PortSpec(text) {
        switch spec {
        case .any: require(text == "*", "\(shown(text)) became *")
        case .single(let port):
            // One port, or a range of one ("99-99"), each bound in ASCII digits.
            let bounds = text.split(separator: "-", omittingEmptySubsequences: false)
            require((1...65535).contains(port) && bounds.count <= 2
                    && bounds.allSatisfy { isPortText($0) && Int($0) == port }, "\(shown(text)) became \(port)")
            require(spec.matches(port) && !spec.matches(port + 1) && !spec.matches(port - 1), "\(spec) matching")
        case .range(let range):
            require(range.lowerBound >= 1 && range.upperBound <= 65535 && range.lowerBound < range.upperBound, "\(spec)")
            require(spec.matches(range.lowerBound) && spec.matches(range.upperBound)
                    && !spec.matches(range.lowerBound - 1) && !spec.matches(range.upperBound + 1), "\(spec) matching")
        }
        require((try? PortSpec(spec.description)) == spec, "\(spec) does not parse back")
    }
    let here = SourceLocation(file: "fuzz.yaml", line: 1)
    if let rule = try? ListenRule(text, location: here) {
        // An empty host only as OpenSSH's ":PORT" (what ssh -R :PORT and -R '*:PORT' send).
        require(rule.text == text && rule.host.map { !$0.isEmpty || text.hasPrefix(":") } ?? true, "listen rule \(rule)")
    }
    if let rule = try? OpenRule(text, location: here) {
        require(rule.text == text, "open rule \(rule)")
        if case .exact(let host) = rule.host {
            // Compared exactly, as OpenSSH compares: the host as written, never case-folded.
            require(!host.isEmpty && !host.contains(where: { "*?/".contains($0) })
                    && (text.hasPrefix(host + ":") || text.hasPrefix("[" + host + "]:")), "open host \(shown(host))")
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAddressPatterns(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let f = fields(data, size, count: 3)
    checkPatterns(f[0], f[1])
    checkRules(f[2])
    // A number on the wire or in a file is a port only if it is 1-65535, whatever its width.
    if let data, size >= 4 {
        let number = UInt32(data[0]) << 24 | UInt32(data[1]) << 16 | UInt32(data[2]) << 8 | UInt32(data[3])
        let spec = try? PortSpec(String(number))
        require((spec != nil) == (1...65535).contains(number), "port \(number) gave \(spec.map(\.description) ?? "an error")")
        if let spec { require(spec == .single(Int(number)), "port \(number) became \(spec)") }
    }
    return 0
}

@_cdecl("fuzz_address_patterns_main")
public func fuzzAddressPatternsMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runLibFuzzer(argc, argv, fuzzAddressPatterns)
}
