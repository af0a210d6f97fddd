/// Bytes that came from outside (a file name on disk, a request on the wire), written so that a
/// person reads exactly what they were: valid UTF-8 stays as it is, and every byte that is not part
/// of valid UTF-8 and every control character (C0, DEL, C1) is written `\xNN`, a backslash `\\` and a double
/// quote `\"` (so the result can stand between quotes). Never lossy: two different byte strings
/// never read the same, and U+FFFD never stands for a byte.
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
            if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) {
                bytes[index..<index + length].forEach { out += hexEscape($0) }
            } else if scalar == "\\" || scalar == "\"" {
                out += "\\" + String(scalar)
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
