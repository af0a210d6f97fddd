import Foundation
import PortcullisTestSupport

/// A long pseudo-random byte stream that both ends can produce from a seed, so that a transfer of
/// hundreds of MiB is checked byte for byte without holding it in memory.
struct PseudoRandomStream {
    private var state: UInt64

    init(seed: UInt64) { state = seed | 1 }

    /// The next `count` bytes (a multiple of 8).
    mutating func next(_ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        bytes.withUnsafeMutableBytes { raw in
            let words = raw.bindMemory(to: UInt64.self)
            for index in words.indices {
                state ^= state << 13
                state ^= state >> 7
                state ^= state << 17
                words[index] = state
            }
        }
        return bytes
    }
}

enum StreamCheck {
    /// Sends `total` bytes of the stream seeded with `seed` through `fd` (an echo on the far end),
    /// half-closes, and checks that exactly the same bytes come back. Returns the bytes verified.
    static func echo(_ fd: Int32, total: Int, seed: UInt64 = 0x5eed) throws -> Int {
        final class Reader: @unchecked Sendable {
            var verified = 0
            var failure: String?
            let done = DispatchSemaphore(value: 0)
        }
        let reader = Reader()
        let chunk = 256 * 1024
        Thread {
            var expected = PseudoRandomStream(seed: seed)
            var pending: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: chunk)
            while reader.failure == nil {
                let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if count <= 0 { break }
                var offset = 0
                while offset < count {
                    if pending.isEmpty { pending = expected.next(chunk) }
                    let take = min(count - offset, pending.count)
                    if !buffer[offset..<offset + take].elementsEqual(pending[0..<take]) {
                        reader.failure = "mismatch near byte \(reader.verified)"
                        break
                    }
                    pending.removeFirst(take)
                    offset += take
                    reader.verified += take
                }
            }
            reader.done.signal()
        }.start()
        var source = PseudoRandomStream(seed: seed)
        var sent = 0
        while sent < total {
            try TestSocket.writeAll(fd, source.next(min(chunk, total - sent)))
            sent += min(chunk, total - sent)
        }
        shutdown(fd, Int32(SHUT_WR))
        reader.done.wait()
        if let failure = reader.failure { throw TestFailure(failure) }
        return reader.verified
    }
}
