/* The benchmark tools' endpoint addresses: "unix:PATH" or "tcp:IPv4:PORT" (included by blast.c and
 * conn_setup.c, which are compiled at run time). */
#ifndef BENCH_SOCKET_ADDRESS_H
#define BENCH_SOCKET_ADDRESS_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

/* Fills `sa`/`len` for `addr` and returns a new socket of its family, or -1 with errno set. */
static int make_socket(const char *addr, struct sockaddr_storage *sa, socklen_t *len) {
    memset(sa, 0, sizeof *sa);
    if (strncmp(addr, "unix:", 5) == 0) {
        struct sockaddr_un *un = (struct sockaddr_un *)sa;
        un->sun_family = AF_UNIX;
        if (strlen(addr + 5) >= sizeof un->sun_path) { errno = ENAMETOOLONG; return -1; }
        strcpy(un->sun_path, addr + 5);
        *len = sizeof *un;
        return socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    }
    if (strncmp(addr, "tcp:", 4) == 0) {
        char host[256];
        const char *colon = strrchr(addr + 4, ':');
        if (!colon || (size_t)(colon - addr - 4) >= sizeof host) { errno = EINVAL; return -1; }
        memcpy(host, addr + 4, colon - addr - 4);
        host[colon - addr - 4] = 0;
        struct sockaddr_in *in = (struct sockaddr_in *)sa;
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)atoi(colon + 1));
        if (inet_pton(AF_INET, host, &in->sin_addr) != 1) { errno = EINVAL; return -1; }
        *len = sizeof *in;
        return socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    }
    errno = EINVAL;
    return -1;
}

#endif
