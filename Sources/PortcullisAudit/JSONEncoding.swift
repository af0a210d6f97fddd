extension JSONValue {
    /// Compact JSON text: no spaces, members in order, non-ASCII kept as UTF-8, control
    /// characters, `"` and `\` escaped. Non-finite doubles, which JSON cannot express, become `null`.
    public var jsonText: String {
        var out: [UInt8] = []
        encode(into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    func encode(into out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let value): out.append(contentsOf: (value ? "true" : "false").utf8)
        case .int(let value): out.append(contentsOf: String(value).utf8)
        case .double(let value): out.append(contentsOf: (value.isFinite ? String(value) : "null").utf8)
        case .string(let value): JSONValue.encodeString(value, into: &out)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                element.encode(into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            JSONValue.encodeObject(members, into: &out)
        }
    }

    /// `{"k":v,...}` with the members in the order given.
    static func encodeObject(_ members: [JSONMember], into out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        for (index, member) in members.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            encodeString(member.key, into: &out)
            out.append(UInt8(ascii: ":"))
            member.value.encode(into: &out)
        }
        out.append(UInt8(ascii: "}"))
    }

    static func encodeString(_ text: String, into out: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            let escaped: UInt8? = switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): byte
            case 0x0A: UInt8(ascii: "n")
            case 0x0D: UInt8(ascii: "r")
            case 0x09: UInt8(ascii: "t")
            default: nil
            }
            if let escaped {
                out.append(UInt8(ascii: "\\"))
                out.append(escaped)
            } else if byte < 0x20 || byte == 0x7F {
                out.append(contentsOf: "\\u00".utf8)
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            } else {
                out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
