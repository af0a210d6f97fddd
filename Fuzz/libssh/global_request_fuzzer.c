/*
 * libFuzzer harness: SSH_MSG_GLOBAL_REQUEST as the patched libssh's server parses it
 * (messages.c, ssh_packet_global_request). The input is the packet's payload after the message
 * number: string request name, boolean want-reply, then the request's fields.
 *
 * Properties, on every input: the packet is consumed; a request reaches the application only if
 * it is tcpip-forward, cancel-tcpip-forward, streamlocal-forward@openssh.com or its cancel with
 * all its fields, and then with exactly the wire's want-reply, port (modulo 2^16 unless strict)
 * and address (a prefix of the wire's, the whole of it when strict); anything else the library
 * answers itself (REQUEST_FAILURE, or SUCCESS for keepalive and no-more-sessions) exactly when a reply was asked for;
 * the application's answer (success with a port, or the default refusal) is one well-formed reply.
 * Strict (harness.h): a NUL byte in the address or a port over 65535 is refused, not delivered
 * as it stands. A library with ssh_message_malformed_reason() (patch 0017) may instead deliver a
 * malformed request marked with a reason ("malformed NAME: ...") and its fields cleared; then the
 * request must be malformed (a field missing, a NUL byte, a port over 65535, bytes after the last
 * field), and the application's answer, even a grant, is REQUEST_FAILURE.
 */
#include "harness.h"

#include <stdio.h>
#include <string.h>

enum kind { K_MALFORMED_HEADER, K_TCPIP, K_CANCEL_TCPIP, K_STREAMLOCAL, K_CANCEL_STREAMLOCAL,
            K_KEEPALIVE, K_NO_MORE_SESSIONS, K_UNKNOWN };

struct request {
    enum kind kind;
    uint8_t want_reply;
    bool complete;            /* all the kind's fields are there */
    size_t trailing;          /* bytes after the last field */
    struct wire_string address;
    uint32_t port;
};

static struct strictness strict;
static bool probing; /* while the probes run: only observe */

static struct request decode(const uint8_t *data, size_t size)
{
    struct wire w = {data, size};
    struct wire_string name;
    struct request r;

    memset(&r, 0, sizeof(r));
    if (!wire_string(&w, &name) || !wire_u8(&w, &r.want_reply)) {
        r.kind = K_MALFORMED_HEADER;
        return r;
    }
    if (wire_name_is(&name, "tcpip-forward")) {
        r.kind = K_TCPIP;
    } else if (wire_name_is(&name, "cancel-tcpip-forward")) {
        r.kind = K_CANCEL_TCPIP;
    } else if (wire_name_is(&name, "streamlocal-forward@openssh.com")) {
        r.kind = K_STREAMLOCAL;
    } else if (wire_name_is(&name, "cancel-streamlocal-forward@openssh.com")) {
        r.kind = K_CANCEL_STREAMLOCAL;
    } else if (wire_name_is(&name, "keepalive@openssh.com")) {
        r.kind = K_KEEPALIVE;
    } else if (wire_name_is(&name, "no-more-sessions@openssh.com")) {
        r.kind = K_NO_MORE_SESSIONS;
    } else {
        r.kind = K_UNKNOWN;
    }
    switch (r.kind) {
    case K_TCPIP:
    case K_CANCEL_TCPIP:
        r.complete = wire_string(&w, &r.address) && wire_u32(&w, &r.port);
        break;
    case K_STREAMLOCAL:
    case K_CANCEL_STREAMLOCAL:
        r.complete = wire_string(&w, &r.address);
        break;
    default:
        r.complete = true;
    }
    r.trailing = w.n;
    return r;
}

static int subtype_of(enum kind kind)
{
    switch (kind) {
    case K_TCPIP: return SSH_GLOBAL_REQUEST_TCPIP_FORWARD;
    case K_CANCEL_TCPIP: return SSH_GLOBAL_REQUEST_CANCEL_TCPIP_FORWARD;
    case K_STREAMLOCAL: return SSH_GLOBAL_REQUEST_STREAMLOCAL_FORWARD;
    case K_CANCEL_STREAMLOCAL: return SSH_GLOBAL_REQUEST_CANCEL_STREAMLOCAL_FORWARD;
    default: return -1;
    }
}

struct outcome {
    bool delivered;
    bool refused;   /* not delivered, or delivered marked malformed (refused by the application) */
    int replies;
};

/* Feeds one request, checks every property, answers it as the daemon could; returns what happened. */
static struct outcome run(const uint8_t *data, size_t size)
{
    struct request r = decode(data, size);
    struct fuzz_session fs;
    struct reply replies[MAX_REPLIES];
    struct outcome out = {false, true, 0};
    bool forward = subtype_of(r.kind) >= 0;
    bool tcpip = r.kind == K_TCPIP || r.kind == K_CANCEL_TCPIP;
    /* What a strict decoder may refuse, and what it must (harness.h). */
    bool malformed = forward && (!r.complete || r.trailing > 0 || r.address.has_nul ||
                                 (tcpip && r.port > 65535));
    bool must_refuse = forward && ((strict.nul && r.address.has_nul) ||
                                   (strict.ports && tcpip && r.port > 65535));
    bool success = size % 2 == 0; /* how the application answers: grant or refuse */
    const char *reason = NULL;
    int rc;

    fuzz_session_open(&fs);
    rc = fuzz_session_feed(&fs, ssh_packet_global_request, SSH2_MSG_GLOBAL_REQUEST, data, size);
    FUZZ_CHECK(rc == SSH_PACKET_USED, "the packet was not consumed (rc %d)", rc);
    out.delivered = fs.kept != NULL;
    reason = out.delivered ? fuzz_malformed_reason(fs.kept) : NULL;
    out.refused = !out.delivered || reason != NULL;
    out.replies = fuzz_session_replies(&fs, replies);

    if (probing) {
        /* nothing checked */
    } else if (out.delivered) {
        ssh_message msg = fs.kept;
        const char *address = ssh_message_global_request_address(msg);

        FUZZ_CHECK(forward, "a request of kind %d reached the application", r.kind);
        FUZZ_CHECK(ssh_message_type(msg) == SSH_REQUEST_GLOBAL, "type %d", ssh_message_type(msg));
        FUZZ_CHECK(ssh_message_subtype(msg) == subtype_of(r.kind), "subtype %d for kind %d",
                   ssh_message_subtype(msg), r.kind);
        FUZZ_CHECK(!msg->global_request.want_reply == !r.want_reply, "want-reply changed");
        FUZZ_CHECK(out.replies == 0, "the library answered a request it delivered (%u)",
                   replies[0].type);
        if (reason != NULL) {
            /* Marked malformed (patch 0017): only what is malformed, with its fields cleared. */
            FUZZ_CHECK(malformed, "a well-formed request marked \"%s\"", reason);
            FUZZ_CHECK(strncmp(reason, "malformed ", 10) == 0 && strlen(reason) > 10,
                       "reason \"%s\"", reason);
            FUZZ_CHECK(address == NULL && ssh_message_global_request_port(msg) == 0,
                       "a malformed request kept its address or port (\"%s\")", reason);
        } else {
            FUZZ_CHECK(r.complete, "a request missing fields reached the application");
            FUZZ_CHECK(!must_refuse, "a request with a NUL byte in its address or port %u "
                       "reached the application unmarked", r.port);
            check_delivered_string("address", address, &r.address, strict.nul);
            if (tcpip) {
                uint32_t port = (uint32_t)ssh_message_global_request_port(msg);

                FUZZ_CHECK(port == (r.port & 0xffff), "port %u delivered as %u", r.port, port);
            } else {
                FUZZ_CHECK(ssh_message_global_request_port(msg) == 0, "a port on a streamlocal request");
            }
        }

        /* The application's answer: success (with a bound port), or the default refusal. */
        if (success) {
            rc = ssh_message_global_request_reply_success(msg, 4242);
            FUZZ_CHECK((rc == SSH_OK) == (reason == NULL), "reply_success: %d", rc);
        } else {
            FUZZ_CHECK(ssh_message_reply_default(msg) == SSH_OK, "reply_default");
        }
        rc = fuzz_session_replies(&fs, replies);
        FUZZ_CHECK(rc == (r.want_reply ? 1 : 0), "%d answers, want-reply %u", rc, r.want_reply);
        if (rc == 1) {
            /* A malformed request is refused even when the application grants it. */
            bool granted = success && reason == NULL;
            uint8_t expected = granted ? SSH2_MSG_REQUEST_SUCCESS : SSH2_MSG_REQUEST_FAILURE;
            size_t len = granted && r.kind == K_TCPIP && msg->global_request.bind_port == 0 ? 4 : 0;

            FUZZ_CHECK(replies[0].type == expected, "answer %u, not %u", replies[0].type, expected);
            FUZZ_CHECK(replies[0].len == len, "answer of %zu bytes, not %zu", replies[0].len, len);
        }
    } else {
        FUZZ_CHECK(!(forward && r.complete) || malformed,
                   "a complete request of kind %d was not delivered", r.kind);
        if (r.kind != K_MALFORMED_HEADER) {
            uint8_t expected = r.kind == K_KEEPALIVE || r.kind == K_NO_MORE_SESSIONS
                                   ? SSH2_MSG_REQUEST_SUCCESS : SSH2_MSG_REQUEST_FAILURE;

            FUZZ_CHECK(out.replies == (r.want_reply ? 1 : 0), "%d replies, want-reply %u",
                       out.replies, r.want_reply);
            FUZZ_CHECK(out.replies == 0 || (replies[0].type == expected && replies[0].len == 0),
                       "reply %u of %zu bytes, not a bare %u", replies[0].type, replies[0].len,
                       expected);
        }
    }
    fuzz_session_close(&fs);
    return out;
}

/* A request built from fields, for the probes. */
static size_t build(uint8_t *buf, const char *name, const char *address, size_t address_len,
                    bool with_port, uint32_t port)
{
    size_t at = 0, n = strlen(name);

    buf[at++] = 0; buf[at++] = 0; buf[at++] = 0; buf[at++] = (uint8_t)n;
    memcpy(buf + at, name, n); at += n;
    buf[at++] = 1; /* want reply */
    buf[at++] = 0; buf[at++] = 0; buf[at++] = 0; buf[at++] = (uint8_t)address_len;
    memcpy(buf + at, address, address_len); at += address_len;
    if (with_port) {
        buf[at++] = (uint8_t)(port >> 24); buf[at++] = (uint8_t)(port >> 16);
        buf[at++] = (uint8_t)(port >> 8); buf[at++] = (uint8_t)port;
    }
    return at;
}

static void probe(struct strictness *s)
{
    uint8_t buf[128];
    size_t n;

    probing = true;
    /* Decide from what the library does with a path carrying a NUL, and with port 70000. */
    n = build(buf, "streamlocal-forward@openssh.com", "/srv/a.sock\0/../b", 17, false, 0);
    s->nul = run(buf, n).refused;
    n = build(buf, "tcpip-forward", "127.0.0.1", 9, true, 70000);
    s->ports = run(buf, n).refused;
    /* A global request that lacks fields is already answered with REQUEST_FAILURE. */
    s->answers = true;
    probing = false;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    ssh_init();
    strict = fuzz_strictness("libssh_global_request", probe);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run(data, size);
    return 0;
}
