/// Bytes that came from outside (a file name on disk, a request on the wire), written so that a
/// person reads exactly what they were: valid UTF-8 stays as it is, and every byte that is not part
/// of valid UTF-8, every control character and the backslash are written `\xNN` (`\\`). Never
/// lossy: two different byte strings never read the same.
public func escapedBytes(_ bytes: some Collection<UInt8>) -> String {
    let bytes = Array(bytes)
    var out = ""
    var index = 0
    while index < bytes.count {
        let lead = bytes[index]
        let length = lead < 0x80 ? 1 : lead >> 5 == 0b110 ? 2 : lead >> 4 == 0b1110 ? 3 : lead >> 3 == 0b11110 ? 4 : 0
        if length > 0, index + length <= bytes.count,
           let text = String(validating: bytes[index..<index + length], as: UTF8.self),
           let scalar = text.unicodeScalars.first {
            if scalar.value < 0x20 || scalar.value == 0x7F {
                out += hexEscape(lead)
            } else if scalar == "\\" {
                out += "\\\\"
            } else {
                out.unicodeScalars.append(scalar)
            }
            index += length
        } else {
            out += hexEscape(lead)
            index += 1
        }
    }
    return out
}

private func hexEscape(_ byte: UInt8) -> String {
    let digits = Array("0123456789abcdef")
    return "\\x" + String(digits[Int(byte >> 4)]) + String(digits[Int(byte & 0xF)])
}
