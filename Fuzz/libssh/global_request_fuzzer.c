/*
 * libFuzzer harness: SSH_MSG_GLOBAL_REQUEST as the patched libssh's server parses it
 * (messages.c, ssh_packet_global_request). The input is the packet's payload after the message
 * number: string request name, boolean want-reply, then the request's fields.
 *
 * Properties, on every input: the packet is consumed; a request reaches the application only if
 * it is tcpip-forward, cancel-tcpip-forward, streamlocal-forward@openssh.com or its cancel with
 * all its fields, and then with exactly the wire's want-reply, port (modulo 2^16 unless strict)
 * and address (a prefix of the wire's, the whole of it when strict); anything else the library
 * answers itself (REQUEST_FAILURE, or SUCCESS for keepalive) exactly when a reply was asked for;
 * the application's answer (success with a port, or the default refusal) is one well-formed reply.
 * Strict (harness.h): a NUL byte in the address or a port over 65535 is refused, not delivered.
 */
#include "harness.h"

#include <stdio.h>
#include <string.h>

enum kind { K_MALFORMED_HEADER, K_TCPIP, K_CANCEL_TCPIP, K_STREAMLOCAL, K_CANCEL_STREAMLOCAL,
            K_KEEPALIVE, K_UNKNOWN };

struct request {
    enum kind kind;
    uint8_t want_reply;
    bool complete;            /* all the kind's fields are there */
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
    int replies;
    uint8_t first_reply;
};

/* Feeds one request, checks every property, answers it as the daemon could; returns what happened. */
static struct outcome run(const uint8_t *data, size_t size)
{
    struct request r = decode(data, size);
    struct fuzz_session fs;
    struct reply replies[MAX_REPLIES];
    struct outcome out = {false, 0, 0};
    bool tcpip = r.kind == K_TCPIP || r.kind == K_CANCEL_TCPIP;
    int rc;

    fuzz_session_open(&fs);
    rc = fuzz_session_feed(&fs, ssh_packet_global_request, SSH2_MSG_GLOBAL_REQUEST, data, size);
    FUZZ_CHECK(rc == SSH_PACKET_USED, "the packet was not consumed (rc %d)", rc);
    out.delivered = fs.kept != NULL;
    out.replies = fuzz_session_replies(&fs, replies);
    out.first_reply = out.replies > 0 ? replies[0].type : 0;

    if (probing) {
        /* nothing checked */
    } else if (out.delivered) {
        ssh_message msg = fs.kept;
        const char *address = ssh_message_global_request_address(msg);

        FUZZ_CHECK(subtype_of(r.kind) >= 0, "a request of kind %d reached the application", r.kind);
        FUZZ_CHECK(r.complete, "a request missing fields reached the application");
        FUZZ_CHECK(ssh_message_type(msg) == SSH_REQUEST_GLOBAL, "type %d", ssh_message_type(msg));
        FUZZ_CHECK(ssh_message_subtype(msg) == subtype_of(r.kind), "subtype %d for kind %d",
                   ssh_message_subtype(msg), r.kind);
        FUZZ_CHECK(!msg->global_request.want_reply == !r.want_reply, "want-reply changed");
        FUZZ_CHECK(out.replies == 0, "the library answered a request it delivered (%u)",
                   out.first_reply);
        check_delivered_string("address", address, &r.address, strict.nul);
        if (tcpip) {
            uint32_t port = (uint32_t)ssh_message_global_request_port(msg);

            FUZZ_CHECK(port == (r.port & 0xffff), "port %u delivered as %u", r.port, port);
            FUZZ_CHECK(!strict.ports || r.port <= 65535, "port %u delivered as %u, not refused",
                       r.port, port);
        } else {
            FUZZ_CHECK(ssh_message_global_request_port(msg) == 0, "a port on a streamlocal request");
        }

        /* The application's answer: success (with a bound port), or the default refusal. */
        if (size % 2 == 0) {
            FUZZ_CHECK(ssh_message_global_request_reply_success(msg, 4242) == SSH_OK, "reply_success");
        } else {
            FUZZ_CHECK(ssh_message_reply_default(msg) == SSH_OK, "reply_default");
        }
        rc = fuzz_session_replies(&fs, replies);
        FUZZ_CHECK(rc == (r.want_reply ? 1 : 0), "%d answers, want-reply %u", rc, r.want_reply);
        if (rc == 1) {
            uint8_t expected = size % 2 == 0 ? SSH2_MSG_REQUEST_SUCCESS : SSH2_MSG_REQUEST_FAILURE;
            size_t len = expected == SSH2_MSG_REQUEST_SUCCESS && r.kind == K_TCPIP &&
                                 msg->global_request.bind_port == 0 ? 4 : 0;

            FUZZ_CHECK(replies[0].type == expected, "answer %u, not %u", replies[0].type, expected);
            FUZZ_CHECK(replies[0].len == len, "answer of %zu bytes, not %zu", replies[0].len, len);
        }
    } else {
        bool refusable = (strict.nul && r.address.has_nul) || (strict.ports && tcpip && r.port > 65535);

        FUZZ_CHECK(!(subtype_of(r.kind) >= 0 && r.complete) || refusable,
                   "a complete request of kind %d was not delivered", r.kind);
        if (r.kind != K_MALFORMED_HEADER) {
            uint8_t expected = r.kind == K_KEEPALIVE ? SSH2_MSG_REQUEST_SUCCESS
                                                     : SSH2_MSG_REQUEST_FAILURE;

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
    s->nul = !run(buf, n).delivered;
    n = build(buf, "tcpip-forward", "127.0.0.1", 9, true, 70000);
    s->ports = !run(buf, n).delivered;
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
