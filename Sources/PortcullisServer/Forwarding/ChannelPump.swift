import CLibSSH
import Foundation
import PortcullisPolicy

/// Moves bytes both ways between one SSH channel and one socket, with backpressure in both
/// directions and half-close passed through.
///
/// Channel to socket: libssh hands over what arrived; what the socket does not take stays in
/// libssh's channel buffer, which keeps the client's window closed. When the socket drains, the rest
/// is read back out of the channel.
/// Socket to channel: read no more than the client's window allows; while the window is shut, the
/// socket is not polled for reading.
///
/// Memory per connection: libssh's channel window and two 256 KiB buffers, of which only the pages
/// data has passed through are resident (an idle or light connection holds a few KiB). Large
/// chunks matter for throughput: each `ssh_channel_write` costs a flush and a poll of the session.
///
/// libssh may take fewer bytes than offered (none at all during a key exchange on a non-blocking
/// session); the rest stays in the read buffer and goes first, before the socket is read again.
///
/// Re-entrancy: ssh_channel_write and ssh_channel_read_nonblocking may poll the whole ssh_event
/// (while a key exchange runs, to flush, when the buffer is empty), which runs this pump's own
/// socket callback and channel data callback in the middle of the call. While the pump is inside
/// such a call (`inLibSSH`), its callbacks only take note: the socket's readiness is left for the
/// next poll (level-triggered), channel data is left in libssh's buffer and read out in `service()`.
/// Without that, a nested read refilled `readBuffer` under a write still sending from it (bytes
/// sent twice, others never) and the counts went wrong, stalling the channel.
final class ChannelPump {
    private static let chunkSize = 256 * 1024

    let channelID: UInt64
    let request: ForwardRequest
    private unowned let worker: SessionWorker
    private let channel: OpaquePointer
    private let fd: Int32
    private let callbacks = UnsafeMutablePointer<ssh_channel_callbacks_struct>.allocate(capacity: 1)
    /// Bytes read from the socket on their way into the channel.
    private let readBuffer = UnsafeMutableRawPointer.allocate(byteCount: chunkSize, alignment: 16)
    /// Bytes read back out of the channel that the socket has not taken yet.
    private let pendingBuffer = UnsafeMutableRawPointer.allocate(byteCount: chunkSize, alignment: 16)

    /// Bytes in `readBuffer`, from `unsentOffset`, that the channel did not take yet: libssh takes
    /// nothing while a key exchange is in progress. Nothing more is read from the socket until
    /// they are sent.
    private var unsentToChannel = 0
    private var unsentOffset = 0
    /// How many bytes in `pendingBuffer`, from `pendingOffset`, wait for the socket.
    private var pendingToSocket = 0
    private var pendingOffset = 0
    /// Bytes left unconsumed in libssh's channel buffer at the last data callback.
    private var unconsumedInChannel = 0
    /// True while the pump is inside a libssh call that may poll the event and call back.
    private var inLibSSH = false

    private var opening: ((OpaquePointer) -> Int32)?
    private var pendingAnnouncement: String?
    /// Nothing more comes from the socket (its end of file, or the client closed the channel).
    private var socketEOF = false
    /// The pump sent the channel's EOF: the socket's end of file, with everything before it.
    private var eofSent = false
    private var channelEOF = false
    private var channelClosed = false
    private var socketWriteShut = false
    /// The socket, watched by the session's loop for what the pump needs next.
    private var watch: Watch?
    private var closeReason: String?
    private var bytesToClient: UInt64 = 0
    private var bytesFromClient: UInt64 = 0
    private var openedAt = ContinuousClock.now
    /// The channel as the control socket shows it (its byte counts), if shown.
    var live: LiveChannel?
    /// Its place in its key's max_channels, given back at tear-down.
    var slot: KeySlot?
    /// Set when the socket is this proxy's end of a relay to another member: the link's failure
    /// ends the channel with its reason, never with a clean-looking end of file.
    var relay: RelayEnd?

    /// `channelID`: the number the channel's records use (a fresh one if nil).
    init(worker: SessionWorker, channel: OpaquePointer, fd: Int32, request: ForwardRequest, channelID: UInt64? = nil) {
        self.worker = worker
        self.channel = channel
        self.fd = fd
        self.request = request
        self.channelID = channelID ?? worker.makeChannelID()
        portcullis_channel_callbacks_init(callbacks)
        callbacks.pointee.userdata = Unmanaged.passUnretained(self).toOpaque()
        callbacks.pointee.channel_data_function = { _, _, data, length, _, userdata in
            let pump = Unmanaged<ChannelPump>.fromOpaque(userdata!).takeUnretainedValue()
            return pump.channelData(data!, count: Int(length))
        }
        callbacks.pointee.channel_eof_function = { _, _, userdata in
            Unmanaged<ChannelPump>.fromOpaque(userdata!).takeUnretainedValue().channelEOF = true
        }
        callbacks.pointee.channel_close_function = { _, _, userdata in
            // What the client sent before closing still goes to the socket; nothing more goes back.
            let pump = Unmanaged<ChannelPump>.fromOpaque(userdata!).takeUnretainedValue()
            pump.channelEOF = true
            pump.channelClosed = true
            pump.socketEOF = true
        }
        ssh_set_channel_callbacks(channel, callbacks)
    }

    deinit {
        callbacks.deallocate()
        readBuffer.deallocate()
        pendingBuffer.deallocate()
    }

    var isFinished: Bool { closeReason != nil }

    /// Opens the channel towards the client with `open`, called between polls until the client
    /// answers; bytes move once it accepts. A pump made without it starts on an open channel.
    func open(with open: @escaping (OpaquePointer) -> Int32) {
        opening = open
    }

    /// Reports the channel as opened, with where the connection came from, once the client accepts it.
    func announceWhenOpen(originator: String) {
        pendingAnnouncement = originator
    }

    /// Between polls: advance an open in progress, resume reading when the window reopened,
    /// shut the socket's write side after the channel's EOF, and poll for what is needed next.
    func service() {
        guard closeReason == nil else { return }
        if let failure = relay?.failure {
            finish(failure)
            return
        }
        if let open = opening {
            switch open(channel) {
            case SSH_OK:
                opening = nil
                openedAt = .now
                if let originator = pendingAnnouncement {
                    pendingAnnouncement = nil
                    worker.report(.channelOpened(session: worker.id, channel: channelID, request: request,
                                                   originator: originator))
                }
            case SSH_AGAIN:
                return
            default:
                finish("client refused the channel")
                return
            }
        }
        flushToSocket()
        flushToChannel()
        if channelEOF && !socketWriteShut && pendingToSocket == 0 && unconsumedInChannel == 0 {
            shutdown(fd, Int32(SHUT_WR))
            socketWriteShut = true
        }
        if socketEOF && socketWriteShut {
            finish(channelClosed ? "closed by client" : "both sides finished")
            return
        }
        register()
    }

    /// Releases the channel and the socket. Called between polls only.
    ///
    /// Truncation is never made to look like a clean end: unless everything the client sent
    /// reached the socket after the client's EOF, the socket is reset (a TCP peer reads
    /// ECONNRESET, not end of file); unless everything read from the socket reached the client
    /// before the pump's EOF, the channel is closed without EOF. The record says what was lost.
    func tearDown(reason: String? = nil) {
        if closeReason == nil { closeReason = reason ?? "closed" }
        let undeliveredToSocket = pendingToSocket + unconsumedInChannel
        let socketComplete = channelEOF && undeliveredToSocket == 0 && socketWriteShut
        let channelComplete = eofSent && unsentToChannel == 0
        var detail: [String] = []
        if !socketComplete && undeliveredToSocket > 0 {
            detail.append("\(undeliveredToSocket) bytes from the client not delivered")
        }
        if !channelComplete && unsentToChannel > 0 {
            detail.append("\(unsentToChannel) bytes for the client not delivered")
        }
        watch?.cancel()
        watch = nil
        if !socketComplete {
            Socket.setResetOnClose(fd)
            relay?.abortByConsumer()
        }
        close(fd)
        ssh_remove_channel_callbacks(channel, callbacks)
        if opening == nil && !channelClosed {
            if channelComplete { ssh_channel_close(channel) } else { ssh_channel_abort(channel) }
        }
        ssh_channel_free(channel)
        worker.untrack(self)
        let text = ([closeReason ?? "closed"] + detail).joined(separator: "; ")
        worker.report(.channelClosed(session: worker.id, channel: channelID, request: request,
                                     bytesToClient: bytesToClient, bytesFromClient: bytesFromClient,
                                     duration: openedAt.duration(to: .now).seconds, reason: text))
    }

    // MARK: - Channel to socket

    private func channelData(_ data: UnsafeMutableRawPointer, count: Int) -> Int32 {
        if closeReason != nil { return Int32(count) }
        // Bytes already waiting go first; keep order by taking nothing new. Inside one of the
        // pump's own libssh calls, take nothing either: `service()` reads the buffer out after.
        guard pendingToSocket == 0, !inLibSSH else {
            unconsumedInChannel = count
            return 0
        }
        let written = writeToSocket(data, count: count)
        unconsumedInChannel = count - written
        return Int32(written)
    }

    /// Writes what the socket takes now; returns the count, 0 when it is full.
    private func writeToSocket(_ data: UnsafeRawPointer, count: Int) -> Int {
        guard count > 0 else { return 0 }
        let written = send(fd, data, count, Int32(MSG_NOSIGNAL))
        if written < 0 {
            if errno != EAGAIN && errno != EINTR {
                finish("the socket's peer closed: \(String(cString: strerror(errno)))")
                return 0
            }
            return 0
        }
        bytesFromClient += UInt64(written)
        live?.deliveredFromClient(written)
        return written
    }

    private func flushToSocket() {
        while closeReason == nil {
            if pendingToSocket > 0 {
                let written = writeToSocket(pendingBuffer + pendingOffset, count: pendingToSocket)
                pendingOffset += written
                pendingToSocket -= written
                if pendingToSocket > 0 { return }
            }
            guard unconsumedInChannel > 0 else { return }
            inLibSSH = true
            let read = ssh_channel_read_nonblocking(channel, pendingBuffer, UInt32(min(unconsumedInChannel, Self.chunkSize)), 0)
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

    // MARK: - Socket to channel

    private func socketReadable() {
        guard flushToChannel() else { return }
        let window = Int(ssh_channel_window_size(channel))
        guard window > 0 else { return }
        let count = read(fd, readBuffer, min(window, Self.chunkSize))
        if count > 0 {
            unsentOffset = 0
            unsentToChannel = count
            flushToChannel()
        } else if count == 0, let failure = relay?.failure {
            socketEOF = true
            finish(failure)
        } else if count == 0 {
            socketEOF = true
            inLibSSH = true
            eofSent = ssh_channel_send_eof(channel) == SSH_OK
            inLibSSH = false
        } else if errno != EAGAIN && errno != EINTR {
            // A reset is not an end of data: the client must not take what it got for all of it.
            socketEOF = true
            finish("the socket's peer reset the connection: \(String(cString: strerror(errno)))")
        }
    }

    /// Sends what the channel did not take before; true once nothing waits.
    @discardableResult
    private func flushToChannel() -> Bool {
        guard unsentToChannel > 0, closeReason == nil else { return unsentToChannel == 0 }
        inLibSSH = true
        let written = ssh_channel_write(channel, readBuffer + unsentOffset, UInt32(unsentToChannel))
        inLibSSH = false
        guard written >= 0 else {
            finish("channel write failed: \(worker.lastError)")
            return false
        }
        bytesToClient += UInt64(written)
        live?.sentToClient(Int(written))
        unsentOffset += Int(written)
        unsentToChannel -= Int(written)
        return unsentToChannel == 0
    }

    // MARK: - Polling

    private var wantedEvents: Int16 {
        var events: Int16 = 0
        if !socketEOF && unsentToChannel == 0 && ssh_channel_window_size(channel) > 0 { events |= Int16(POLLIN) }
        if pendingToSocket > 0 || unconsumedInChannel > 0 { events |= Int16(POLLOUT) }
        return events
    }

    private func register() {
        if watch == nil {
            watch = worker.loop.watch(fd, for: worker) { [unowned self] revents in socketEvent(Int32(revents)) }
        }
        watch?.set(UInt32(UInt16(bitPattern: wantedEvents)))
    }

    private func socketEvent(_ revents: Int32) {
        guard closeReason == nil, !inLibSSH else { return }
        if revents & Int32(POLLOUT | POLLERR | POLLHUP) != 0 && (pendingToSocket > 0 || unconsumedInChannel > 0) {
            flushToSocket()
        }
        if revents & Int32(POLLIN | POLLERR | POLLHUP) != 0 && !socketEOF {
            socketReadable()
        }
    }

    private func finish(_ reason: String) {
        if closeReason == nil { closeReason = reason }
    }
}
