/* Shared set-up and checks of the libssh parser harnesses (harness.h). */
#include "harness.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "\n==FUZZ== property violated at %s:%d: %s\n==FUZZ== ", file, line, cond);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    abort();
}

bool wire_u8(struct wire *w, uint8_t *v)
{
    if (w->n < 1) {
        return false;
    }
    *v = w->p[0];
    w->p += 1;
    w->n -= 1;
    return true;
}

bool wire_u32(struct wire *w, uint32_t *v)
{
    if (w->n < 4) {
        return false;
    }
    *v = (uint32_t)w->p[0] << 24 | (uint32_t)w->p[1] << 16 | (uint32_t)w->p[2] << 8 | w->p[3];
    w->p += 4;
    w->n -= 4;
    return true;
}

bool wire_string(struct wire *w, struct wire_string *s)
{
    struct wire save = *w;
    uint32_t len;

    if (!wire_u32(w, &len) || len > w->n) {
        *w = save;
        return false;
    }
    s->p = w->p;
    s->len = len;
    s->has_nul = memchr(w->p, 0, len) != NULL;
    w->p += len;
    w->n -= len;
    return true;
}

bool wire_name_is(const struct wire_string *s, const char *name)
{
    size_t visible = strnlen((const char *)s->p, s->len);

    return visible == strlen(name) && memcmp(s->p, name, visible) == 0;
}

void check_delivered_string(const char *what, const char *delivered, const struct wire_string *s,
                            bool exact)
{
    size_t len;

    FUZZ_CHECK(delivered != NULL, "%s: delivered without its string", what);
    len = strlen(delivered);
    FUZZ_CHECK(len <= s->len, "%s: delivered %zu bytes, the wire field has %u", what, len, s->len);
    FUZZ_CHECK(memcmp(delivered, s->p, len) == 0, "%s: delivered bytes differ from the wire", what);
    if (exact) {
        FUZZ_CHECK(len == s->len,
                   "%s: a %u-byte field with a NUL byte was delivered cut to %zu bytes, not refused",
                   what, s->len, len);
    }
}

const char *fuzz_malformed_reason(ssh_message msg)
{
#ifdef HAVE_SSH_MESSAGE_MALFORMED_REASON
    return ssh_message_malformed_reason(msg);
#else
    (void)msg;
    return NULL;
#endif
}

static int keep_message(ssh_session session, ssh_message msg, void *userdata)
{
    struct fuzz_session *fs = userdata;

    (void)session;
    fs->deliveries++;
    FUZZ_CHECK(fs->kept == NULL, "a second message from one packet");
    fs->kept = msg;
    return SSH_MESSAGE_CALLBACK_KEEP;
}

void fuzz_session_open(struct fuzz_session *fs)
{
    int sockets[2];

    memset(fs, 0, sizeof(*fs));
    fs->session = ssh_new();
    FUZZ_CHECK(fs->session != NULL, "ssh_new");
    FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sockets) == 0, "socketpair: %s",
               strerror(errno));

    /* An authenticated server session, key exchange finished, no cipher. */
    fs->session->server = 1;
    fs->session->client = 0;
    fs->session->session_state = SSH_SESSION_STATE_AUTHENTICATED;
    fs->session->flags |= SSH_SESSION_FLAG_AUTHENTICATED;
    fs->session->alive = 1;
    fs->session->dh_handshake_state = DH_STATE_FINISHED;
    ssh_socket_set_fd(fs->session->socket, sockets[0]);
    ssh_socket_set_write_wontblock(fs->session->socket);
    fs->peer = sockets[1];

    /* As the daemon (SessionWorker.installCallbacks): no server callback, a message callback. */
    fs->callbacks.userdata = fs;
    ssh_callbacks_init(&fs->callbacks);
    ssh_set_server_callbacks(fs->session, &fs->callbacks);
    ssh_set_message_callback(fs->session, keep_message, fs);
}

void fuzz_session_close(struct fuzz_session *fs)
{
    if (fs->kept != NULL) {
        ssh_message_free(fs->kept);
        fs->kept = NULL;
    }
    ssh_free(fs->session); /* closes its end of the socketpair */
    close(fs->peer);
}

int fuzz_session_feed(struct fuzz_session *fs, ssh_packet_callback callback, uint8_t type,
                      const uint8_t *data, size_t size)
{
    ssh_buffer packet = ssh_buffer_new();
    int rc;

    FUZZ_CHECK(packet != NULL, "ssh_buffer_new");
    if (size > 0) {
        FUZZ_CHECK(ssh_buffer_add_data(packet, data, (uint32_t)size) == 0, "ssh_buffer_add_data");
    }
    ssh_socket_set_write_wontblock(fs->session->socket);
    rc = callback(fs->session, type, packet, NULL);
    SSH_BUFFER_FREE(packet);
    return rc;
}

int fuzz_session_replies(struct fuzz_session *fs, struct reply *replies)
{
    uint8_t buf[16384];
    size_t have = 0, at = 0;
    ssize_t n;
    int count = 0;

    for (;;) {
        n = recv(fs->peer, buf + have, sizeof(buf) - have, MSG_DONTWAIT);
        if (n <= 0) {
            break;
        }
        have += (size_t)n;
        FUZZ_CHECK(have < sizeof(buf), "more than %zu bytes of replies to one packet", sizeof(buf));
    }
    /* Unencrypted binary packets: length, padding length, payload, padding (RFC 4253 6). */
    while (at < have) {
        uint32_t length;
        uint8_t padding;

        FUZZ_CHECK(have - at >= 5, "a reply packet cut in its header");
        length = (uint32_t)buf[at] << 24 | (uint32_t)buf[at + 1] << 16 | (uint32_t)buf[at + 2] << 8 |
                 buf[at + 3];
        padding = buf[at + 4];
        FUZZ_CHECK(length >= 1u + padding + 1u && length <= have - at - 4,
                   "a malformed reply packet (length %u, padding %u)", length, padding);
        FUZZ_CHECK(count < MAX_REPLIES, "more than %d replies to one packet", MAX_REPLIES);
        replies[count].type = buf[at + 5];
        replies[count].len = length - 1 - padding - 1;
        FUZZ_CHECK(replies[count].len <= sizeof(replies[count].payload), "an oversized reply");
        memcpy(replies[count].payload, buf + at + 6, replies[count].len);
        count++;
        at += 4 + length;
    }
    return count;
}

struct strictness fuzz_strictness(const char *harness, void (*probe)(struct strictness *))
{
    const char *mode = getenv("PORTCULLIS_FUZZ_STRICT");
    struct strictness strict = {false, false, false};

    if (mode != NULL && strcmp(mode, "1") == 0) {
        strict = (struct strictness){true, true, true};
    } else if (mode == NULL || mode[0] == '\0' || strcmp(mode, "auto") == 0) {
        probe(&strict);
    } else if (strcmp(mode, "0") != 0) {
        fprintf(stderr, "PORTCULLIS_FUZZ_STRICT must be 1, 0 or auto, not %s\n", mode);
        exit(2);
    }
    fprintf(stderr,
            "%s: held to: NUL in a string refused: %s; port over 65535 refused: %s; "
            "malformed request answered: %s (PORTCULLIS_FUZZ_STRICT=%s)\n",
            harness, strict.nul ? "yes" : "no", strict.ports ? "yes" : "no",
            strict.answers ? "yes" : "no", mode != NULL ? mode : "auto");
    return strict;
}
