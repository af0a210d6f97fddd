/// A JSON value built at run time, for output whose members come from a table (`KeyField.View`).
public indirect enum OutputJSON: Sendable, Hashable, Encodable {
    case string(String)
    case int(Int)
    case bool(Bool)
    case null
    case array([OutputJSON])
    /// Members in order (an encoder with `.sortedKeys` sorts them).
    case object([Member])

    public struct Member: Sendable, Hashable {
        public var name: String
        public var value: OutputJSON
        public init(_ name: String, _ value: OutputJSON) {
            self.name = name
            self.value = value
        }
    }

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ name: String) { stringValue = name }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public func encode(to encoder: Encoder) throws {
        switch self {
        case .string(let text):
            var container = encoder.singleValueContainer()
            try container.encode(text)
        case .int(let number):
            var container = encoder.singleValueContainer()
            try container.encode(number)
        case .bool(let flag):
            var container = encoder.singleValueContainer()
            try container.encode(flag)
        case .null:
            var container = encoder.singleValueContainer()
            try container.encodeNil()
        case .array(let items):
            var container = encoder.unkeyedContainer()
            for item in items { try container.encode(item) }
        case .object(let members):
            try Self.encode(members, to: encoder)
        }
    }

    /// Encodes `members` as the members of a JSON object (also for a type that adds its own).
    public static func encode(_ members: [Member], to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        for member in members { try container.encode(member.value, forKey: Key(member.name)) }
    }
}
