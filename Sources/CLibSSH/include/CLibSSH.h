/* The libssh API Portcullis uses, from the project's own static build (Deploy/libssh). */
#ifndef PORTCULLIS_CLIBSSH_H
#define PORTCULLIS_CLIBSSH_H

#include <libssh/libssh.h>
#include <libssh/server.h>
#include <libssh/callbacks.h>
#include <libssh/ssh2.h>

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

#endif
