import Foundation

/// Stops the run when a property does not hold, saying which and where; libFuzzer then saves the
/// input as `crash-*` (release builds drop `precondition`'s message, so this prints its own).
public func require(_ condition: Bool, _ message: @autoclosure () -> String,
                    file: StaticString = #fileID, line: UInt = #line) {
    if condition { return }
    FileHandle.standardError.write(Data("\n==FUZZ== property violated at \(file):\(line): \(message())\n".utf8))
    abort()
}

/// The input as the harnesses split it: fields separated by newlines, each decoded as UTF-8
/// (invalid sequences become U+FFFD, as any String the policy sees).
public func fields(_ data: UnsafePointer<UInt8>?, _ size: Int, count: Int) -> [String] {
    let bytes = UnsafeBufferPointer(start: data, count: data == nil ? 0 : size)
    var parts = bytes.split(separator: UInt8(ascii: "\n"), maxSplits: count - 1, omittingEmptySubsequences: false)
        .map { String(decoding: $0, as: UTF8.self) }
    while parts.count < count { parts.append("") }
    return parts
}

/// `text` quoted with Swift escapes, for messages.
public func shown(_ text: String) -> String { text.debugDescription }

/// A harness's entry point: (input, size) -> 0, as libFuzzer calls it.
public typealias FuzzTarget = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt

@_silgen_name("LLVMFuzzerRunDriver")
private func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ target: FuzzTarget
) -> CInt

/// Runs libFuzzer's driver on `target`. SwiftPM links an executable target with `main` defined
/// as `<module>_main`, so libFuzzer's own `main` is not used: each harness defines that symbol
/// and calls this.
public func runLibFuzzer(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
                         _ target: FuzzTarget) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv, target)
}
