/*
 * Shared by the libssh parser harnesses: an authenticated server session with no cipher whose
 * packets go to one end of a socketpair (as libssh's own unit tests build one), an independent
 * reader of SSH wire fields, the replies the session wrote, and the strictness the patched
 * library is held to.
 */
#ifndef PORTCULLIS_FUZZ_HARNESS_H
#define PORTCULLIS_FUZZ_HARNESS_H

#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libssh/libssh.h"
#include "libssh/callbacks.h"
#include "libssh/server.h"
#include "libssh/priv.h"
#include "libssh/session.h"
#include "libssh/buffer.h"
#include "libssh/socket.h"
#include "libssh/channels.h"
#include "libssh/messages.h"
#include "libssh/ssh2.h"

/* Stops the run with the property that failed; libFuzzer saves the input as crash-*. */
#define FUZZ_CHECK(cond, ...)                                                    \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                   \
        }                                                                        \
    } while (0)
void fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 4, 5)));

/* SSH wire fields (RFC 4251 section 5), read independently of libssh's unpacker. */
struct wire {
    const uint8_t *p;
    size_t n;
};
struct wire_string {
    const uint8_t *p;
    uint32_t len;
    bool has_nul; /* a NUL byte anywhere in it */
};
bool wire_u8(struct wire *w, uint8_t *v);
bool wire_u32(struct wire *w, uint32_t *v);
bool wire_string(struct wire *w, struct wire_string *s);
/* The name libssh's strcmp sees: the bytes before the first NUL, compared with `name`. */
bool wire_name_is(const struct wire_string *s, const char *name);

/*
 * A string libssh delivered, against the wire field it came from: it is never longer, always a
 * prefix, and with `exact` it is the whole field (nothing cut at a NUL).
 */
void check_delivered_string(const char *what, const char *delivered, const struct wire_string *s,
                            bool exact);

/* Why patch 0017's strict decoding marked `msg` malformed, or NULL (always, without 0017). */
const char *fuzz_malformed_reason(ssh_message msg);

/* One packet the session sent: its message number and payload after the number. */
struct reply {
    uint8_t type;
    uint8_t payload[2048];
    size_t len;
};
#define MAX_REPLIES 4

struct fuzz_session {
    ssh_session session;
    int peer;
    struct ssh_server_callbacks_struct callbacks;
    ssh_message kept;  /* what the message callback was handed (it keeps it, as the daemon does) */
    int deliveries;    /* how many messages reached the callback */
};

/* The daemon's set-up: empty server callbacks plus a message callback that keeps each message. */
void fuzz_session_open(struct fuzz_session *fs);
/* Frees the kept message (if any), the session and the peer socket. */
void fuzz_session_close(struct fuzz_session *fs);
/* Runs one packet callback on `data` as the payload after the message number; returns its result. */
int fuzz_session_feed(struct fuzz_session *fs, ssh_packet_callback callback, uint8_t type,
                      const uint8_t *data, size_t size);
/* Reads every packet the session has written so far; returns how many (at most MAX_REPLIES). */
int fuzz_session_replies(struct fuzz_session *fs, struct reply *replies);

/* What the patched library is held to, beyond memory safety and consistency (Fuzz/README.md). */
struct strictness {
    bool nul;      /* a string field with a NUL byte is refused, never cut */
    bool ports;    /* a port over 65535 is refused, never wrapped */
    bool answers;  /* a malformed request or open is answered (failure), never dropped */
};
/*
 * PORTCULLIS_FUZZ_STRICT=1 holds the library to all three, =0 to none; unset or "auto" asks the
 * library itself with `probe` (one known-bad input per property) and holds it to what it does.
 */
struct strictness fuzz_strictness(const char *harness, void (*probe)(struct strictness *));

#endif
