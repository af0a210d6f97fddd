/// The port part of a TCP rule: one port, `*`, or (beyond OpenSSH) an inclusive range `8000-8099`.
public enum PortSpec: Sendable, Hashable, CustomStringConvertible {
    case any
    case single(Int)
    case range(ClosedRange<Int>)

    /// Parses a rule's port text; ports are 1-65535.
    public init(_ rawText: some StringProtocol) throws(PatternError) {
        let text = Substring(rawText)
        if text == "*" { self = .any; return }
        let bounds = text.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        func number(_ digits: Substring) throws(PatternError) -> Int {
            guard !digits.isEmpty, digits.count <= 5, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
                  let value = Int(digits), (1...65535).contains(value) else {
                throw PatternError("bad port \"\(digits)\" (expected 1-65535, *, or a range like 8000-8099)")
            }
            return value
        }
        if bounds.count == 1 {
            self = .single(try number(bounds[0]))
        } else {
            let low = try number(bounds[0]), high = try number(bounds[1])
            guard low <= high else { throw PatternError("empty port range \(text)") }
            self = low == high ? .single(low) : .range(low...high)
        }
    }

    /// Whether an explicitly requested (non-zero) port matches.
    public func matches(_ port: Int) -> Bool {
        switch self {
        case .any: true
        case .single(let value): value == port
        case .range(let range): range.contains(port)
        }
    }

    /// Ports a dynamic (port 0) listen may be given under this spec: `*` means any unprivileged
    /// port; a single port never matches port 0, as in OpenSSH.
    func dynamicRange(allowPrivileged: Bool) -> ClosedRange<Int>? {
        switch self {
        case .any: return 1024...65535
        case .single: return nil
        case .range(let range):
            let low = allowPrivileged ? range.lowerBound : max(range.lowerBound, 1024)
            return low <= range.upperBound ? low...range.upperBound : nil
        }
    }

    public var description: String {
        switch self {
        case .any: "*"
        case .single(let value): String(value)
        case .range(let range): "\(range.lowerBound)-\(range.upperBound)"
        }
    }
}
