#if canImport(Glibc)
@preconcurrency import Glibc  // stdout is a C global
#endif

/// Buffered standard output for large streams of lines (through C stdio, as `print` is).
enum StandardOutput {
    /// Writes `bytes` and a newline.
    static func writeLine(_ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { _ = fwrite($0.baseAddress, 1, $0.count, stdout) }
        putchar(0x0A)
    }

    static func flush() { fflush(stdout) }
}
