/*
 * conn_setup: both ends of the forwarded-connection setup case (Benchmarks/lib/conn_setup.py, which
 * compiles it at run time).
 *
 *   conn_setup echo ADDR                  print "ready" once listening, then echo every connection
 *                                         (any number at a time) until killed
 *   conn_setup loop ADDR COUNT [TIMEOUT]  COUNT sequential short connections: connect, send 1 byte,
 *                                         read the 1-byte echo, close
 *
 * ADDR is tcp:HOST:PORT or unix:PATH. `loop` prints one JSON line: each connection's latency in
 * microseconds, from just before connect() to the echoed byte read (CLOCK_MONOTONIC), and the
 * errors (a connection that failed is counted, reported, and left out of the latencies). Exit 0
 * when every connection echoed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "socket_address.h"

#define MAX_CLIENTS 256

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* make_socket, with Nagle off on TCP (each 1-byte exchange goes out at once). */
static int make_socket_nodelay(const char *addr, struct sockaddr_storage *sa, socklen_t *len) {
    int fd = make_socket(addr, sa, len);
    int one = 1;
    if (fd >= 0 && sa->ss_family == AF_INET) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static int echo(const char *addr) {
    struct sockaddr_storage sa;
    socklen_t salen;
    int lfd = make_socket_nodelay(addr, &sa, &salen);
    if (lfd < 0) { perror("conn_setup echo: socket"); return 1; }
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (sa.ss_family == AF_UNIX) unlink(((struct sockaddr_un *)&sa)->sun_path);
    if (bind(lfd, (struct sockaddr *)&sa, salen) != 0 || listen(lfd, 128) != 0) {
        perror("conn_setup echo: bind/listen");
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    struct pollfd fds[MAX_CLIENTS + 1];
    int n = 1;
    fds[0] = (struct pollfd){.fd = lfd, .events = POLLIN};
    char buf[4096];
    for (;;) {
        if (poll(fds, (nfds_t)n, -1) < 0) {
            if (errno == EINTR) continue;
            perror("conn_setup echo: poll");
            return 1;
        }
        for (int i = n - 1; i >= 1; i--) {
            if (!fds[i].revents) continue;
            ssize_t r = read(fds[i].fd, buf, sizeof buf);
            if (r > 0 && write(fds[i].fd, buf, (size_t)r) == r) continue;
            if (r < 0 && errno == EINTR) continue;
            close(fds[i].fd);  /* end of stream or an error: this connection is over */
            fds[i] = fds[--n];
        }
        if (fds[0].revents && n <= MAX_CLIENTS) {
            int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0) {
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                fds[n++] = (struct pollfd){.fd = fd, .events = POLLIN};
            }
        }
    }
}

static int loop(const char *addr, int count, double timeout) {
    long *latencies = calloc((size_t)count, sizeof *latencies);
    int done = 0, errors = 0;
    char first_error[200] = "";
    double deadline = now() + timeout;
    alarm((unsigned)timeout + 5);
    for (int i = 0; i < count && now() < deadline; i++) {
        struct sockaddr_storage sa;
        socklen_t salen;
        const char *step = "socket";
        char byte = (char)('a' + i % 26), back = 0;
        double start = now();
        int fd = make_socket_nodelay(addr, &sa, &salen);
        if (fd < 0) goto failed;
        step = "connect";
        if (connect(fd, (struct sockaddr *)&sa, salen) != 0) goto failed;
        step = "write";
        if (write(fd, &byte, 1) != 1) goto failed;
        step = "read";
        ssize_t r = read(fd, &back, 1);
        if (r != 1 || back != byte) {
            if (r == 0) errno = 0;
            step = r == 1 ? "read (a different byte came back)" : "read (end of stream before the echo)";
            goto failed;
        }
        latencies[done++] = (long)((now() - start) * 1e6 + 0.5);
        close(fd);
        continue;
    failed:
        if (!errors++)
            snprintf(first_error, sizeof first_error, "connection %d: %s: %s", i, step, errno ? strerror(errno) : "");
        if (fd >= 0) close(fd);
    }
    errors += count - done - errors;  /* the deadline cut the loop short */
    printf("{\"connections\":%d,\"errors\":%d,\"first_error\":\"%s\",\"latencies_us\":[", count, errors, first_error);
    for (int i = 0; i < done; i++) printf("%s%ld", i ? "," : "", latencies[i]);
    printf("]}\n");
    fflush(stdout);
    return errors ? 1 : 0;
}

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    if (argc >= 3 && strcmp(argv[1], "echo") == 0) return echo(argv[2]);
    if (argc >= 4 && strcmp(argv[1], "loop") == 0) return loop(argv[2], atoi(argv[3]), argc > 4 ? atof(argv[4]) : 60);
    fprintf(stderr, "usage: conn_setup echo ADDR | conn_setup loop ADDR COUNT [TIMEOUT]\n");
    return 2;
}
