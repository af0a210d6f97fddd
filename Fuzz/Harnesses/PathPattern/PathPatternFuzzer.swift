// libFuzzer harness: socket paths and path patterns (PathValidation, PathPattern).
// Input: pattern \n path \n key name \n user name.
// Properties: PathValidation accepts a path exactly when the documented rules hold (so an
// accepted path has no NUL byte, is absolute, at most 107 bytes, ...); a pattern compiles exactly
// when it obeys the same rules and its `%` escapes are valid; a compiled pattern matches a path
// exactly when a slow reference matcher says so; it matches its own text with its wildcards and
// placeholders filled in; a pattern without wildcards matches its own text and nothing longer.
import FuzzSupport
@testable import PortcullisPolicy

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPathPattern(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let f = fields(data, size, count: 4)
    let (patternText, path, key, user) = (f[0], f[1], f[2], f[3])

    // Requested paths.
    let problem = PathValidation.problem(in: path)
    require((problem == nil) == Reference.pathIsValid(path, limit: PathValidation.maximumLength),
            "PathValidation says \(problem ?? "fine") for \(shown(path))")
    if problem == nil {
        require(!path.utf8.contains(0) && String(validating: Array(path.utf8), as: UTF8.self) == path,
                "accepted \(shown(path))")
    }

    // Patterns.
    let reference = Reference.pathIsValid(patternText, limit: nil)
        && !Reference.hasPartialDoubleStar(patternText)
        ? Reference.pathPattern(patternText) : nil
    let pattern: PathPattern
    do {
        pattern = try PathPattern(patternText)
    } catch {
        require(reference == nil, "\(shown(patternText)) refused (\(error)) but is valid")
        return 0
    }
    guard let reference else {
        require(false, "\(shown(patternText)) compiled but breaks the documented rules")
        return 0
    }
    require(pattern.text == patternText, "the pattern's text changed")
    let expected = Reference.pathMatches(reference, path, key: key, user: user)
    require(pattern.matches(path, keyName: key, userName: user) == expected,
            "\(shown(patternText)) on \(shown(path)) (key \(shown(key)), user \(shown(user))): reference says \(expected)")

    // Its own text, wildcards and placeholders filled in, matches.
    // (A "/" byte, not Character: "/" followed by a combining mark is one Character.)
    let safeKey = key.isEmpty || key.utf8.contains(UInt8(ascii: "/")) ? "k" : key
    let safeUser = user.isEmpty || user.utf8.contains(UInt8(ascii: "/")) ? "u" : user
    var own = ""
    var scalars = patternText.unicodeScalars.makeIterator()
    while let c = scalars.next() {
        switch c {
        case "*": own += "x"
        case "?": own += "y"
        case "%":
            switch scalars.next() {
            case "k": own += safeKey
            case "u": own += safeUser
            default: own += "%"
            }
        default: own.unicodeScalars.append(c)
        }
    }
    // "**" became "xx": one component, which `**` may stand for.
    require(pattern.matches(own, keyName: safeKey, userName: safeUser),
            "\(shown(patternText)) does not match its own instance \(shown(own))")
    let literal = !patternText.unicodeScalars.contains { $0 == "*" || $0 == "?" || $0 == "%" }
    if literal {
        require(pattern.matches(patternText, keyName: key, userName: user), "\(shown(patternText)) misses itself")
        require(!pattern.matches(patternText + "x", keyName: key, userName: user),
                "\(shown(patternText)) matches \(shown(patternText + "x"))")
    }
    return 0
}

@_cdecl("fuzz_path_pattern_main")
public func fuzzPathPatternMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runLibFuzzer(argc, argv, fuzzPathPattern)
}
