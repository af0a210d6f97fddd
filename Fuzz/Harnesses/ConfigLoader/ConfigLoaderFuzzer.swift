// libFuzzer harness: the config loader on a whole main file (ConfigLoader.load with the file's
// text handed over as a pending change: nothing is written or read but keys_dir).
// Properties: the loader returns a config or a ConfigError, never traps or hangs; an error lists
// at least one problem, each with a message and, for this file, a line between 1 and the file's
// last line (a line is required for text that is not UTF-8 too once the loader reports one there:
// PORTCULLIS_FUZZ_STRICT, as for the libssh harnesses); a config only comes from UTF-8 text, and
// what it holds obeys the rules (socket_root and every path rule valid, listen ports 0-65535, rule
// locations inside the file); loading the same text again gives the same config.
import Foundation
import FuzzSupport
@testable import PortcullisPolicy

private let path = "/nonexistent/portcullis-fuzz/portcullis.yaml"

/// Whether problems of text that is not UTF-8 must carry a line (decided once, see above).
nonisolated(unsafe) private var linesForInvalidUTF8: Bool?

private func load(_ data: Data) -> Result<PolicyConfig, ConfigError> {
    Result { () throws(ConfigError) in try ConfigLoader.load(path: path, pending: PendingChanges(mainFile: data)) }
}

private func strictLines() -> Bool {
    if let known = linesForInvalidUTF8 { return known }
    let mode = ProcessInfo.processInfo.environment["PORTCULLIS_FUZZ_STRICT"] ?? "auto"
    let strict: Bool
    switch mode {
    case "1": strict = true
    case "0": strict = false
    default:
        guard case .failure(let error) = load(Data("socket_root: /srv\nhost_keys: [a]\nlisten: [\"".utf8) + [0xFF, 0x22, 0x5D, 0x0A]) else {
            strict = false; break
        }
        strict = error.problems.allSatisfy { $0.line != nil }
    }
    FileHandle.standardError.write(Data("fuzz-config-loader: held to: a line for text that is not UTF-8: \(strict ? "yes" : "no") (PORTCULLIS_FUZZ_STRICT=\(mode))\n".utf8))
    linesForInvalidUTF8 = strict
    return strict
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfigLoader(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let strict = strictLines()
    let bytes = data.map { Data(bytes: $0, count: size) } ?? Data()
    let isUTF8 = String(validating: Array(bytes), as: UTF8.self) != nil
    // YAML's line breaks: LF, CR, CRLF, and NEL, LS, PS.
    let text = String(decoding: bytes, as: UTF8.self)
    var breaks = 0
    var previous: Unicode.Scalar = " "
    for c in text.unicodeScalars {
        if c == "\n" && previous == "\r" { previous = c; continue }
        if c == "\n" || c == "\r" || c == "\u{85}" || c == "\u{2028}" || c == "\u{2029}" { breaks += 1 }
        previous = c
    }
    // libyaml puts the end of a stream that does not end in a line break on a line of its own,
    // so a syntax error found there is one line past the text's last.
    let endsInBreak = previous == "\n" || previous == "\r" || previous == "\u{85}" || previous == "\u{2028}"
        || previous == "\u{2029}"
    let lines = 1...(breaks + (endsInBreak || text.isEmpty ? 1 : 2))

    switch load(bytes) {
    case .failure(let error):
        require(!error.problems.isEmpty, "a ConfigError without problems")
        for problem in error.problems {
            require(!problem.message.isEmpty, "a problem without a message")
            guard problem.file == path else { continue } // a file in keys_dir
            if let line = problem.line {
                require(lines.contains(line), "line \(line) outside 1...\(lines.upperBound): \(problem)")
            } else {
                require(!isUTF8, "no line for \(problem)")
                require(!strict, "no line for \(problem) (text that is not UTF-8)")
            }
        }
    case .success(let config):
        require(isUTF8, "a config from text that is not UTF-8")
        require(config.files.first == path, "files \(config.files)")
        require(PathValidation.problem(inRoot: config.socketRoot) == nil, "socket_root \(shown(config.socketRoot))")
        for listen in config.listen {
            require((0...65535).contains(listen.port) && !listen.host.isEmpty, "listen \(listen)")
        }
        for key in config.keys where key.location.file == path {
            require(lines.contains(key.location.line), "key at line \(key.location.line)")
            for rule in key.permitStreamLocalListen + key.permitStreamLocalOpen {
                require(PathValidation.problem(inPattern: rule.pattern.text) == nil, "path rule \(rule)")
                require(lines.contains(rule.location.line), "rule \(rule) outside the file")
            }
            for rule in key.permitListen { require(lines.contains(rule.location.line), "rule \(rule)") }
            for rule in key.permitOpen { require(lines.contains(rule.location.line), "rule \(rule)") }
        }
        guard case .success(let again) = load(bytes) else {
            require(false, "the same text loaded once, then failed")
            return 0
        }
        require(again == config, "the same text loaded twice differs")
    }
    return 0
}

@_cdecl("fuzz_config_loader_main")
public func fuzzConfigLoaderMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runLibFuzzer(argc, argv, fuzzConfigLoader)
}
