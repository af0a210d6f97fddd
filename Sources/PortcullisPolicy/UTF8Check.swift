/// Where a config file's bytes stop being UTF-8.
enum UTF8Check {
    /// The first byte that is not part of a well-formed UTF-8 sequence: its line and column
    /// (1-based, counted in characters) and value; nil if every byte is well formed.
    static func firstInvalid(_ bytes: [UInt8]) -> (line: Int, column: Int, byte: UInt8)? {
        // The standard library's validation is fast; the walk below only locates what it refused.
        if String(validating: bytes, as: UTF8.self) != nil { return nil }
        var line = 1
        var lineStart = 0
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte < 0x80 {
                if byte == 0x0A {
                    line += 1
                    lineStart = index + 1
                }
                index += 1
                continue
            }
            let length = sequenceLength(bytes, at: index)
            guard length > 0 else {
                // The bytes before it on its line are well formed: count their characters.
                let column = bytes[lineStart..<index].reduce(1) { $0 + ($1 & 0xC0 == 0x80 ? 0 : 1) }
                return (line, column, byte)
            }
            index += length
        }
        return nil
    }

    /// The length of the well-formed sequence starting at `index` (RFC 3629: no overlong forms, no
    /// surrogates, nothing past U+10FFFF), or 0.
    private static func sequenceLength(_ bytes: [UInt8], at index: Int) -> Int {
        let first = bytes[index]
        let length: Int
        var low: UInt8 = 0x80, high: UInt8 = 0xBF
        switch first {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; high = 0x9F
        case 0xF0: length = 4; low = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; high = 0x8F
        default: return 0
        }
        guard index + length <= bytes.count else { return 0 }
        for offset in 1..<length {
            let next = bytes[index + offset]
            let (min, max) = offset == 1 ? (low, high) : (UInt8(0x80), UInt8(0xBF))
            guard next >= min && next <= max else { return 0 }
        }
        return length
    }
}
