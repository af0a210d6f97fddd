/*
 * libFuzzer harness: SSH_MSG_CHANNEL_OPEN as the patched libssh's server parses it (messages.c,
 * ssh_packet_channel_open). The input is the packet's payload after the message number: string
 * channel type, uint32 sender channel, initial window, maximum packet, then the type's fields.
 *
 * Properties, on every input: the packet is consumed; an open reaches the application only with
 * all its type's fields, as its type (unknown types as SSH_CHANNEL_UNKNOWN), with exactly the
 * wire's sender, window and maximum packet, its strings a prefix of the wire's and its ports the
 * wire's modulo 2^16; the library answers an open itself only with one CHANNEL_OPEN_FAILURE to the
 * sender's channel (always for a maximum packet too small to carry data, and for unknown types it
 * does not deliver); the application's answer (accept, or refuse with a reason) is one well-formed
 * reply to the sender.
 *
 * Strict (harness.h), for the opens the daemon acts on (direct-tcpip and
 * direct-streamlocal@openssh.com): a NUL byte in the host or path (or direct-tcpip's originator),
 * a port over 65535, or a field missing is refused, never delivered as it stands: either the
 * library answers with an open failure, or (patch 0017, ssh_message_malformed_reason()) it
 * delivers the open marked with a reason and its fields cleared, and any answer of the application,
 * even an accept, is an open failure. Only what is malformed may be marked (a field missing, a NUL
 * byte, a port over 65535, bytes after the last field). The reserved fields of direct-streamlocal
 * and the opens a server never acts on (forwarded-*, x11) are held to the non-strict properties.
 */
#include "harness.h"

#include <stdio.h>
#include <string.h>

enum kind { K_MALFORMED_HEADER, K_SESSION, K_DIRECT_TCPIP, K_FORWARDED_TCPIP, K_X11, K_AUTH_AGENT,
            K_DIRECT_STREAMLOCAL, K_FORWARDED_STREAMLOCAL, K_UNKNOWN };

struct open {
    enum kind kind;
    uint32_t sender, window, max_packet;
    bool complete;                 /* all the type's fields are there */
    struct wire_string destination; /* host or path */
    uint32_t destination_port;
    struct wire_string originator;  /* the reserved string of the streamlocal opens */
    uint32_t originator_port;       /* the reserved uint32 of direct-streamlocal */
    size_t trailing;               /* bytes after the last field */
};

static struct strictness strict;
static bool probing; /* while the probes run: only observe */

static struct open decode(const uint8_t *data, size_t size)
{
    struct wire w = {data, size};
    struct wire_string name;
    struct open o;

    memset(&o, 0, sizeof(o));
    if (!wire_string(&w, &name) || !wire_u32(&w, &o.sender) || !wire_u32(&w, &o.window) ||
        !wire_u32(&w, &o.max_packet)) {
        o.kind = K_MALFORMED_HEADER;
        return o;
    }
    if (wire_name_is(&name, "session")) {
        o.kind = K_SESSION;
    } else if (wire_name_is(&name, "direct-tcpip")) {
        o.kind = K_DIRECT_TCPIP;
    } else if (wire_name_is(&name, "forwarded-tcpip")) {
        o.kind = K_FORWARDED_TCPIP;
    } else if (wire_name_is(&name, "x11")) {
        o.kind = K_X11;
    } else if (wire_name_is(&name, "auth-agent@openssh.com")) {
        o.kind = K_AUTH_AGENT;
    } else if (wire_name_is(&name, "direct-streamlocal@openssh.com")) {
        o.kind = K_DIRECT_STREAMLOCAL;
    } else if (wire_name_is(&name, "forwarded-streamlocal@openssh.com")) {
        o.kind = K_FORWARDED_STREAMLOCAL;
    } else {
        o.kind = K_UNKNOWN;
    }
    switch (o.kind) {
    case K_DIRECT_TCPIP:
    case K_FORWARDED_TCPIP:
        o.complete = wire_string(&w, &o.destination) && wire_u32(&w, &o.destination_port) &&
                     wire_string(&w, &o.originator) && wire_u32(&w, &o.originator_port);
        break;
    case K_X11:
        o.complete = wire_string(&w, &o.originator) && wire_u32(&w, &o.originator_port);
        break;
    case K_DIRECT_STREAMLOCAL:
        o.complete = wire_string(&w, &o.destination) && wire_string(&w, &o.originator) &&
                     wire_u32(&w, &o.originator_port);
        break;
    case K_FORWARDED_STREAMLOCAL:
        o.complete = wire_string(&w, &o.destination) && wire_string(&w, &o.originator);
        break;
    default:
        o.complete = true;
    }
    o.trailing = w.n;
    return o;
}

static int type_of(enum kind kind)
{
    switch (kind) {
    case K_SESSION: return SSH_CHANNEL_SESSION;
    case K_DIRECT_TCPIP: return SSH_CHANNEL_DIRECT_TCPIP;
    case K_FORWARDED_TCPIP: return SSH_CHANNEL_FORWARDED_TCPIP;
    case K_X11: return SSH_CHANNEL_X11;
    case K_AUTH_AGENT: return SSH_CHANNEL_AUTH_AGENT;
    case K_DIRECT_STREAMLOCAL: return SSH_CHANNEL_DIRECT_STREAMLOCAL;
    case K_FORWARDED_STREAMLOCAL: return SSH_CHANNEL_FORWARDED_STREAMLOCAL;
    case K_UNKNOWN: return SSH_CHANNEL_UNKNOWN;
    default: return -1;
    }
}

static bool has_destination(enum kind k)
{
    return k == K_DIRECT_TCPIP || k == K_FORWARDED_TCPIP || k == K_DIRECT_STREAMLOCAL ||
           k == K_FORWARDED_STREAMLOCAL;
}

static bool has_originator(enum kind k)
{
    return has_destination(k) || k == K_X11;
}

static uint32_t u32_at(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* One CHANNEL_OPEN_FAILURE to `sender`: recipient, reason code, description, language tag. */
static void check_open_failure(const struct reply *r, uint32_t sender, const char *context)
{
    struct wire w = {r->payload, r->len};
    struct wire_string description, language;
    uint32_t recipient, reason;

    FUZZ_CHECK(r->type == SSH2_MSG_CHANNEL_OPEN_FAILURE, "%s: reply %u, not an open failure",
               context, r->type);
    FUZZ_CHECK(wire_u32(&w, &recipient) && wire_u32(&w, &reason) &&
                   wire_string(&w, &description) && wire_string(&w, &language) && w.n == 0,
               "%s: a malformed open failure", context);
    FUZZ_CHECK(recipient == sender, "%s: open failure to channel %u, not %u", context, recipient,
               sender);
    FUZZ_CHECK(reason >= 1 && reason <= 4, "%s: reason code %u", context, reason);
}

struct outcome {
    bool delivered;
    bool refused;  /* not delivered, or delivered marked malformed (refused by the application) */
    bool answered; /* the library sent one open failure to the sender, or marked the open */
};

/* Feeds one open, checks every property, answers it as the daemon could; returns what happened. */
static struct outcome run(const uint8_t *data, size_t size)
{
    struct open o = decode(data, size);
    struct fuzz_session fs;
    struct reply replies[MAX_REPLIES];
    struct outcome out = {false, true, false};
    bool unusable = o.kind != K_MALFORMED_HEADER && o.max_packet <= SSH_CHANNEL_MAXPACKET_OVERHEAD;
    bool tcpip = o.kind == K_DIRECT_TCPIP || o.kind == K_FORWARDED_TCPIP;
    bool acted_on = o.kind == K_DIRECT_TCPIP || o.kind == K_DIRECT_STREAMLOCAL;
    bool has_ports = tcpip || o.kind == K_X11 || o.kind == K_DIRECT_STREAMLOCAL;
    /* What a strict decoder may refuse, and what it must (harness.h). */
    bool malformed = has_originator(o.kind) &&
                     (!o.complete || o.trailing > 0 || o.destination.has_nul || o.originator.has_nul ||
                      (has_ports && (o.destination_port > 65535 || o.originator_port > 65535)));
    bool must_refuse = acted_on &&
                       ((strict.nul && (o.destination.has_nul || (tcpip && o.originator.has_nul))) ||
                        (strict.ports && tcpip &&
                         (o.destination_port > 65535 || o.originator_port > 65535)) ||
                        (strict.answers && !o.complete));
    const char *reason = NULL;
    int rc;

    fuzz_session_open(&fs);
    rc = fuzz_session_feed(&fs, ssh_packet_channel_open, SSH2_MSG_CHANNEL_OPEN, data, size);
    FUZZ_CHECK(rc == SSH_PACKET_USED, "the packet was not consumed (rc %d)", rc);
    out.delivered = fs.kept != NULL;
    reason = out.delivered ? fuzz_malformed_reason(fs.kept) : NULL;
    out.refused = !out.delivered || reason != NULL;
    rc = fuzz_session_replies(&fs, replies);
    out.answered = reason != NULL ||
                   (rc == 1 && replies[0].type == SSH2_MSG_CHANNEL_OPEN_FAILURE &&
                    replies[0].len >= 4 && u32_at(replies[0].payload) == o.sender);

    if (probing) {
        /* nothing checked */
    } else if (out.delivered) {
        ssh_message msg = fs.kept;
        const char *destination = ssh_message_channel_request_open_destination(msg);
        const char *originator = ssh_message_channel_request_open_originator(msg);
        uint32_t destination_port = (uint32_t)ssh_message_channel_request_open_destination_port(msg);
        uint32_t originator_port = (uint32_t)ssh_message_channel_request_open_originator_port(msg);
        bool granted = size % 2 == 0 && reason == NULL;

        FUZZ_CHECK(type_of(o.kind) >= 0, "a malformed open reached the application");
        FUZZ_CHECK(!unusable, "an open with maximum packet %u reached the application", o.max_packet);
        FUZZ_CHECK(ssh_message_type(msg) == SSH_REQUEST_CHANNEL_OPEN, "type %d",
                   ssh_message_type(msg));
        FUZZ_CHECK(ssh_message_subtype(msg) == type_of(o.kind), "channel type %d for kind %d",
                   ssh_message_subtype(msg), o.kind);
        FUZZ_CHECK(msg->channel_request_open.sender == o.sender &&
                       msg->channel_request_open.window == o.window &&
                       msg->channel_request_open.packet_size == o.max_packet,
                   "sender, window or maximum packet changed");
        FUZZ_CHECK(rc == 0, "the library answered an open it delivered");
        if (reason != NULL) {
            /* Marked malformed (patch 0017): only what is malformed, with its fields cleared. */
            FUZZ_CHECK(malformed, "a well-formed open of kind %d marked \"%s\"", o.kind, reason);
            FUZZ_CHECK(strncmp(reason, "malformed ", 10) == 0 && strlen(reason) > 10,
                       "reason \"%s\"", reason);
            FUZZ_CHECK(destination == NULL && originator == NULL && destination_port == 0 &&
                           originator_port == 0,
                       "a malformed open kept an address or port (\"%s\")", reason);
        } else {
            FUZZ_CHECK(o.complete, "an open of kind %d missing fields reached the application", o.kind);
            FUZZ_CHECK(!must_refuse, "an open of kind %d with a NUL byte or a port over 65535 "
                       "reached the application unmarked", o.kind);
            if (has_destination(o.kind)) {
                check_delivered_string("destination", destination, &o.destination,
                                       strict.nul && acted_on);
            }
            if (has_originator(o.kind)) {
                check_delivered_string("originator", originator, &o.originator,
                                       strict.nul && acted_on && tcpip);
            }
            if (tcpip) {
                FUZZ_CHECK(destination_port == (o.destination_port & 0xffff), "port %u delivered as %u",
                           o.destination_port, destination_port);
            }
            if (has_ports) {
                FUZZ_CHECK(originator_port == (o.originator_port & 0xffff),
                           "originator port %u delivered as %u", o.originator_port, originator_port);
            }
        }

        /* The application's answer: accept, or refuse with a reason (libssh patch 0011). */
        if (size % 2 == 0) {
            ssh_channel channel = ssh_message_channel_request_open_reply_accept(msg);

            FUZZ_CHECK((channel != NULL) == granted, "accepting the open: %p", (void *)channel);
        } else {
            rc = ssh_message_channel_request_open_reply_failure(
                msg, SSH2_OPEN_CONNECT_FAILED, reason != NULL ? reason : "connect failed: refused");
            FUZZ_CHECK(rc == SSH_OK, "reply_failure");
        }
        rc = fuzz_session_replies(&fs, replies);
        FUZZ_CHECK(rc == 1, "the application's answer made %d packets", rc);
        if (granted) {
            FUZZ_CHECK(replies[0].type == SSH2_MSG_CHANNEL_OPEN_CONFIRMATION && replies[0].len == 16 &&
                           u32_at(replies[0].payload) == o.sender,
                       "accepting answered %u, not a confirmation to %u", replies[0].type, o.sender);
        } else {
            /* A malformed open is refused even when the application accepts it. */
            check_open_failure(&replies[0], o.sender, "the application's refusal");
        }
    } else if (o.kind == K_MALFORMED_HEADER) {
        /* Without a sender channel there is no one to answer; with one, nothing is required. */
        FUZZ_CHECK(rc <= 1, "%d replies to a malformed open", rc);
        if (rc == 1) {
            FUZZ_CHECK(replies[0].type == SSH2_MSG_CHANNEL_OPEN_FAILURE, "reply %u", replies[0].type);
        }
    } else if (unusable || must_refuse || o.kind == K_UNKNOWN) {
        /* Refused by the library itself: exactly one open failure, to the sender. */
        FUZZ_CHECK(rc == 1, "%d replies to a refused open of kind %d (complete %d)", rc, o.kind,
                   o.complete);
        check_open_failure(&replies[0], o.sender, "the library's refusal");
    } else {
        FUZZ_CHECK(!o.complete || malformed, "a well-formed open of kind %d was not delivered", o.kind);
        FUZZ_CHECK(rc <= 1, "%d replies to an open it did not deliver", rc);
        if (rc == 1) {
            check_open_failure(&replies[0], o.sender, "the library's refusal");
        }
    }
    fuzz_session_close(&fs);
    return out;
}

/* An open built from fields, for the probes. */
static size_t put_u32(uint8_t *buf, size_t at, uint32_t v)
{
    buf[at] = (uint8_t)(v >> 24); buf[at + 1] = (uint8_t)(v >> 16);
    buf[at + 2] = (uint8_t)(v >> 8); buf[at + 3] = (uint8_t)v;
    return at + 4;
}

static size_t put_string(uint8_t *buf, size_t at, const char *s, size_t len)
{
    at = put_u32(buf, at, (uint32_t)len);
    memcpy(buf + at, s, len);
    return at + len;
}

static size_t open_header(uint8_t *buf, const char *type)
{
    size_t at = put_string(buf, 0, type, strlen(type));

    at = put_u32(buf, at, 7);       /* sender */
    at = put_u32(buf, at, 65536);   /* window */
    return put_u32(buf, at, 32768); /* maximum packet */
}

static void probe(struct strictness *s)
{
    uint8_t buf[256];
    size_t n;

    probing = true;
    /* A path carrying a NUL byte. */
    n = open_header(buf, "direct-streamlocal@openssh.com");
    n = put_string(buf, n, "web.sock\0x", 10);
    n = put_string(buf, n, "", 0);
    n = put_u32(buf, n, 0);
    s->nul = run(buf, n).refused;
    /* Port PORT+65536. */
    n = open_header(buf, "direct-tcpip");
    n = put_string(buf, n, "127.0.0.1", 9);
    n = put_u32(buf, n, 65536 + 22);
    n = put_string(buf, n, "127.0.0.1", 9);
    n = put_u32(buf, n, 40000);
    s->ports = run(buf, n).refused;
    /* direct-streamlocal without its reserved fields. */
    n = open_header(buf, "direct-streamlocal@openssh.com");
    n = put_string(buf, n, "/srv/web.sock", 13);
    s->answers = run(buf, n).answered;
    probing = false;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    ssh_init();
    strict = fuzz_strictness("libssh_channel_open", probe);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run(data, size);
    return 0;
}
