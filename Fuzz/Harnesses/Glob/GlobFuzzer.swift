// libFuzzer harness: wildcard globs (Glob), with and without case folding and placeholders.
// Input: pattern \n subject \n key name \n user name.
// Properties, for each of the four modes: the glob compiles exactly when its `%` escapes are
// valid (placeholder mode) or always; it matches exactly when a slow reference matcher says so
// (`*` any run, `?` one character, ASCII-only case folding of the pattern's literals, placeholder
// values literal and never folded); it matches its own text with wildcards and placeholders
// filled in; a glob without wildcards matches its own text and not that text plus a character.
import FuzzSupport
@testable import PortcullisPolicy

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGlob(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let f = fields(data, size, count: 4)
    let (patternText, subject, key, user) = (f[0], f[1], f[2], f[3])
    for placeholders in [false, true] {
        let reference = Reference.pieces(patternText, placeholders: placeholders)
        for caseInsensitive in [false, true] {
            let glob: Glob
            do {
                glob = try Glob(patternText, caseInsensitive: caseInsensitive, placeholders: placeholders)
            } catch {
                require(reference == nil, "\(shown(patternText)) refused (\(error)), placeholders \(placeholders)")
                continue
            }
            guard let reference else {
                require(false, "\(shown(patternText)) compiled with a bad % escape")
                continue
            }
            let expected = Reference.globMatches(reference, subject, key: key, user: user,
                                                 caseInsensitive: caseInsensitive)
            require(glob.matches(subject, keyName: key, userName: user) == expected,
                    "\(shown(patternText)) on \(shown(subject)) (key \(shown(key)), user \(shown(user)), "
                    + "case-insensitive \(caseInsensitive), placeholders \(placeholders)): reference says \(expected)")
            var own = ""
            for piece in reference {
                switch piece {
                case .literal(let c): own.unicodeScalars.append(c)
                case .any: own += "any"
                case .one: own += "1"
                case .key: own += key
                case .user: own += user
                }
            }
            require(glob.matches(own, keyName: key, userName: user),
                    "\(shown(patternText)) does not match its own instance \(shown(own)) "
                    + "(case-insensitive \(caseInsensitive), placeholders \(placeholders))")
            if !reference.contains(where: { $0 == .any || $0 == .one }) {
                require(!glob.matches(own + "x", keyName: key, userName: user),
                        "\(shown(patternText)) matches \(shown(own + "x"))")
            }
        }
    }
    return 0
}

@_cdecl("fuzz_glob_main")
public func fuzzGlobMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runLibFuzzer(argc, argv, fuzzGlob)
}
