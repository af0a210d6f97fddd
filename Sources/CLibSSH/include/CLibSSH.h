/* The libssh API Portcullis uses, from the project's own static build (Deploy/libssh). */
#ifndef PORTCULLIS_CLIBSSH_H
#define PORTCULLIS_CLIBSSH_H

#include <libssh/libssh.h>
#include <libssh/server.h>
#include <libssh/callbacks.h>
#include <libssh/ssh2.h>
#include <poll.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

/** What the linked libssh was built from: upstream version, Debian revision, patch hash. */
const char *portcullis_libssh_build(void);

/** libssh's own version string, as the library reports it at run time. */
const char *portcullis_libssh_version(void);

/** Prepares server callbacks for use (what the ssh_callbacks_init macro does in C). */
void portcullis_server_callbacks_init(struct ssh_server_callbacks_struct *callbacks);

/** Prepares channel callbacks for use (what the ssh_callbacks_init macro does in C). */
void portcullis_channel_callbacks_init(struct ssh_channel_callbacks_struct *callbacks);

/** The public key of a public-key authentication request (owned by the message). libssh marks its
 *  own accessor deprecated in favour of callbacks, which cannot defer their answer. */
ssh_key portcullis_message_auth_pubkey(ssh_message msg);

/** Whether the request carries no signature (a probe), a valid one, or a wrong one. */
enum ssh_publickey_state_e portcullis_message_auth_publickey_state(ssh_message msg);

/** accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC): a connection that is non-blocking
 *  and close-on-exec from the start. */
int portcullis_accept(int listener);

/** epoll without its packed struct in Swift: watch `fd` for `events` (EPOLLIN, EPOLLOUT), reported
 *  with `token`. `op` is EPOLL_CTL_ADD, _MOD or _DEL. Returns 0 or -1 with errno set. */
int portcullis_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t token);

/** Waits for at most `max` ready descriptors; fills `tokens` and `events` and returns how many,
 *  0 on timeout, -1 with errno set. */
int portcullis_epoll_wait(int epfd, uint64_t *tokens, uint32_t *events, int max, int timeout_ms);

#endif
