import CLibSSH
import Foundation

/// One relayed channel on a member link, on the link's thread: moves bytes between the channel
/// to the holding proxy and this proxy's end of the socket pair whose other end the consumer's
/// ``ChannelPump`` serves. As the pump does: what the socket does not take stays in libssh's
/// channel buffer (the window stays closed: backpressure), reads from the socket are capped by
/// the channel's window, and end of file is carried both ways.
final class LinkChannel {
    let fd: Int32
    private let channel: OpaquePointer
    private let end: RelayEnd
    private let proxy: String
    private let callbacks = UnsafeMutablePointer<ssh_channel_callbacks_struct>.allocate(capacity: 1)
    private static let chunkSize = 256 * 1024
    private let toChannel = UnsafeMutableRawPointer.allocate(byteCount: chunkSize, alignment: 16)
    private let toSocket = UnsafeMutableRawPointer.allocate(byteCount: chunkSize, alignment: 16)
    private var unsentToChannel = 0
    private var unsentOffset = 0
    private var pendingToSocket = 0
    private var pendingOffset = 0
    private var unconsumedInChannel = 0
    private var inLibSSH = false
    /// The consumer's side is gone (a write to it failed): the channel is aborted at the next
    /// `service()`. Never inside a libssh callback, where libssh still uses the channel afterwards.
    private var consumerGone = false
    /// The member sent EOF; it closed the channel.
    private var eofReceived = false
    private var closedByPeer = false
    private var socketWriteShut = false
    /// The socket's end of file was passed on as the channel's EOF.
    private var eofSent = false
    private(set) var isFinished = false

    init(channel: OpaquePointer, fd: Int32, end: RelayEnd, proxy: String) {
        self.channel = channel
        self.fd = fd
        self.end = end
        self.proxy = proxy
        portcullis_channel_callbacks_init(callbacks)
        callbacks.pointee.userdata = Unmanaged.passUnretained(self).toOpaque()
        callbacks.pointee.channel_data_function = { _, _, data, length, _, userdata in
            Unmanaged<LinkChannel>.fromOpaque(userdata!).takeUnretainedValue().channelData(data!, count: Int(length))
        }
        callbacks.pointee.channel_eof_function = { _, _, userdata in
            Unmanaged<LinkChannel>.fromOpaque(userdata!).takeUnretainedValue().eofReceived = true
        }
        callbacks.pointee.channel_close_function = { _, _, userdata in
            Unmanaged<LinkChannel>.fromOpaque(userdata!).takeUnretainedValue().closedByPeer = true
        }
        ssh_set_channel_callbacks(channel, callbacks)
        // What arrived with the open's confirmation, before the callbacks were set.
        let buffered = ssh_channel_poll(channel, 0)
        if buffered > 0 { unconsumedInChannel = Int(buffered) }
        if ssh_channel_is_eof(channel) != 0 { eofReceived = true }
    }

    deinit {
        callbacks.deallocate()
        toChannel.deallocate()
        toSocket.deallocate()
    }

    var wantedEvents: Int16 {
        guard !isFinished else { return 0 }
        var events: Int16 = 0
        if !eofSent && unsentToChannel == 0 && ssh_channel_window_size(channel) > 0 { events |= Int16(POLLIN) }
        if pendingToSocket > 0 || unconsumedInChannel > 0 { events |= Int16(POLLOUT) }
        return events
    }

    /// After each poll of the link: flush what waits, pass EOF on, end when both sides are done.
    func service() {
        guard !isFinished else { return }
        if consumerGone {
            finish(abort: true)
            return
        }
        if closedByPeer && !eofReceived {
            // A close without EOF: the holder cut the channel short (its socket's peer reset).
            fail("proxy \(proxy) ended the relayed channel before its end of data")
            return
        }
        flushToSocket()
        flushToChannel()
        if eofReceived && !socketWriteShut && pendingToSocket == 0 && unconsumedInChannel == 0 {
            shutdown(fd, Int32(SHUT_WR))
            socketWriteShut = true
        }
        // After its EOF the holder may close at once: what libssh still buffers is delivered first.
        if socketWriteShut && (eofSent || closedByPeer) {
            finish(abort: false)
        }
    }

    func socketEvent(_ revents: Int32) {
        guard !isFinished, !inLibSSH else { return }
        if consumerGone {
            finish(abort: true)
            return
        }
        if revents & Int32(POLLOUT | POLLERR | POLLHUP) != 0 && (pendingToSocket > 0 || unconsumedInChannel > 0) {
            flushToSocket()
        }
        if revents & Int32(POLLIN | POLLERR | POLLHUP) != 0 && !eofSent {
            socketReadable()
        } else if revents & Int32(POLLERR | POLLHUP) != 0 && eofSent && !socketWriteShut && !isFinished {
            // The consumer's side closed for good before the holder's end of data: nobody is left
            // to read it (and a hang-up would wake the link's poll until then).
            end.abortByConsumer()
            finish(abort: true)
        }
    }

    /// The link died (or the member broke the channel): the consumer's side learns why before
    /// its socket closes.
    func fail(_ reason: String) {
        guard !isFinished else { return }
        end.fail(reason)
        finish(abort: true)
    }

    private func finish(abort: Bool) {
        isFinished = true
        ssh_remove_channel_callbacks(channel, callbacks)
        if !closedByPeer {
            if abort { ssh_channel_abort(channel) } else { ssh_channel_close(channel) }
        }
        ssh_channel_free(channel)
        close(fd)
    }

    /// libssh's data callback: the channel must outlive it (no `finish` in here).
    private func channelData(_ data: UnsafeMutableRawPointer, count: Int) -> Int32 {
        if isFinished || consumerGone { return Int32(count) }
        guard pendingToSocket == 0, !inLibSSH else {
            unconsumedInChannel = count
            return 0
        }
        let written = writeToSocket(data, count: count)
        unconsumedInChannel = count - written
        return Int32(written)
    }

    private func writeToSocket(_ data: UnsafeRawPointer, count: Int) -> Int {
        guard count > 0, !isFinished, !consumerGone else { return 0 }
        let written = send(fd, data, count, Int32(MSG_NOSIGNAL))
        if written < 0 {
            if errno != EAGAIN && errno != EINTR {
                // The consumer's side is gone: nothing more can be delivered. This may run inside
                // libssh's data callback, so the channel is aborted by the next `service()`.
                end.abortByConsumer()
                consumerGone = true
            }
            return 0
        }
        return written
    }

    private func flushToSocket() {
        while !isFinished && !consumerGone {
            if pendingToSocket > 0 {
                let written = writeToSocket(toSocket + pendingOffset, count: pendingToSocket)
                pendingOffset += written
                pendingToSocket -= written
                if pendingToSocket > 0 { return }
            }
            guard unconsumedInChannel > 0, !isFinished else { return }
            inLibSSH = true
            let read = ssh_channel_read_nonblocking(channel, toSocket, UInt32(min(unconsumedInChannel, Self.chunkSize)), 0)
            inLibSSH = false
            guard read > 0 else {
                unconsumedInChannel = 0
                return
            }
            unconsumedInChannel -= Int(read)
            pendingOffset = 0
            pendingToSocket = Int(read)
        }
    }

    private func socketReadable() {
        guard flushToChannel() else { return }
        let window = Int(ssh_channel_window_size(channel))
        guard window > 0 else { return }
        let count = read(fd, toChannel, min(window, Self.chunkSize))
        if count > 0 {
            unsentOffset = 0
            unsentToChannel = count
            flushToChannel()
        } else if count == 0 {
            if end.consumerAborted {
                // The consumer's side ended short: the holder must not take this for a clean end.
                finish(abort: true)
                return
            }
            inLibSSH = true
            eofSent = ssh_channel_send_eof(channel) == SSH_OK
            inLibSSH = false
        } else if errno != EAGAIN && errno != EINTR {
            finish(abort: true)
        }
    }

    @discardableResult
    private func flushToChannel() -> Bool {
        guard unsentToChannel > 0, !isFinished else { return unsentToChannel == 0 }
        inLibSSH = true
        let written = ssh_channel_write(channel, toChannel + unsentOffset, UInt32(unsentToChannel))
        inLibSSH = false
        guard written >= 0 else {
            fail("proxy \(proxy) unreachable: channel write failed")
            return false
        }
        unsentOffset += Int(written)
        unsentToChannel -= Int(written)
        return unsentToChannel == 0
    }
}
