/*
 * flood: many idle pre-authentication TCP connections to an SSH port, for the preauth case
 * (Benchmarks/lib/preauth.py, which compiles it at run time).
 *
 *   flood HOST PORT COUNT [--ident] [--sources K] [--wave W] [--timeout SECONDS]
 *
 * 1. Opens COUNT TCP connections to HOST:PORT, non-blocking, at most W connecting at a time.
 *    With --ident each sends the SSH identification line ("SSH-2.0-flood\r\n") once connected;
 *    then it is silent: whatever the server sends (its identification, its KEXINIT) is read and
 *    dropped, nothing more is ever written. With --sources K > 1 the connections are spread over
 *    the source addresses 127.0.0.2 .. 127.0.0.(K+1) (each has its own 28k ephemeral ports);
 *    by default the kernel picks the source (127.0.0.1 towards a loopback server).
 * 2. Prints {"phase":"held",...}: connected, failed to connect (and the first reason), dropped by
 *    the server so far (end of stream or reset), still open, seconds taken; then keeps watching
 *    every connection for the server dropping it, until a line (or EOF) arrives on stdin.
 * 3. Prints {"phase":"done",...} with the same counts, closes everything and exits 0.
 *
 * The open files limit is raised to its hard limit; the harness sizes COUNT below it.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define STDIN_TAG UINT32_MAX

enum { UNUSED, CONNECTING, OPEN, DROPPED, FAILED };

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct {
    int count, ident, sources, wave;
    double timeout;
    struct sockaddr_in server;
} opt = {.sources = 1, .wave = 200, .timeout = 120};

static int *fds;
static unsigned char *state;
static int connecting, open_now, dropped, failed;
static char first_error[200];

static void fail(int index, const char *step, int error) {
    if (!failed++)
        snprintf(first_error, sizeof first_error, "connection %d: %s: %s", index, step, strerror(error));
    state[index] = FAILED;
}

static int start(int index, int epfd) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) { fail(index, "socket", errno); return -1; }
    if (opt.sources > 1) {
        int one = 1;
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        struct sockaddr_in source = {.sin_family = AF_INET,
                                     .sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)(index % opt.sources))};
        if (bind(fd, (struct sockaddr *)&source, sizeof source) != 0) {
            fail(index, "bind", errno);
            close(fd);
            return -1;
        }
    }
    fds[index] = fd;
    if (connect(fd, (struct sockaddr *)&opt.server, sizeof opt.server) != 0 && errno != EINPROGRESS) {
        fail(index, "connect", errno);
        close(fd);
        fds[index] = -1;
        return -1;
    }
    state[index] = CONNECTING;
    connecting++;
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP, .data.u32 = (uint32_t)index};
    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
    return 0;
}

static void handle(int index, uint32_t events, int epfd) {
    int fd = fds[index];
    if (state[index] == CONNECTING) {
        int error = 0;
        socklen_t len = sizeof error;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len);
        if (error || (events & EPOLLERR)) {
            connecting--;
            fail(index, "connect", error ? error : ECONNRESET);
            epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
            close(fd);
            fds[index] = -1;
            return;
        }
        if (!(events & EPOLLOUT)) return;
        connecting--;
        state[index] = OPEN;
        open_now++;
        if (opt.ident) {
            static const char line[] = "SSH-2.0-flood\r\n";
            if (write(fd, line, sizeof line - 1) < 0) { /* a reset shows up as a drop below */ }
        }
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u32 = (uint32_t)index};
        epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev);
    }
    if (state[index] != OPEN || !(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) return;
    char buf[4096];
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r > 0) continue;  /* the server's identification and KEXINIT: read and dropped */
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
        break;  /* end of stream or an error: the server dropped it */
    }
    state[index] = DROPPED;
    open_now--;
    dropped++;
    epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
    fds[index] = -1;
}

static void report(const char *phase, double seconds, int attempted) {
    for (char *c = first_error; *c; c++)
        if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20) *c = '\'';
    printf("{\"phase\":\"%s\",\"seconds\":%.3f,\"connections\":%d,\"attempted\":%d,\"connected\":%d,"
           "\"open\":%d,\"dropped\":%d,\"failed\":%d,\"connecting\":%d,\"first_error\":\"%s\"}\n",
           phase, seconds, opt.count, attempted, open_now + dropped, open_now, dropped, failed, connecting,
           first_error);
    fflush(stdout);
}

static void usage(void) {
    fprintf(stderr, "usage: flood HOST PORT COUNT [--ident] [--sources K] [--wave W] [--timeout SECONDS]\n");
    exit(2);
}

int main(int argc, char **argv) {
    if (argc < 4) usage();
    opt.server.sin_family = AF_INET;
    opt.server.sin_port = htons((uint16_t)atoi(argv[2]));
    if (inet_pton(AF_INET, argv[1], &opt.server.sin_addr) != 1) usage();
    opt.count = atoi(argv[3]);
    for (int i = 4; i < argc; i++) {
        if (!strcmp(argv[i], "--ident")) opt.ident = 1;
        else if (i + 1 < argc && !strcmp(argv[i], "--sources")) opt.sources = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--wave")) opt.wave = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--timeout")) opt.timeout = atof(argv[++i]);
        else usage();
    }
    if (opt.count <= 0 || opt.sources < 1 || opt.wave < 1) usage();
    signal(SIGPIPE, SIG_IGN);
    struct rlimit nofile;
    getrlimit(RLIMIT_NOFILE, &nofile);
    nofile.rlim_cur = nofile.rlim_max;
    setrlimit(RLIMIT_NOFILE, &nofile);

    fds = malloc(sizeof *fds * (size_t)opt.count);
    state = calloc((size_t)opt.count, 1);
    for (int i = 0; i < opt.count; i++) fds[i] = -1;
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    double started = now(), deadline = started + opt.timeout;
    struct epoll_event events[512];

    /* 1. connect them all */
    int next = 0;
    while ((next < opt.count || connecting > 0) && now() < deadline) {
        while (next < opt.count && connecting < opt.wave) start(next++, epfd);
        int n = epoll_wait(epfd, events, 512, 100);
        for (int i = 0; i < n; i++) handle((int)events[i].data.u32, events[i].events, epfd);
    }
    for (int i = 0; i < opt.count; i++)
        if (state[i] == CONNECTING) {
            connecting--;
            fail(i, "connect", ETIMEDOUT);
            epoll_ctl(epfd, EPOLL_CTL_DEL, fds[i], NULL);
            close(fds[i]);
            fds[i] = -1;
        }
    report("held", now() - started, next);

    /* 2. hold, counting what the server drops, until the harness says so */
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = STDIN_TAG};
    int watch_stdin = epoll_ctl(epfd, EPOLL_CTL_ADD, STDIN_FILENO, &ev) == 0;
    double held_at = now();
    for (int done = 0; !done;) {
        int n = epoll_wait(epfd, events, 512, watch_stdin ? -1 : 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        for (int i = 0; i < n; i++) {
            if (events[i].data.u32 == STDIN_TAG) done = 1;
            else handle((int)events[i].data.u32, events[i].events, epfd);
        }
    }

    /* 3. close */
    report("done", now() - held_at, next);
    for (int i = 0; i < opt.count; i++)
        if (fds[i] >= 0) close(fds[i]);
    close(epfd);
    return 0;
}
