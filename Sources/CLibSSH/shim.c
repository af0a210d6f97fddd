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
