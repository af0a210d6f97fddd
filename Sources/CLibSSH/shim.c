#include "CLibSSH.h"

#include <string.h>

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
