#define _GNU_SOURCE
#include "CLibSSH.h"

#include <string.h>
#include <sys/socket.h>
#include <sys/epoll.h>

#include <portcullis_libssh_build.h>

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

