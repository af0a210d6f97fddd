// policy-bench: the policy engine at a big proxy's scale. Writes a config of --keys keys with 20
// rules each, then measures what the daemon does with it: loading it (ConfigLoader + Policy, as
// at start and on every reload), and deciding requests (the key lookup and the decision a session
// makes for each listen or open), per decision. Prints one JSON object; Benchmarks/run reads it.
//
//   policy-bench [--keys 10000] [--decisions 200000] [--loads 5]
//   policy-bench --write-config FILE [--keys 10000] [--host-key PATH] [--socket-root DIR]   # only write it
import Foundation
import PortcullisPolicy

var keys = 10_000, decisions = 200_000, loads = 5
var writeConfig: String?, hostKeyPath: String?, socketRoot: String?
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    if ["--write-config", "--host-key", "--socket-root"].contains(argument) {
        guard let path = arguments.popFirst() else { exit(2) }
        switch argument {
        case "--write-config": writeConfig = path
        case "--host-key": hostKeyPath = path
        default: socketRoot = path
        }
        continue
    }
    guard let value = arguments.popFirst().flatMap(Int.init), value > 0 else {
        FileHandle.standardError.write(Data("usage: policy-bench [--keys N] [--decisions N] [--loads N]\n".utf8))
        exit(2)
    }
    switch argument {
    case "--keys": keys = value
    case "--decisions": decisions = value
    case "--loads": loads = value
    default: exit(2)
    }
}

var generator = LargeConfig(keys: keys)
if let socketRoot { generator.socketRoot = socketRoot }
if let writeConfig {
    try generator.yaml(hostKey: hostKeyPath ?? "/nonexistent").write(toFile: writeConfig, atomically: true, encoding: .utf8)
    exit(0)
}
let directory = FileManager.default.temporaryDirectory.appendingPathComponent("policy-bench-\(getpid())").path
try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: directory) }
let configPath = directory + "/portcullis.yaml"
try generator.yaml(hostKey: directory + "/host_key").write(toFile: configPath, atomically: true, encoding: .utf8)
let configBytes = (try? FileManager.default.attributesOfItem(atPath: configPath)[.size] as? Int) ?? 0

// Loading: what start and every reload do before the new rules take over.
var loadTimes: [Double] = []
var policy: Policy?
for _ in 0..<loads {
    let start = ContinuousClock.now
    let config = try ConfigLoader.load(path: configPath)
    policy = Policy(config: config)
    loadTimes.append((ContinuousClock.now - start).seconds)
}
guard let policy, policy.config.keys.count == keys else { fatalError("the generated config did not load whole") }

// Deciding: the session's path for one request (PolicyAuthority's), key lookup included.
let publicKeys = (0..<keys).map { try! PublicKey(line: generator.keyLine($0)) }
let users = (0..<7).map { "user\($0)" }
var random = SystemRandomNumberGenerator()
var times: [Double] = []
times.reserveCapacity(decisions)
var byKind: [String: [Double]] = [:]
var allowed = 0
for n in 0..<decisions {
    let index = Int.random(in: 0..<keys, using: &random)
    let request = generator.request(key: index, pick: n)
    let user = users[index % users.count]
    let start = ContinuousClock.now
    let decision = policy.decide(request, forKey: publicKeys[index], user: user)!
    let elapsed = (ContinuousClock.now - start).seconds
    times.append(elapsed)
    byKind["\(request.kind) \(decision.isAllowed ? "allow" : "deny")", default: []].append(elapsed)
    if decision.isAllowed { allowed += 1 }
}
let decide = Percentiles(times), load = Percentiles(loadTimes)
print("""
    {"keys":\(keys),"rules_per_key":20,"config_bytes":\(configBytes),"loads":\(loads),\
    "load_seconds_median":\(load(50)),"load_seconds_max":\(load(100)),\
    "decisions":\(decisions),"allowed":\(allowed),\
    "decision_us_p50":\(decide(50) * 1e6),"decision_us_p99":\(decide(99) * 1e6),"decision_us_max":\(decide(100) * 1e6),\
    "by_kind":{\(byKind.keys.sorted().map { kind in
        let p = Percentiles(byKind[kind]!)
        return "\"\(kind)\":{\"p50_us\":\(p(50) * 1e6),\"p99_us\":\(p(99) * 1e6)}"
    }.joined(separator: ","))}}
    """)
