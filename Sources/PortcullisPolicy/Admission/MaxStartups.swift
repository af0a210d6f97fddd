/// OpenSSH's MaxStartups `start:rate:full`: with `start` or more unauthenticated connections, a
/// new one is refused with probability `rate`%, rising linearly to 100% at `full`; from `full`
/// on every new one is refused. A single number N means N:100:N.
public struct MaxStartups: Sendable, Hashable, CustomStringConvertible {
    public var start: Int
    public var rate: Int
    public var full: Int

    /// OpenSSH's default, 10:30:100.
    public static let standard = MaxStartups(start: 10, rate: 30, full: 100)

    public init(start: Int, rate: Int, full: Int) {
        self.start = start
        self.rate = rate
        self.full = full
    }

    /// Parses `start:rate:full` or a single number; nil with the reason when it is not valid
    /// (every number positive, rate at most 100, start at most full).
    public static func parse(_ text: String) -> Result<MaxStartups, PatternError> {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 1 || parts.count == 3 else {
            return .failure(PatternError("expected start:rate:full (like 10:30:100) or a single number"))
        }
        var numbers: [Int] = []
        for part in parts {
            guard !part.isEmpty, part.count <= 7, part.allSatisfy({ $0.isASCII && $0.isNumber }),
                  let value = Int(part), value > 0 else {
                return .failure(PatternError("\"\(part)\" is not a positive whole number; expected start:rate:full (like 10:30:100) or a single number"))
            }
            numbers.append(value)
        }
        if numbers.count == 1 { return .success(MaxStartups(start: numbers[0], rate: 100, full: numbers[0])) }
        guard numbers[1] <= 100 else { return .failure(PatternError("rate \(numbers[1]) is over 100 (percent)")) }
        guard numbers[0] <= numbers[2] else {
            return .failure(PatternError("start \(numbers[0]) is greater than full \(numbers[2])"))
        }
        return .success(MaxStartups(start: numbers[0], rate: numbers[1], full: numbers[2]))
    }

    /// The chance, in percent, that a new connection is refused while `count` unauthenticated
    /// connections are open.
    public func refusalPercent(unauthenticated count: Int) -> Int {
        if count < start { return 0 }
        if count >= full || rate >= 100 { return 100 }
        return rate + (100 - rate) * (count - start) / (full - start)
    }

    public var description: String { "\(start):\(rate):\(full)" }
}

/// OpenSSH's PerSourceNetBlockSize: how many leading bits of a client's address make its source,
/// for the per-source limits and penalties (32:128, the default: each address on its own).
public struct NetBlockSize: Sendable, Hashable, CustomStringConvertible {
    public var ipv4: Int
    public var ipv6: Int

    public static let standard = NetBlockSize(ipv4: 32, ipv6: 128)

    public init(ipv4: Int, ipv6: Int) {
        self.ipv4 = ipv4
        self.ipv6 = ipv6
    }

    /// Parses `V4` or `V4:V6` (OpenSSH's form), each a prefix length (0-32, 0-128).
    public static func parse(_ text: String) -> Result<NetBlockSize, PatternError> {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count <= 2 else { return .failure(PatternError("expected IPV4BITS or IPV4BITS:IPV6BITS, like 32:128")) }
        var lengths: [Int] = []
        for (index, part) in parts.enumerated() {
            let maximum = index == 0 ? 32 : 128
            guard !part.isEmpty, part.count <= 3, part.allSatisfy({ $0.isASCII && $0.isNumber }),
                  let value = Int(part), value <= maximum else {
                return .failure(PatternError("\"\(part)\" is not a prefix length 0-\(maximum); expected IPV4BITS:IPV6BITS, like 32:128"))
            }
            lengths.append(value)
        }
        return .success(NetBlockSize(ipv4: lengths[0], ipv6: lengths.count == 2 ? lengths[1] : 128))
    }

    public var description: String { "\(ipv4):\(ipv6)" }
}
