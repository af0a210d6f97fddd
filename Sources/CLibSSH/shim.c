#define _GNU_SOURCE
#include "CLibSSH.h"

#include <string.h>
#include <sys/socket.h>
#include <sys/epoll.h>

#include <openssl/crypto.h>

#include <portcullis_libssh_build.h>

/* OpenSSL frees its global state in an atexit handler. The daemon's threads (event loops, member
 * links, etcd clients) may still be using it, or be running its thread-local destructors, while
 * the main thread exits: that handler then crashes the process (SIGSEGV instead of exit status 0).
 * Asked before anything else initialises OpenSSL (libssh's own constructor does), it is never
 * registered; the kernel reclaims the memory at exit anyway. */
__attribute__((constructor(101)))
static void portcullis_openssl_without_atexit(void)
{
    OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL);
}

const char *portcullis_libssh_build(void)
{
    return PORTCULLIS_LIBSSH_BUILD;
}

const char *portcullis_libssh_version(void)
{
    return ssh_version(0);
}

void portcullis_server_callbacks_init(struct ssh_server_callbacks_struct *callbacks)
{
    memset(callbacks, 0, sizeof(*callbacks));
    ssh_callbacks_init(callbacks);
}

void portcullis_channel_callbacks_init(struct ssh_channel_callbacks_struct *callbacks)
{
    memset(callbacks, 0, sizeof(*callbacks));
    ssh_callbacks_init(callbacks);
}

/* Message-based authentication lets the daemon answer once the attempt is in the audit log. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
ssh_key portcullis_message_auth_pubkey(ssh_message msg)
{
    return ssh_message_auth_pubkey(msg);
}

enum ssh_publickey_state_e portcullis_message_auth_publickey_state(ssh_message msg)
{
    return ssh_message_auth_publickey_state(msg);
}
#pragma GCC diagnostic pop

int portcullis_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t token)
{
    struct epoll_event event;

    memset(&event, 0, sizeof(event));
    event.events = events;
    event.data.u64 = token;
    return epoll_ctl(epfd, op, fd, &event);
}

int portcullis_epoll_wait(int epfd, uint64_t *tokens, uint32_t *events, int max, int timeout_ms)
{
    struct epoll_event ready[256];
    int count, i;

    if (max > 256) {
        max = 256;
    }
    count = epoll_wait(epfd, ready, max, timeout_ms);
    for (i = 0; i < count; i++) {
        tokens[i] = ready[i].data.u64;
        events[i] = ready[i].events;
    }
    return count;
}

int portcullis_accept(int listener)
{
    return accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

