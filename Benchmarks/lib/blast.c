/*
 * blast: one end of a benchmark stream. Compiled at run time by Benchmarks/lib/endpoints.py.
 *
 *   blast listen  sink|source ADDR BYTES [TIMEOUT]   print "ready" once listening, take one connection
 *   blast connect sink|source ADDR BYTES [TIMEOUT]   connect (retrying a refused or missing target)
 *
 * ADDR is tcp:HOST:PORT or unix:PATH. A source writes BYTES of a pattern that is a function of the
 * stream offset, then closes; a sink reads exactly BYTES, checks every byte against the pattern,
 * then closes. Both print one JSON line: the bytes moved and CLOCK_MONOTONIC times (the clock is
 * system-wide, so the harness can take the source's start and the sink's end). Exit 0 when all
 * BYTES moved (and, for a sink, matched), 1 otherwise.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "socket_address.h"

#define CHUNK (1 << 20)

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fail(const char *role, unsigned long long moved, const char *what) {
    printf("{\"role\":\"%s\",\"ok\":false,\"bytes\":%llu,\"error\":\"%s: %s\"}\n", role, moved, what,
           errno ? strerror(errno) : "");
    fflush(stdout);
    exit(1);
}

/* The 8-byte word at stream offset o (a multiple of 8). */
static inline uint64_t pattern(uint64_t o) { return ((o >> 3) + 1) * 0x9E3779B97F4A7C15ULL ^ 0x5DEECE66DULL; }

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: blast listen|connect sink|source tcp:HOST:PORT|unix:PATH BYTES [TIMEOUT]\n");
        return 2;
    }
    const char *mode = argv[1], *role = argv[2], *addr = argv[3];
    unsigned long long total = strtoull(argv[4], NULL, 10);
    double timeout = argc > 5 ? atof(argv[5]) : 60.0;
    int sink = strcmp(role, "sink") == 0;
    signal(SIGPIPE, SIG_IGN);

    struct sockaddr_storage sa;
    socklen_t salen;
    int fd;
    if (strcmp(mode, "listen") == 0) {
        int lfd = make_socket(addr, &sa, &salen);
        if (lfd < 0) fail(role, 0, "socket");
        int one = 1;
        setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (sa.ss_family == AF_UNIX) unlink(((struct sockaddr_un *)&sa)->sun_path);
        if (bind(lfd, (struct sockaddr *)&sa, salen) != 0) fail(role, 0, "bind");
        if (listen(lfd, 8) != 0) fail(role, 0, "listen");
        printf("ready\n");
        fflush(stdout);
        alarm((unsigned)timeout + 1);
        fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) fail(role, 0, "accept");
        close(lfd);
        if (sa.ss_family == AF_UNIX) unlink(((struct sockaddr_un *)&sa)->sun_path);
    } else {
        double deadline = now() + timeout;
        alarm((unsigned)timeout + 1);
        for (;;) {
            fd = make_socket(addr, &sa, &salen);
            if (fd < 0) fail(role, 0, "socket");
            if (connect(fd, (struct sockaddr *)&sa, salen) == 0) break;
            int e = errno;
            close(fd);
            errno = e;
            if ((e != ECONNREFUSED && e != ENOENT) || now() > deadline) fail(role, 0, "connect");
            usleep(2000);
        }
    }

    static unsigned char buf[CHUNK];
    unsigned long long moved = 0;
    double start = now(), first = 0, end;
    if (!sink) {
        while (moved < total) {
            uint64_t *words = (uint64_t *)buf;
            for (size_t i = 0; i < CHUNK / 8; i++) words[i] = pattern(moved + 8 * i);
            size_t n = total - moved < CHUNK ? (size_t)(total - moved) : CHUNK, off = 0;
            while (off < n) {
                ssize_t w = write(fd, buf + off, n - off);
                if (w < 0 && errno == EINTR) continue;
                if (w <= 0) fail(role, moved + off, "write");
                off += (size_t)w;
            }
            moved += n;
        }
        end = now();
    } else {
        while (moved < total) {
            size_t want = total - moved < CHUNK ? (size_t)(total - moved) : CHUNK;
            ssize_t r = read(fd, buf, want);
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) fail(role, moved, "read");
            if (r == 0) { errno = 0; fail(role, moved, "end of stream before all bytes arrived"); }
            if (first == 0) first = now();
            size_t i = 0, n = (size_t)r;
            uint64_t o = moved;
            for (; i < n && (o & 7); i++, o++) {       /* head, byte by byte */
                uint64_t w = pattern(o & ~7ULL);
                if (buf[i] != ((unsigned char *)&w)[o & 7]) goto corrupt;
            }
            for (; i + 8 <= n; i += 8, o += 8) {         /* whole words */
                uint64_t w;
                memcpy(&w, buf + i, 8);
                if (w != pattern(o)) goto corrupt;
            }
            for (; i < n; i++, o++) {                    /* tail */
                uint64_t w = pattern(o & ~7ULL);
                if (buf[i] != ((unsigned char *)&w)[o & 7]) goto corrupt;
            }
            moved += n;
            continue;
        corrupt:
            errno = 0;
            fprintf(stderr, "blast: corrupt byte at stream offset %llu\n", (unsigned long long)o);
            fail(role, moved, "data differs from what was sent");
        }
        end = now();
    }
    close(fd);
    printf("{\"role\":\"%s\",\"ok\":true,\"bytes\":%llu,\"start\":%.6f,\"first\":%.6f,\"end\":%.6f}\n", role, moved,
           start, sink ? first : start, end);
    fflush(stdout);
    return 0;
}
