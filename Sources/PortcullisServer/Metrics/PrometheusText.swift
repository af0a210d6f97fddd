/// One metric family as the Prometheus text format (version 0.0.4) writes it.
public struct MetricFamily: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case counter, gauge, histogram
    }

    /// One line: the family's name with `suffix` (`_bucket`, `_sum`, `_count` or nothing).
    public struct Sample: Sendable, Equatable {
        public var suffix = ""
        public var labels: [(name: String, value: String)]
        public var value: Double

        public init(suffix: String = "", labels: [(name: String, value: String)] = [], value: Double) {
            self.suffix = suffix
            self.labels = labels
            self.value = value
        }

        public static func == (a: Sample, b: Sample) -> Bool {
            a.suffix == b.suffix && a.value == b.value && a.labels.elementsEqual(b.labels) { $0 == $1 }
        }
    }

    public var name: String
    public var help: String
    public var kind: Kind
    public var samples: [Sample]

    public init(name: String, help: String, kind: Kind, samples: [Sample]) {
        self.name = name
        self.help = help
        self.kind = kind
        self.samples = samples
    }
}

/// Writes metric families in the Prometheus text exposition format.
public enum PrometheusText {
    /// The Content-Type of the format.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    public static func render(_ families: [MetricFamily]) -> String {
        var out = ""
        for family in families {
            out += "# HELP \(family.name) \(escapeHelp(family.help))\n"
            out += "# TYPE \(family.name) \(family.kind.rawValue)\n"
            for sample in family.samples {
                out += family.name + sample.suffix
                if !sample.labels.isEmpty {
                    out += "{"
                    out += sample.labels.map { "\($0.name)=\"\(escapeLabel($0.value))\"" }.joined(separator: ",")
                    out += "}"
                }
                out += " " + format(sample.value) + "\n"
            }
        }
        return out
    }

    /// A value as the format spells it: integers without a fraction, `+Inf`, `-Inf`, `NaN`.
    public static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }

    /// A label value: backslash, double quote and line feed escaped.
    static func escapeLabel(_ text: String) -> String {
        var out = ""
        for character in text.unicodeScalars {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(character)
            }
        }
        return out
    }

    /// A HELP text: backslash and line feed escaped.
    static func escapeHelp(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
    }
}

/// Observations counted into fixed buckets, as a Prometheus histogram.
public struct Histogram: Sendable, Equatable {
    /// The buckets' upper bounds, ascending (`+Inf` is implied).
    public let bounds: [Double]
    /// Observations per bucket (not cumulative), the last for `+Inf`.
    private(set) var counts: [UInt64]
    public private(set) var sum: Double = 0
    public private(set) var count: UInt64 = 0

    public init(bounds: [Double]) {
        self.bounds = bounds
        counts = Array(repeating: 0, count: bounds.count + 1)
    }

    public mutating func observe(_ value: Double) {
        let index = bounds.firstIndex { value <= $0 } ?? bounds.count
        counts[index] += 1
        sum += value
        count += 1
    }

    /// The `_bucket` (cumulative, with `le`), `_sum` and `_count` samples.
    public func samples(labels: [(name: String, value: String)] = []) -> [MetricFamily.Sample] {
        var samples: [MetricFamily.Sample] = []
        var cumulative: UInt64 = 0
        for (index, bound) in (bounds + [.infinity]).enumerated() {
            cumulative += counts[index]
            samples.append(.init(suffix: "_bucket", labels: labels + [("le", PrometheusText.format(bound))],
                                 value: Double(cumulative)))
        }
        samples.append(.init(suffix: "_sum", labels: labels, value: sum))
        samples.append(.init(suffix: "_count", labels: labels, value: Double(count)))
        return samples
    }
}
